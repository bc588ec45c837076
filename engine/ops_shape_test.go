package engine

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// iota32 is 0, 1, 2... as a float32 tensor of the given shape.
func iota32(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(i)
	}
	return t
}

func seq(vals ...float64) []float64 { return vals }

func TestReshapeZeroAndInfer(t *testing.T) {
	x := iota32(2, 3, 4)
	cases := []struct {
		target    []int64
		allowZero int64
		want      []int
	}{
		{[]int64{0, -1}, 0, []int{2, 12}},
		{[]int64{-1, 0, 2}, 0, []int{4, 3, 2}},
		{[]int64{0, 0, 0}, 0, []int{2, 3, 4}},
		{[]int64{4, -1}, 0, []int{4, 6}},
		{[]int64{24}, 1, []int{24}},
	}
	for _, c := range cases {
		got := nodeRun{opset: 14, op: "Reshape", inputs: []*tensor.Tensor{x, ints(c.target...)}, consts: []int{1},
			attrs: []*onnxpb.AttributeProto{graph.IntAttr("allowzero", c.allowZero)}}.mustRun(t)
		if !tensor.SameShape(got.Shape, c.want) || got.F32[23] != 23 {
			t.Errorf("Reshape %v: shape %v, want %v", c.target, got.Shape, c.want)
		}
	}
	// allowzero=1 makes 0 a real 0, which cannot hold 24 elements.
	if _, err := (nodeRun{opset: 14, op: "Reshape", inputs: []*tensor.Tensor{x, ints(0, -1)}, consts: []int{1},
		attrs: []*onnxpb.AttributeProto{graph.IntAttr("allowzero", 1)}}).run(); err == nil {
		t.Error("Reshape with allowzero=1 and target [0,-1] of 24 elements should fail")
	}
	for _, bad := range [][]int64{{-1, -1}, {5, -1}, {7}} {
		if _, err := (nodeRun{opset: 14, op: "Reshape", inputs: []*tensor.Tensor{x, ints(bad...)}, consts: []int{1}}).run(); err == nil {
			t.Errorf("Reshape to %v should fail", bad)
		}
	}
	// Opset 1-4: shape attribute.
	got := nodeRun{opset: 4, op: "Reshape", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntsAttr("shape", 0, -1)}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{2, 12}) {
		t.Errorf("Reshape-4: shape %v", got.Shape)
	}
}

func TestRuntimeShapeInputIsAClearError(t *testing.T) {
	x := iota32(2, 3)
	_, err := nodeRun{opset: 14, op: "Reshape", inputs: []*tensor.Tensor{x, ints(3, 2)}}.run() // shape is a graph input
	if err == nil || !strings.Contains(err.Error(), "the shape input of Reshape is computed at run time from data; fcconv's engine needs shapes known at compile time") {
		t.Errorf("got %v", err)
	}
}

func TestSliceStepsAndClamping(t *testing.T) {
	x := iota32(5, 4)
	cases := []struct {
		starts, ends, axes, steps []int64
		shape                     []int
		want                      []float64
	}{
		// rows 4, 2 (backwards), all columns reversed.
		{[]int64{-1, 1 << 40}, []int64{0, -1 << 40}, []int64{0, 1}, []int64{-2, -1}, []int{2, 4},
			seq(19, 18, 17, 16, 11, 10, 9, 8)},
		// out-of-range ends clamp.
		{[]int64{3}, []int64{100}, []int64{0}, nil, []int{2, 4}, seq(12, 13, 14, 15, 16, 17, 18, 19)},
		// start beyond the end: empty.
		{[]int64{10}, []int64{20}, []int64{1}, nil, []int{5, 0}, nil},
		// negative axis, step 3.
		{[]int64{0}, []int64{4}, []int64{-1}, []int64{3}, []int{5, 2}, seq(0, 3, 4, 7, 8, 11, 12, 15, 16, 19)},
		// backwards to the very start (end -1 << 62 clamps to "before 0").
		{[]int64{2}, []int64{-1 << 62}, []int64{0}, []int64{-1}, []int{3, 4}, seq(8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)},
	}
	for i, c := range cases {
		in := []*tensor.Tensor{x, ints(c.starts...), ints(c.ends...), ints(c.axes...)}
		consts := []int{1, 2, 3}
		if c.steps != nil {
			in = append(in, ints(c.steps...))
			consts = append(consts, 4)
		}
		got := nodeRun{opset: 13, op: "Slice", inputs: in, consts: consts}.mustRun(t)
		expectValues(t, fmt.Sprintf("Slice case %d", i), got, c.shape, c.want)
	}
	// Opset 1-9: attributes, no steps.
	got := nodeRun{opset: 9, op: "Slice", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{
		graph.IntsAttr("starts", 1, 1), graph.IntsAttr("ends", 3, 1000)}}.mustRun(t)
	expectValues(t, "Slice-9", got, []int{2, 3}, seq(5, 6, 7, 9, 10, 11))
}

func TestTransposeMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	shapes := [][]int{{2, 3}, {2, 3, 4}, {1, 3, 1, 5}, {2, 3, 4, 5}, {4, 1, 6, 2, 3}, {64, 33, 40}}
	for _, shape := range shapes {
		x := iota32(shape...)
		for trial := 0; trial < 4; trial++ {
			perm := r.Perm(len(shape))
			p64 := make([]int64, len(perm))
			for i, p := range perm {
				p64[i] = int64(p)
			}
			got := nodeRun{opset: 13, op: "Transpose", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntsAttr("perm", p64...)}}.mustRun(t)
			outShape := make([]int, len(perm))
			for i, p := range perm {
				outShape[i] = shape[p]
			}
			want := make([]float64, x.Len())
			idx := make([]int, len(shape))
			inStrides := contiguousStrides(shape)
			for i := range want {
				rem := i
				for d := len(outShape) - 1; d >= 0; d-- {
					idx[d] = rem % outShape[d]
					rem /= outShape[d]
				}
				src := 0
				for d, p := range perm {
					src += idx[d] * inStrides[p]
				}
				want[i] = float64(src)
			}
			expectValues(t, fmt.Sprintf("Transpose %v perm %v", shape, perm), got, outShape, want)
		}
	}
	got := nodeRun{opset: 13, op: "Transpose", inputs: []*tensor.Tensor{iota32(2, 3)}}.mustRun(t) // default: reverse
	expectValues(t, "Transpose default", got, []int{3, 2}, seq(0, 3, 1, 4, 2, 5))
}

func TestSplitAcrossOpsets(t *testing.T) {
	x := iota32(2, 5)
	check := func(what string, outs []*tensor.Tensor, widths ...int) {
		t.Helper()
		at := 0
		for i, w := range widths {
			want := []float64{}
			for r := 0; r < 2; r++ {
				for c := at; c < at+w; c++ {
					want = append(want, float64(r*5+c))
				}
			}
			expectValues(t, fmt.Sprintf("%s output %d", what, i), outs[i], []int{2, w}, want)
			at += w
		}
	}
	outs, err := nodeRun{opset: 11, op: "Split", inputs: []*tensor.Tensor{x}, nOut: 2, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1), graph.IntsAttr("split", 2, 3)}}.run()
	if err != nil {
		t.Fatal(err)
	}
	check("Split-11 attribute", outs, 2, 3)
	outs, err = nodeRun{opset: 13, op: "Split", inputs: []*tensor.Tensor{x, ints(4, 1)}, consts: []int{1}, nOut: 2, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", -1)}}.run()
	if err != nil {
		t.Fatal(err)
	}
	check("Split-13 input", outs, 4, 1)
	outs, err = nodeRun{opset: 18, op: "Split", inputs: []*tensor.Tensor{x}, nOut: 3, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1), graph.IntAttr("num_outputs", 3)}}.run()
	if err != nil {
		t.Fatal(err)
	}
	check("Split-18 num_outputs", outs, 2, 2, 1)
	if _, err := (nodeRun{opset: 13, op: "Split", inputs: []*tensor.Tensor{x}, nOut: 2, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1)}}).run(); err == nil {
		t.Error("an equal Split of 5 into 2 should fail before opset 18")
	}
}

