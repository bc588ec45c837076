package batch

// Per-model flags (--model-flags FILE): lines of `GLOB FLAGS...` tune some models of a batch
// without splitting it. This file reads the lines and matches the globs; the command line parses
// the flags, with the same definitions as its own.

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/fcconv/fcconv/convert"
)

// FlagLine is one line of a --model-flags file.
type FlagLine struct {
	// Line is the line's number in the file, from 1, for errors.
	Line int
	// Glob is matched against a model's slash-separated path relative to its batch folder (Job.Rel).
	Glob string
	// Args are the flags, split at white space, e.g. ["--shape", "input=1,512"].
	Args []string
}

// ReadModelFlags reads the lines of a --model-flags file; blank lines and lines starting with #
// are left out. A glob that path.Match refuses, or a line without flags, is an error.
func ReadModelFlags(r io.Reader) ([]FlagLine, error) {
	var lines []FlagLine
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) == 1 {
			return nil, fmt.Errorf("line %d: %q has no flags; write GLOB FLAGS..., e.g. silero*/model.onnx --shape input=1,512", n, fields[0])
		}
		if _, err := path.Match(strings.ReplaceAll(fields[0], "**", "*"), ""); err != nil {
			return nil, fmt.Errorf("line %d: bad glob %q: %v", n, fields[0], err)
		}
		lines = append(lines, FlagLine{Line: n, Glob: fields[0], Args: fields[1:]})
	}
	return lines, sc.Err()
}

// MatchGlob reports whether a slash-separated relative path matches a glob: `*` and `?` match within
// one path element (as path.Match), `**` as a whole element matches any number of elements, none
// included (`**/model.onnx` matches `model.onnx` and `a/b/model.onnx`).
func MatchGlob(glob, rel string) bool {
	return matchElems(strings.Split(glob, "/"), strings.Split(rel, "/"))
}

func matchElems(glob, elems []string) bool {
	for len(glob) > 0 {
		if glob[0] == "**" {
			for skip := 0; skip <= len(elems); skip++ {
				if matchElems(glob[1:], elems[skip:]) {
					return true
				}
			}
			return false
		}
		if len(elems) == 0 {
			return false
		}
		if ok, err := path.Match(glob[0], elems[0]); err != nil || !ok {
			return false
		}
		glob, elems = glob[1:], elems[1:]
	}
	return len(elems) == 0
}

// suggestedShape is the engine's advice for an input it cannot size: `--shape x=d1,d2,...` or
// `--dim N=...`.
var suggestedShape = regexp.MustCompile(`--(?:shape|dim) [^\s;()]+`)

// modelFlagsAdvice turns the advice for a model that failed for want of input shapes into the
// --model-flags line that would fix it: `--shape input=...` on the command line would apply to
// every model of the batch, which a batch user cannot follow for one model among hundreds. A model
// verified with its own test data got its shapes from it, so it gets no advice.
func modelFlagsAdvice(rel string, res *convert.Result, ownTestData bool, file string) string {
	if ownTestData || res == nil {
		return ""
	}
	if file == "" {
		file = "FILE"
	}
	if flag := suggestedShape.FindString(res.Error); flag != "" {
		return fmt.Sprintf("; it has no test_data_set_0 to take shapes from: for this model alone, add the line %q to --model-flags %s",
			rel+" "+flag, file)
	}
	if len(res.AssumedDims) > 0 {
		var dims []string
		for _, d := range res.AssumedDims {
			dims = append(dims, "--dim "+d+"=N")
		}
		return fmt.Sprintf("; it has no test_data_set_0 and its symbolic dims %s were taken as 1: if that is why, add the line %q to --model-flags %s",
			strings.Join(res.AssumedDims, ", "), rel+" "+strings.Join(dims, " "), file)
	}
	return ""
}
