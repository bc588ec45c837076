package engine

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// nodeRun describes a one-node model for tests.
type nodeRun struct {
	opset  int64
	op     string
	inputs []*tensor.Tensor // nil: an omitted optional input
	consts []int            // indices of inputs that are initializers rather than graph inputs
	nOut   int              // outputs (default 1)
	attrs  []*onnxpb.AttributeProto
}

// run compiles and runs the node, returning its outputs in order.
func (r nodeRun) run() ([]*tensor.Tensor, error) {
	b := onnxbuild.New(max(r.opset, 1))
	isConst := map[int]bool{}
	for _, i := range r.consts {
		isConst[i] = true
	}
	names := make([]string, len(r.inputs))
	feeds := map[string]*tensor.Tensor{}
	shapes := map[string][]int{}
	for i, t := range r.inputs {
		switch {
		case t == nil:
		case isConst[i]:
			names[i] = b.Init(fmt.Sprintf("c%d", i), t)
		default:
			names[i] = b.Input(fmt.Sprintf("in%d", i), t.DType, t.Shape...)
			feeds[names[i]], shapes[names[i]] = t, t.Shape
		}
	}
	outs := make([]string, max(r.nOut, 1))
	for i := range outs {
		outs[i] = fmt.Sprintf("out%d", i)
		b.Output(outs[i], tensor.Float)
	}
	b.NodeOut(r.op, names, outs, r.attrs...)
	prog, err := Compile(b.Model().Graph, Options{InputShapes: shapes})
	if err != nil {
		return nil, err
	}
	res, err := prog.Run(feeds)
	if err != nil {
		return nil, err
	}
	got := make([]*tensor.Tensor, len(outs))
	for i, name := range outs {
		got[i] = res[name]
	}
	return got, nil
}

// mustRun runs the node and returns output 0, failing the test on error.
func (r nodeRun) mustRun(t *testing.T) *tensor.Tensor {
	t.Helper()
	out, err := r.run()
	if err != nil {
		t.Fatalf("%s: %v", r.op, err)
	}
	return out[0]
}

func ints(v ...int64) *tensor.Tensor { return tensor.FromInt64(v, len(v)) }

func floats(shape []int, v ...float32) *tensor.Tensor { return tensor.FromFloat32(v, shape...) }

func randomFloats(seed int64, shape ...int) *tensor.Tensor { return onnxbuild.Random(seed, shape...) }

// expectValues checks shape and values (within 1e-6 relative for floats).
func expectValues(t *testing.T, what string, got *tensor.Tensor, shape []int, want []float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	for i, w := range want {
		g := got.At(i)
		if !(g == w || math.Abs(g-w) <= 1e-6*math.Abs(w)+1e-7 || (math.IsNaN(g) && math.IsNaN(w))) {
			t.Fatalf("%s: [%d] = %v, want %v (all: %v)", what, i, g, w, got.Float64s())
		}
	}
}

// naiveBroadcast computes f over a and b broadcast, index by index: the reference for the fast
// broadcasting paths.
func naiveBroadcast(a, b *tensor.Tensor, f func(x, y float64) float64) ([]int, []float64) {
	out, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		panic(err)
	}
	res := make([]float64, tensor.NumElements(out))
	idx := make([]int, len(out))
	for i := range res {
		rem := i
		for d := len(out) - 1; d >= 0; d-- {
			idx[d] = rem % out[d]
			rem /= out[d]
		}
		res[i] = f(a.At(flatIndex(a.Shape, idx)), b.At(flatIndex(b.Shape, idx)))
	}
	return out, res
}

// flatIndex maps an output index to the flat index of an operand broadcast to it.
func flatIndex(shape, idx []int) int {
	off := len(idx) - len(shape)
	flat := 0
	for d, size := range shape {
		i := idx[off+d]
		if size == 1 {
			i = 0
		}
		flat = flat*size + i
	}
	return flat
}