func TestSqueezeUnsqueezeAcrossOpsets(t *testing.T) {
	x := iota32(1, 3, 1, 2)
	got := nodeRun{opset: 11, op: "Squeeze", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntsAttr("axes", -2)}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{1, 3, 2}) {
		t.Errorf("Squeeze-11: %v", got.Shape)
	}
	got = nodeRun{opset: 13, op: "Squeeze", inputs: []*tensor.Tensor{x}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{3, 2}) {
		t.Errorf("Squeeze-13 all: %v", got.Shape)
	}
	got = nodeRun{opset: 13, op: "Squeeze", inputs: []*tensor.Tensor{x, ints(0)}, consts: []int{1}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{3, 1, 2}) {
		t.Errorf("Squeeze-13 input: %v", got.Shape)
	}
	if _, err := (nodeRun{opset: 13, op: "Squeeze", inputs: []*tensor.Tensor{x, ints(1)}, consts: []int{1}}).run(); err == nil {
		t.Error("squeezing a dim of 3 should fail")
	}
	got = nodeRun{opset: 11, op: "Unsqueeze", inputs: []*tensor.Tensor{iota32(3, 2)}, attrs: []*onnxpb.AttributeProto{graph.IntsAttr("axes", 0, -1)}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{1, 3, 2, 1}) {
		t.Errorf("Unsqueeze-11: %v", got.Shape)
	}
	got = nodeRun{opset: 13, op: "Unsqueeze", inputs: []*tensor.Tensor{iota32(3, 2), ints(3, 1)}, consts: []int{1}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{3, 1, 2, 1}) {
		t.Errorf("Unsqueeze-13: %v", got.Shape)
	}
}

func TestGatherAxesAndNegativeIndices(t *testing.T) {
	x := iota32(3, 4)
	idx := &tensor.Tensor{DType: tensor.Int32, Shape: []int{2, 2}, I32: []int32{-1, 0, 2, 2}}
	got := nodeRun{opset: 13, op: "Gather", inputs: []*tensor.Tensor{x, idx}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1)}}.mustRun(t)
	expectValues(t, "Gather axis 1", got, []int{3, 2, 2}, seq(3, 0, 2, 2, 7, 4, 6, 6, 11, 8, 10, 10))
	got = nodeRun{opset: 13, op: "Gather", inputs: []*tensor.Tensor{x, tensor.FromInt64([]int64{-3})}}.mustRun(t)
	expectValues(t, "Gather scalar index", got, []int{4}, seq(0, 1, 2, 3))
	if _, err := (nodeRun{opset: 13, op: "Gather", inputs: []*tensor.Tensor{x, ints(3)}}).run(); err == nil {
		t.Error("an out-of-range index should fail")
	}
}

