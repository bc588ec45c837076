package batch

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fcconv/fcconv/internal/units"
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

// Write prints the table of counts, the MAC totals and time, and a line for each model that did
// not convert cleanly, with the reason.
func (s *Summary) Write(w io.Writer) {
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
	for _, o := range []Outcome{Failed, NotEquivalent, Declined} {
		s.writeReasons(w, o)
	}
}

func (s *Summary) writeReasons(w io.Writer, o Outcome) {
	if s.Counts[o] == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", o)
	for _, r := range s.Records {
		if r.Outcome == o {
			fmt.Fprintf(w, "  %s: %s\n", r.Path, firstLine(r.Reason))
		}
	}
}

// firstLine keeps a reason to one line (a panic's stack under FCCONV_DEBUG goes to the report only).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
