package batch

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fcconv/fcconv/internal/units"
	"github.com/fcconv/fcconv/rewrite"
)

// Summary is the outcome of a whole batch.
type Summary struct {
	// Records are one per model, in list order.
	Records []*Record
	Counts  map[Outcome]int
	// MACsBefore and MACsAfter are totals over the models written to the output folder (converted,
	// unchanged, declined); skipped models are not loaded, so not counted.
	MACsBefore, MACsAfter int64
	Wall                  time.Duration
	Jobs                  int
}

func newSummary(records []*Record, wall time.Duration, jobs int) *Summary {
	s := &Summary{Records: records, Counts: map[Outcome]int{}, Wall: wall, Jobs: jobs}
	for _, r := range records {
		s.Counts[r.Outcome]++
		switch r.Outcome {
		case Converted, Unchanged, Declined, WouldConvert:
			s.MACsBefore += r.MACsBefore
			s.MACsAfter += r.MACsAfter
		}
	}
	return s
}

// Bad reports whether some model failed or was not equivalent (exit code 1).
func (s *Summary) Bad() bool {
	return s.Counts[Failed]+s.Counts[NotEquivalent] > 0
}

// Write prints the summary on w, its lines cut to the terminal's width when w is a terminal.
func (s *Summary) Write(w io.Writer) {
	width := 0
	if isTerminal(w) {
		width = terminalWidth(w)
	}
	s.WriteWidth(w, width)
}

// WriteWidth prints the table of counts, the MAC totals and time, then at most one line for each
// model that did not convert: a failed or not-equivalent model's line says why (the error's first
// line), and declined models are grouped by their brief reason (see briefReason), since models of one
// architecture decline for one reason. Lines longer than width are cut (0: never); the report
// and `fcconv inspect` keep the reasons in full.
func (s *Summary) WriteWidth(w io.Writer, width int) {
	cols := []Outcome{Converted, Unchanged, Declined, NotEquivalent, Failed, Skipped}
	if s.Counts[WouldConvert] > 0 {
		cols = append([]Outcome{WouldConvert}, cols...)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head, counts := []string{"models"}, []string{strconv.Itoa(len(s.Records))}
	for _, c := range cols {
		head = append(head, string(c))
		counts = append(counts, strconv.Itoa(s.Counts[c]))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	fmt.Fprintln(tw, strings.Join(counts, "\t")+"\t")
	tw.Flush()
	fmt.Fprintf(w, "MACs %s -> %s (models written); %s wall with -j %d\n",
		units.Count(s.MACsBefore), units.Count(s.MACsAfter), s.Wall.Round(10*time.Millisecond), s.Jobs)
	lw := &lineWriter{w: w, width: width}
	for _, o := range []Outcome{Failed, NotEquivalent} {
		s.writeReasons(lw, o)
	}
	s.writeDeclined(lw)
}

func (s *Summary) writeReasons(w *lineWriter, o Outcome) {
	if s.Counts[o] == 0 {
		return
	}
	w.line(fmt.Sprintf("%s:", o))
	for _, r := range s.Records {
		if r.Outcome == o {
			w.line(fmt.Sprintf("  %s: %s", r.Path, firstLine(r.Reason)))
		}
	}
}

// namesShown is how many models a group of declined models names before "and N more".
const namesShown = 3

// declineGroup is the declined models that share a brief reason.
type declineGroup struct {
	pass, reason string
	paths        []string
	least, most  int // layers left
}

// writeDeclined prints a line per brief reason: the model's path and what it left when one model
// gives it, else the count and the first few paths.
func (s *Summary) writeDeclined(w *lineWriter) {
	if s.Counts[Declined] == 0 {
		return
	}
	var groups []*declineGroup
	byReason := map[string]*declineGroup{}
	for _, r := range s.Records {
		if r.Outcome != Declined {
			continue
		}
		var rep *rewrite.Report
		if r.Result != nil {
			rep = r.Rewrites
		}
		pass, left, reason := declineBrief(rep)
		key := pass + "\x00" + reason
		g := byReason[key]
		if g == nil {
			g = &declineGroup{pass: pass, reason: reason, least: left, most: left}
			byReason[key] = g
			groups = append(groups, g)
		}
		g.paths = append(g.paths, r.Path)
		g.least, g.most = min(g.least, left), max(g.most, left)
	}
	w.line("declined (every reason in full: the --report file, or fcconv inspect MODEL):")
	for _, g := range groups {
		left := layersLeft(g.pass, g.least, g.most)
		if len(g.paths) == 1 {
			w.line(fmt.Sprintf("  %s: %s: %s", g.paths[0], left, g.reason))
			continue
		}
		names := strings.Join(g.paths[:min(namesShown, len(g.paths))], ", ")
		if more := len(g.paths) - namesShown; more > 0 {
			names += fmt.Sprintf(" and %d more", more)
		}
		w.line(fmt.Sprintf("  %d models (%s): %s each: %s", len(g.paths), names, left, g.reason))
	}
}

// lineWriter writes lines cut to a width (0: as they are).
type lineWriter struct {
	w     io.Writer
	width int
}

func (lw *lineWriter) line(s string) {
	fmt.Fprintln(lw.w, cutToWidth(s, lw.width))
}

// cutToWidth shortens s to width characters, ending in "..." when cut; width 0 leaves s whole.
func cutToWidth(s string, width int) string {
	const ellipsis = "..."
	r := []rune(s)
	if width <= 0 || len(r) <= width {
		return s
	}
	if width <= len(ellipsis) {
		return string(r[:width])
	}
	return string(r[:width-len(ellipsis)]) + ellipsis
}

// firstLine keeps a reason to one line (a panic's stack under FCCONV_DEBUG goes to the report only).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