func TestBinaryBroadcasting(t *testing.T) {
	shapes := [][2][]int{
		{{2, 3, 4, 5}, {3, 1, 1}},        // per channel
		{{2, 3, 4, 5}, {}},               // scalar
		{{}, {2, 3}},                     // scalar first
		{{6, 7}, {7}},                    // per row bias
		{{2, 1, 4}, {3, 1}},              // both broadcast
		{{5, 1}, {1, 6}},                 // outer product
		{{1, 64, 1, 1}, {8, 64, 33, 41}}, // large: split across goroutines
		{{3, 1, 5}, {3, 4, 1}},
		{{4, 5}, {4, 5}},
		{{2, 0, 3}, {1, 3}}, // empty
	}
	ops := map[string]func(x, y float64) float64{
		"Add": func(x, y float64) float64 { return x + y },
		"Sub": func(x, y float64) float64 { return x - y },
		"Mul": func(x, y float64) float64 { return x * y },
		"Div": func(x, y float64) float64 { return float64(float32(x) / float32(y)) },
		"Max": math.Max,
		"Min": math.Min,
		"Pow": func(x, y float64) float64 { return float64(float32(math.Pow(x, y))) },
	}
	for i, s := range shapes {
		a, b := randomFloats(int64(i), s[0]...), randomFloats(int64(100+i), s[1]...)
		for op, f := range ops {
			if op == "Pow" {
				for j := range a.F32 {
					a.F32[j] = float32(math.Abs(float64(a.F32[j])))
				}
			}
			got := nodeRun{opset: 13, op: op, inputs: []*tensor.Tensor{a, b}}.mustRun(t)
			shape, want := naiveBroadcast(a, b, f)
			expectValues(t, fmt.Sprintf("%s %v %v", op, s[0], s[1]), got, shape, want)
		}
	}
}

func TestInt64Arithmetic(t *testing.T) {
	a, b := ints(10, -7, 3, 0), ints(3)
	for op, want := range map[string][]float64{
		"Add": {13, -4, 6, 3}, "Sub": {7, -10, 0, -3}, "Mul": {30, -21, 9, 0}, "Div": {3, -2, 1, 0},
		"Max": {10, 3, 3, 3}, "Min": {3, -7, 3, 0},
	} {
		got := nodeRun{opset: 13, op: op, inputs: []*tensor.Tensor{a, b}}.mustRun(t)
		if got.DType != tensor.Int64 {
			t.Fatalf("%s gave %v", op, got.DType)
		}
		expectValues(t, op, got, []int{4}, want)
	}
	// Integer division by zero gives 0 rather than crashing.
	got := nodeRun{opset: 13, op: "Div", inputs: []*tensor.Tensor{ints(5, 6), ints(0, 2)}}.mustRun(t)
	expectValues(t, "Div by zero", got, []int{2}, []float64{0, 3})
}

func TestLegacyBroadcastAttribute(t *testing.T) {
	// Opset 6: B of shape [3] aligned at axis 1 of A [2,3,2].
	a, b := randomFloats(1, 2, 3, 2), floats([]int{3}, 10, 20, 30)
	got := nodeRun{opset: 6, op: "Add", inputs: []*tensor.Tensor{a, b}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("broadcast", 1), graph.IntAttr("axis", 1)}}.mustRun(t)
	_, want := naiveBroadcast(a, floats([]int{3, 1}, 10, 20, 30), func(x, y float64) float64 { return float64(float32(x) + float32(y)) })
	expectValues(t, "legacy Add", got, []int{2, 3, 2}, want)
}

func TestVariadicMaxMeanBroadcast(t *testing.T) {
	a, b, c := floats([]int{3}, 1, 5, 3), floats([]int{2, 1}, 2, 4), floats(nil, 3.5)
	got := nodeRun{opset: 13, op: "Max", inputs: []*tensor.Tensor{a, b, c}}.mustRun(t)
	expectValues(t, "Max", got, []int{2, 3}, []float64{3.5, 5, 3.5, 4, 5, 4})
	got = nodeRun{opset: 13, op: "Mean", inputs: []*tensor.Tensor{c, a, b}}.mustRun(t)
	expectValues(t, "Mean", got, []int{2, 3}, []float64{6.5 / 3, 10.5 / 3, 8.5 / 3, 8.5 / 3, 12.5 / 3, 10.5 / 3})
}

