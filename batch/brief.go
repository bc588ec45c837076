package batch

// Brief reasons: the few words of a decline that a person reads in a batch summary. The passes'
// reasons are written for one model at a time (`fcconv convert`, `inspect`, the report): they name
// the values and nodes, give shapes, and follow an FC's input back through every op it comes
// through. Across hundreds of models that is a wall of text, and the names keep models sharing an
// architecture from being seen as sharing a reason. The brief form keeps what the reason says and
// the flag it suggests, and drops the names, shapes and asides, so equal causes read equal.

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/fcconv/fcconv/rewrite"
)

var (
	// carriedPrefix is one link of a carried-op chain: `input "x" comes through Sub node "/ln/Sub"; `.
	carriedPrefix  = regexp.MustCompile(`^input "[^"]*" comes through [A-Za-z0-9_.]+ node (?:producing )?"[^"]*"; `)
	innermostAside = regexp.MustCompile(`\s*\([^()]*\)`)
	quotedName     = regexp.MustCompile(`\s*"[^"]*"`)
	bracketedShape = regexp.MustCompile(`\s*\[[^\[\]]*\]:?`) // with the colon that introduced what the shape is
	suggestedFlag  = regexp.MustCompile(`--[a-z][a-z-]*(?: all| heads| [A-Za-z0-9_./:-]+=\S*)?`)
	spaceRun       = regexp.MustCompile(`\s+`)
)

// briefWords is about the longest a brief reason runs before it is cut at a clause.
const briefWords = 50

// briefReason turns a decline reason into a few words and, when the reason suggests a flag, a hint:
// `input "x" comes from Flatten "f" of a 3-D tensor [1 4 8], not an NxCxHxW map; use --scope all to
// convert it` becomes `input comes from Flatten of a 3-D tensor; try --scope all`.
func briefReason(reason string) string {
	r := firstLine(reason)
	for carriedPrefix.MatchString(r) {
		r = carriedPrefix.ReplaceAllString(r, "")
	}
	for innermostAside.MatchString(r) {
		r = innermostAside.ReplaceAllString(r, "")
	}
	clauses := strings.Split(r, "; ")
	brief := briefClause(clauses[0])
	for _, c := range clauses {
		if flag := suggestedFlag.FindString(c); flag != "" {
			return brief + "; try " + flag
		}
	}
	return brief
}

// briefClause drops the names and shapes of one clause and cuts it at its first comma, or at its
// first colon when it is still long.
func briefClause(c string) string {
	c = quotedName.ReplaceAllString(c, "")
	c = bracketedShape.ReplaceAllString(c, "")
	c = strings.TrimSpace(spaceRun.ReplaceAllString(c, " "))
	c = strings.ReplaceAll(c, " :", ":")
	c, _, _ = strings.Cut(c, ", ")
	if len(c) > briefWords {
		if head, _, ok := strings.Cut(c, ": "); ok && len(head) >= len("not a constant") {
			c = head
		}
	}
	return strings.TrimSuffix(c, ":")
}

// declineBrief is what a declined model's summary line says: which pass declined first, how many
// layers it left, and why it left the first one. The count and the reason come apart, so that
// models with the same reason can be grouped.
func declineBrief(rep *rewrite.Report) (pass string, left int, reason string) {
	if rep == nil || len(rep.Declined) == 0 {
		return "", 0, "declined"
	}
	first := rep.Declined[0]
	nodes := map[string]bool{}
	for _, d := range rep.Declined {
		if d.Pass == first.Pass {
			nodes[d.Node] = true
		}
	}
	return first.Pass, len(nodes), briefReason(first.Reason)
}

// layersLeft is e.g. "3 FCs left", "1 conv left" or "2 to 5 FCs left", after the kind of layer the
// pass rewrites.
func layersLeft(pass string, least, most int) string {
	noun := "layer"
	switch pass {
	case "fc-to-conv":
		noun = "FC"
	case "bottleneck":
		noun = "conv"
	}
	if most != 1 {
		noun += "s"
	}
	if least != most {
		return fmt.Sprintf("%d to %d %s left", least, most, noun)
	}
	return fmt.Sprintf("%d %s left", most, noun)
}