func TestShapeSizeExpandConstantOfShape(t *testing.T) {
	x := iota32(2, 3, 4)
	got := nodeRun{opset: 15, op: "Shape", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("start", -2)}}.mustRun(t)
	expectValues(t, "Shape start=-2", got, []int{2}, seq(3, 4))
	got = nodeRun{opset: 13, op: "Size", inputs: []*tensor.Tensor{x}}.mustRun(t)
	expectValues(t, "Size", got, []int{}, seq(24))
	got = nodeRun{opset: 13, op: "Expand", inputs: []*tensor.Tensor{floats([]int{3, 1}, 1, 2, 3), ints(2, 1, 2)}, consts: []int{1}}.mustRun(t)
	expectValues(t, "Expand", got, []int{2, 3, 2}, seq(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3))
	value := &onnxpb.AttributeProto{Name: strPtr("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: tensor.FromInt64([]int64{7}, 1).ToProto("v")}
	got = nodeRun{opset: 9, op: "ConstantOfShape", inputs: []*tensor.Tensor{ints(2, 3)}, consts: []int{0}, attrs: []*onnxpb.AttributeProto{value}}.mustRun(t)
	if got.DType != tensor.Int64 {
		t.Fatalf("ConstantOfShape gave %v", got.DType)
	}
	expectValues(t, "ConstantOfShape", got, []int{2, 3}, seq(7, 7, 7, 7, 7, 7))
}

func strPtr(s string) *string { return &s }

func TestConcatAndFlatten(t *testing.T) {
	a, b := iota32(2, 1, 2), floats([]int{2, 2, 2}, 10, 11, 12, 13, 14, 15, 16, 17)
	got := nodeRun{opset: 13, op: "Concat", inputs: []*tensor.Tensor{a, b}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", -2)}}.mustRun(t)
	expectValues(t, "Concat", got, []int{2, 3, 2}, seq(0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17))
	got = nodeRun{opset: 13, op: "Flatten", inputs: []*tensor.Tensor{iota32(2, 3, 4)}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", -1)}}.mustRun(t)
	if !tensor.SameShape(got.Shape, []int{6, 4}) {
		t.Errorf("Flatten axis -1: %v", got.Shape)
	}
}

func TestCastDirections(t *testing.T) {
	x := floats([]int{5}, -2.7, -0.5, 0, 0.5, 300.9)
	for to, want := range map[tensor.DType][]float64{
		tensor.Int64: {-2, 0, 0, 0, 300}, tensor.Int32: {-2, 0, 0, 0, 300}, tensor.Int8: {-2, 0, 0, 0, 44},
		tensor.Bool: {1, 1, 0, 1, 1}, tensor.Double: {-2.7, -0.5, 0, 0.5, 300.9},
		tensor.Float16: {-2.69921875, -0.5, 0, 0.5, 301},
	} {
		got := nodeRun{opset: 13, op: "Cast", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("to", int64(to))}}.mustRun(t)
		if got.DType != to {
			t.Fatalf("Cast to %v gave %v", to, got.DType)
		}
		for i, w := range want {
			if g := got.At(i); g != w && !(to == tensor.Double && float32(g) == float32(w)) {
				t.Errorf("Cast to %v: [%d] = %v, want %v", to, i, g, w)
			}
		}
	}
	got := nodeRun{opset: 1, op: "Cast", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.StringAttr("to", "INT64")}}.mustRun(t)
	if got.DType != tensor.Int64 || got.I64[0] != -2 {
		t.Errorf("Cast-1 with to=\"INT64\" gave %v %v", got.DType, got.Float64s())
	}
	b := &tensor.Tensor{DType: tensor.Bool, Shape: []int{2}, B: []bool{true, false}}
	got = nodeRun{opset: 13, op: "Cast", inputs: []*tensor.Tensor{b}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("to", int64(tensor.Float))}}.mustRun(t)
	expectValues(t, "Cast bool to float", got, []int{2}, seq(1, 0))
}

// TestConcatChannelsLarge covers the batch-1 channel Concat split over cores, with inputs of
// uneven sizes so the split falls inside an input.
func TestConcatChannelsLarge(t *testing.T) {
	var inputs []*tensor.Tensor
	var want []float64
	next := 0.0
	for _, c := range []int{64, 3, 128, 37} {
		x := &tensor.Tensor{DType: tensor.Float, Shape: []int{1, c, 28, 28}, F32: make([]float32, c*28*28)}
		for i := range x.F32 {
			x.F32[i] = float32(next)
			want = append(want, next)
			next++
		}
		inputs = append(inputs, x)
	}
	got := nodeRun{opset: 13, op: "Concat", inputs: inputs, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1)}}.mustRun(t)
	expectValues(t, "Concat", got, []int{1, 232, 28, 28}, want)
}