func TestFloat16Elementwise(t *testing.T) {
	half := func(v ...float32) *tensor.Tensor {
		t := tensor.New(tensor.Float16, len(v))
		for i, f := range v {
			t.U16[i] = tensor.Float32ToHalf(f)
		}
		return t
	}
	got := nodeRun{opset: 13, op: "Add", inputs: []*tensor.Tensor{half(1, 2.5, -3), half(0.5)}}.mustRun(t)
	if got.DType != tensor.Float16 {
		t.Fatalf("Add of float16 gave %v", got.DType)
	}
	expectValues(t, "Add float16", got, []int{3}, []float64{1.5, 3, -2.5})
	got = nodeRun{opset: 13, op: "Relu", inputs: []*tensor.Tensor{half(1, -2)}}.mustRun(t)
	expectValues(t, "Relu float16", got, []int{2}, []float64{1, 0})
	got = nodeRun{opset: 13, op: "Softmax", inputs: []*tensor.Tensor{half(0, 0)}}.mustRun(t)
	expectValues(t, "Softmax float16", got, []int{2}, []float64{0.5, 0.5})
}

// TestUnaryAccuracy checks float32 results against float64 math within 1e-6 relative.
func TestUnaryAccuracy(t *testing.T) {
	x := tensor.New(tensor.Float, 200001)
	r := rand.New(rand.NewSource(3))
	for i := range x.F32 {
		if i%2 == 0 {
			x.F32[i] = float32((r.Float64()*2 - 1) * 30)
		} else { // magnitudes from 1e-10 to 100, where relative accuracy near 0 shows
			x.F32[i] = float32((r.Float64()*2 - 1) * math.Pow(10, r.Float64()*12-10))
		}
	}
	x.F32[0], x.F32[1], x.F32[2] = 0, 1e-8, -1e-8
	refs := map[string]func(float64) float64{
		"Exp": math.Exp, "Tanh": math.Tanh, "Erf": math.Erf, "Sigmoid": func(v float64) float64 { return 1 / (1 + math.Exp(-v)) },
	}
	for op, ref := range refs {
		got := nodeRun{opset: 13, op: op, inputs: []*tensor.Tensor{x}}.mustRun(t)
		for i, v := range x.F32 {
			want := ref(float64(v))
			if want > math.MaxFloat32 || math.Abs(want) < 0x1p-126 { // overflow, or float32 subnormals
				continue
			}
			g := float64(got.F32[i])
			if math.Abs(g-want) > 1e-6*math.Abs(want)+1e-38 {
				t.Fatalf("%s(%v) = %v, want %v", op, v, g, want)
			}
		}
	}
}

func TestActivations(t *testing.T) {
	x := floats([]int{5}, -4, -1, 0, 1, 4)
	cases := []struct {
		op    string
		opset int64
		attrs []*onnxpb.AttributeProto
		want  []float64
	}{
		{"LeakyRelu", 16, []*onnxpb.AttributeProto{graph.FloatAttr("alpha", 0.5)}, []float64{-2, -0.5, 0, 1, 4}},
		{"HardSigmoid", 6, nil, []float64{0, 0.3, 0.5, 0.7, 1}},
		{"HardSwish", 14, nil, []float64{0, -1.0 / 3, 0, 2.0 / 3, 4}},
		{"Relu", 14, nil, []float64{0, 0, 0, 1, 4}},
		{"Neg", 13, nil, []float64{4, 1, 0, -1, -4}},
	}
	for _, c := range cases {
		got := nodeRun{opset: c.opset, op: c.op, inputs: []*tensor.Tensor{x}, attrs: c.attrs}.mustRun(t)
		for i, w := range c.want {
			if math.Abs(got.At(i)-w) > 1e-6 {
				t.Errorf("%s: [%d] = %v, want %v", c.op, i, got.At(i), w)
			}
		}
	}
}

func TestPReluSlopeBroadcast(t *testing.T) {
	x := floats([]int{1, 2, 2, 1}, -1, 2, -3, 4)
	slope := floats([]int{2, 1, 1}, 0.5, 0.25)
	got := nodeRun{opset: 16, op: "PRelu", inputs: []*tensor.Tensor{x, slope}}.mustRun(t)
	expectValues(t, "PRelu", got, []int{1, 2, 2, 1}, []float64{-0.5, 2, -0.75, 4})
	_, err := nodeRun{opset: 16, op: "PRelu", inputs: []*tensor.Tensor{x, floats([]int{2}, 1, 2)}}.run()
	if err == nil || !strings.Contains(err.Error(), "[C,1,1]") {
		t.Errorf("a [C] slope on NCHW input should fail with a hint, got %v", err)
	}
}

