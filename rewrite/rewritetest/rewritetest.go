// Package rewritetest runs a rewrite pass on a fixture model and checks what it did against what
// the test expects, in the manner of golang.org/x/tools/go/analysis/analysistest: every expected
// rewrite and decline must happen, and nothing else may. A fixture is a model (built in the test
// or loaded from testdata) and a Want.
package rewritetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/rewrite"
)

// Want is what a pass is expected to do to a fixture.
type Want struct {
	// Applied lists, in order, the first replaced node of each rewrite.
	Applied []string
	// Declined maps each node the pass must leave alone to a substring of its reason. A node may
	// be declined more than once (fc-to-conv's spatial step adds a reason to a converted head): it
	// is enough that one reason matches.
	Declined map[string]string
}

// Run runs the step on m and reports every difference from want as a test error. It returns the
// outcome for further checks (the rewritten graph is m itself).
func Run(t testing.TB, m *graph.Model, step rewrite.Step, in rewrite.Input, want Want) *rewrite.Outcome {
	t.Helper()
	out, err := rewrite.Run(m, []rewrite.Step{step}, in)
	if err != nil {
		t.Fatalf("%s: %v", step.Pass.Name, err)
	}
	for _, problem := range Diff(out.Report, want) {
		t.Error(problem)
	}
	return out
}

// Diff lists the differences between a report and what was wanted, one line each.
func Diff(r *rewrite.Report, want Want) []string {
	var problems []string
	var applied []string
	for _, a := range r.Applied {
		if len(a.Replaced) > 0 {
			applied = append(applied, a.Replaced[0])
		}
	}
	if !slices.Equal(applied, want.Applied) {
		problems = append(problems, fmt.Sprintf("rewrote %q, want %q", applied, want.Applied))
	}
	reasons := map[string][]string{}
	for _, d := range r.Declined {
		reasons[d.Node] = append(reasons[d.Node], d.Reason)
	}
	for node, substr := range want.Declined {
		got, ok := reasons[node]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s was not declined; want a reason saying %q", node, substr))
			continue
		}
		if !slices.ContainsFunc(got, func(reason string) bool { return strings.Contains(reason, substr) }) {
			problems = append(problems, fmt.Sprintf("%s declined with %q; want a reason saying %q", node, got, substr))
		}
	}
	for node, got := range reasons {
		if _, expected := want.Declined[node]; !expected {
			problems = append(problems, fmt.Sprintf("unexpected decline of %s: %q", node, got))
		}
	}
	slices.Sort(problems)
	return problems
}
