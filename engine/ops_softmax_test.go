package engine

import (
	"math"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// softmaxRef normalizes x (row-major, [outer, r, inner]) along r in float64.
func softmaxRef(x []float32, outer, r, inner int, logOutput bool) []float64 {
	out := make([]float64, len(x))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			at := func(k int) int { return (o*r+k)*inner + i }
			m := math.Inf(-1)
			for k := 0; k < r; k++ {
				m = math.Max(m, float64(x[at(k)]))
			}
			sum := 0.0
			for k := 0; k < r; k++ {
				sum += math.Exp(float64(x[at(k)]) - m)
			}
			for k := 0; k < r; k++ {
				if logOutput {
					out[at(k)] = float64(x[at(k)]) - m - math.Log(sum)
				} else {
					out[at(k)] = math.Exp(float64(x[at(k)])-m) / sum
				}
			}
		}
	}
	return out
}

func TestSoftmaxOpsetSemantics(t *testing.T) {
	x := randomFloats(7, 2, 3, 4)
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		logOutput := op == "LogSoftmax"
		// Before opset 13, axis 1 (the default) coerces to [2, 12]: each row of 12 sums to 1.
		got := nodeRun{opset: 11, op: op, inputs: []*tensor.Tensor{x}}.mustRun(t)
		expectValues(t, op+"-11 default axis", got, []int{2, 3, 4}, softmaxRef(x.F32, 2, 12, 1, logOutput))
		got = nodeRun{opset: 11, op: op, inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 0)}}.mustRun(t)
		expectValues(t, op+"-11 axis 0", got, []int{2, 3, 4}, softmaxRef(x.F32, 1, 24, 1, logOutput))
		// From opset 13, the default is the last axis alone.
		got = nodeRun{opset: 13, op: op, inputs: []*tensor.Tensor{x}}.mustRun(t)
		expectValues(t, op+"-13 default axis", got, []int{2, 3, 4}, softmaxRef(x.F32, 6, 4, 1, logOutput))
		// A middle axis normalizes across strided elements.
		got = nodeRun{opset: 13, op: op, inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1)}}.mustRun(t)
		expectValues(t, op+"-13 axis 1", got, []int{2, 3, 4}, softmaxRef(x.F32, 2, 3, 4, logOutput))
	}
}

func TestSoftmaxLargeValues(t *testing.T) {
	x := floats([]int{1, 3}, 1000, 1001, 1002)
	got := nodeRun{opset: 13, op: "Softmax", inputs: []*tensor.Tensor{x}}.mustRun(t)
	expectValues(t, "Softmax large", got, []int{1, 3}, softmaxRef(x.F32, 1, 3, 1, false))
}