func TestClipAcrossOpsets(t *testing.T) {
	x := floats([]int{4}, -5, -1, 1, 5)
	got := nodeRun{opset: 6, op: "Clip", inputs: []*tensor.Tensor{x}, attrs: []*onnxpb.AttributeProto{graph.FloatAttr("min", -2), graph.FloatAttr("max", 2)}}.mustRun(t)
	expectValues(t, "Clip-6", got, []int{4}, []float64{-2, -1, 1, 2})
	got = nodeRun{opset: 13, op: "Clip", inputs: []*tensor.Tensor{x, nil, floats(nil, 0)}}.mustRun(t)
	expectValues(t, "Clip-13 max only", got, []int{4}, []float64{-5, -1, 0, 0})
	got = nodeRun{opset: 13, op: "Clip", inputs: []*tensor.Tensor{ints(-5, 7), tensor.FromInt64([]int64{0}), tensor.FromInt64([]int64{5})}}.mustRun(t)
	expectValues(t, "Clip int64", got, []int{2}, []float64{0, 5})
}

func TestWhereBroadcast(t *testing.T) {
	cond := &tensor.Tensor{DType: tensor.Bool, Shape: []int{2, 1}, B: []bool{true, false}}
	x, y := ints(1, 2, 3), ints(-1)
	got := nodeRun{opset: 16, op: "Where", inputs: []*tensor.Tensor{cond, x, y}}.mustRun(t)
	expectValues(t, "Where", got, []int{2, 3}, []float64{1, 2, 3, -1, -1, -1})
	cond = &tensor.Tensor{DType: tensor.Bool, Shape: []int{3}, B: []bool{true, false, true}}
	got = nodeRun{opset: 16, op: "Where", inputs: []*tensor.Tensor{cond, floats([]int{2, 1}, 10, 20), floats([]int{3}, 1, 2, 3)}}.mustRun(t)
	expectValues(t, "Where elementwise", got, []int{2, 3}, []float64{10, 2, 10, 20, 2, 20})
}

func TestComparisonsAndLogic(t *testing.T) {
	a, b := floats([]int{3}, 1, 2, 3), floats(nil, 2)
	for op, want := range map[string][]float64{
		"Equal": {0, 1, 0}, "Greater": {0, 0, 1}, "Less": {1, 0, 0}, "GreaterOrEqual": {0, 1, 1}, "LessOrEqual": {1, 1, 0},
	} {
		got := nodeRun{opset: 16, op: op, inputs: []*tensor.Tensor{a, b}}.mustRun(t)
		if got.DType != tensor.Bool {
			t.Fatalf("%s gave %v", op, got.DType)
		}
		expectValues(t, op, got, []int{3}, want)
	}
	p := &tensor.Tensor{DType: tensor.Bool, Shape: []int{2}, B: []bool{true, false}}
	q := &tensor.Tensor{DType: tensor.Bool, Shape: []int{2, 1}, B: []bool{true, false}}
	got := nodeRun{opset: 7, op: "And", inputs: []*tensor.Tensor{p, q}}.mustRun(t)
	expectValues(t, "And", got, []int{2, 2}, []float64{1, 0, 0, 0})
	got = nodeRun{opset: 1, op: "Not", inputs: []*tensor.Tensor{p}}.mustRun(t)
	expectValues(t, "Not", got, []int{2}, []float64{0, 1})
}

func TestPowSpecialExponents(t *testing.T) {
	x := floats([]int{3}, 0.5, 2, 9)
	for e, want := range map[float32][]float64{2: {0.25, 4, 81}, 0.5: {math.Sqrt(0.5), math.Sqrt(2), 3}, 1: {0.5, 2, 9}, -1: {2, 0.5, 1.0 / 9}, 3: {0.125, 8, 729}} {
		got := nodeRun{opset: 15, op: "Pow", inputs: []*tensor.Tensor{x, floats(nil, e)}, consts: []int{1}}.mustRun(t)
		expectValues(t, fmt.Sprintf("Pow %v", e), got, []int{3}, want)
	}
	got := nodeRun{opset: 15, op: "Pow", inputs: []*tensor.Tensor{ints(2, 3), floats([]int{2}, 3, 0.5)}}.mustRun(t)
	expectValues(t, "Pow int64^float", got, []int{2}, []float64{8, 1})
}
