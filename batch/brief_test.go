package batch

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/rewrite"
)

func TestBriefReasonKeepsTheCauseAndTheHint(t *testing.T) {
	for _, c := range []struct{ reason, want string }{
		{`input "/layernorm1/Sub_output_0" comes through Sub node "/layernorm1/Sub"; input "/layernorm1/ReduceMean_output_0" comes through ReduceMean node "/layernorm1/ReduceMean"; ` +
			`input "/flatten/Flatten_output_0" comes from Flatten "/flatten/Flatten" of a 3-D tensor [1 64 10], not an NxCxHxW map; use --scope all to convert it`,
			"input comes from Flatten of a 3-D tensor; try --scope all"},
		{`input "x" is [1 4 8]: 3-D activations (a graph input), not a flattened feature map; use --scope all to convert it (Transpose/Unsqueeze around a 1x1 Conv)`,
			"input is 3-D activations; try --scope all"},
		{`weight "w" is not a constant: "w" is a graph input, fed at run time`, "weight is not a constant: is a graph input"},
		{`input "f" comes from Gemm node "fc1", which was not converted`, "input comes from Gemm node"},
		{`inside an If branch (If node "cond"): not handled yet; fc-to-conv converts FCs of the main graph only`, "inside an If branch: not handled yet"},
		{`input "input" has an unnamed unknown dim at axis 0; give the shape with --shape input=...`,
			"input has an unnamed unknown dim at axis 0; try --shape input=..."},
		{"first line\nsecond line", "first line"},
	} {
		if got := briefReason(c.reason); got != c.want {
			t.Errorf("briefReason(%q)\n = %q\nwant %q", c.reason, got, c.want)
		}
	}
}

func TestSummaryLinesAreCutToTheWidth(t *testing.T) {
	long := strings.Repeat("x", 200)
	s := newSummary([]*Record{
		{Path: "a/model.onnx", Outcome: Failed, Reason: long + "\nstack", Result: &convert.Result{}},
		{Path: "b/model.onnx", Outcome: Declined, Result: &convert.Result{Rewrites: &rewrite.Report{Declined: []rewrite.Decline{
			{Pass: "bottleneck", Node: "conv1", Reason: long}, {Pass: "bottleneck", Node: "conv2", Reason: "other"}}}}},
	}, 0, 1)
	var buf bytes.Buffer
	s.WriteWidth(&buf, 40)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		"failed:",
		"  a/model.onnx: xxxxxxxxxxxxxxxxxxxxx...",
		"declined (every reason in full: the -...",
		"  b/model.onnx: 2 convs left: xxxxxxx...",
	}
	if got := strings.Join(lines[3:], "\n"); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	buf.Reset()
	s.WriteWidth(&buf, 0)
	if !strings.Contains(buf.String(), long) || strings.Contains(buf.String(), "stack") {
		t.Errorf("width 0 should keep the first line whole:\n%s", buf.String())
	}
}
