package engine

import (
	"math"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

func TestReductions(t *testing.T) {
	x := iota32(2, 3, 4)
	cases := []struct {
		op    string
		opset int64
		in    []*tensor.Tensor
		attrs []*onnxpb.AttributeProto
		shape []int
		want  []float64
	}{
		{"ReduceSum", 13, []*tensor.Tensor{x, ints(0, 2)}, nil, []int{1, 3, 1}, seq(60, 92, 124)},
		{"ReduceSum", 11, []*tensor.Tensor{x}, []*onnxpb.AttributeProto{graph.IntsAttr("axes", 1), graph.IntAttr("keepdims", 0)}, []int{2, 4}, seq(12, 15, 18, 21, 48, 51, 54, 57)},
		{"ReduceMean", 13, []*tensor.Tensor{x}, []*onnxpb.AttributeProto{graph.IntsAttr("axes", -1, -2)}, []int{2, 1, 1}, seq(5.5, 17.5)},
		{"ReduceMean", 18, []*tensor.Tensor{x, ints(1)}, nil, []int{2, 1, 4}, seq(4, 5, 6, 7, 16, 17, 18, 19)},
		{"ReduceMax", 13, []*tensor.Tensor{x}, []*onnxpb.AttributeProto{graph.IntAttr("keepdims", 0)}, []int{}, seq(23)},
		{"ReduceMin", 13, []*tensor.Tensor{x}, []*onnxpb.AttributeProto{graph.IntsAttr("axes", 0)}, []int{1, 3, 4}, seq(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)},
		{"ReduceProd", 13, []*tensor.Tensor{ints(2, 3, 4)}, []*onnxpb.AttributeProto{graph.IntAttr("keepdims", 0)}, []int{}, seq(24)},
		// An empty axes input reduces everything, unless noop_with_empty_axes is set.
		{"ReduceSum", 13, []*tensor.Tensor{x, ints()}, nil, []int{1, 1, 1}, seq(276)},
	}
	for _, c := range cases {
		consts := []int{}
		if len(c.in) > 1 {
			consts = []int{1}
		}
		got := nodeRun{opset: c.opset, op: c.op, inputs: c.in, consts: consts, attrs: c.attrs}.mustRun(t)
		expectValues(t, c.op, got, c.shape, c.want)
	}
	got := nodeRun{opset: 13, op: "ReduceSum", inputs: []*tensor.Tensor{x, ints()}, consts: []int{1}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("noop_with_empty_axes", 1)}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{2, 3, 4}) || got.F32[5] != 5 {
		t.Errorf("noop ReduceSum: %v", got.Shape)
	}
}

func TestReduceLargeMatchesFloat64(t *testing.T) {
	x := randomFloats(9, 8, 300, 70)
	got := nodeRun{opset: 13, op: "ReduceMean", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntsAttr("axes", 1)}}.mustRun(t)
	want := make([]float64, 8*70)
	for o := 0; o < 8; o++ {
		for i := 0; i < 70; i++ {
			s := 0.0
			for k := 0; k < 300; k++ {
				s += float64(x.F32[(o*300+k)*70+i])
			}
			want[o*70+i] = s / 300
		}
	}
	for i, w := range want {
		if math.Abs(got.At(i)-w) > 1e-5 {
			t.Fatalf("[%d] = %v, want %v", i, got.At(i), w)
		}
	}
}
