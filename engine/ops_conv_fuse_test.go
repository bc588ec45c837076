package engine

import (
	"fmt"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// fuseCase is a Conv followed by an activation, built as a model.
type fuseCase struct {
	batch, cin, cout, group, hw, k, stride, pad, dilation int
}

// fuseActivation is an activation node to follow the conv, with its opset.
type fuseActivation struct {
	op     string
	opset  int64
	attrs  []*onnxpb.AttributeProto
	bounds []float32 // Clip's min and max inputs (opset 11 on)
}

// fuseModel builds x -> Conv -> activation -> y; with convIsOutput the conv's output is a graph
// output too, which must keep fusion off.
func fuseModel(c fuseCase, act fuseActivation, convIsOutput bool) *graph.Model {
	b := onnxbuild.New(act.opset)
	x := b.Input("x", tensor.Float, c.batch, c.cin, c.hw, c.hw)
	w := b.Init("w", onnxbuild.Random(1, c.cout, c.cin/c.group, c.k, c.k))
	bias := b.Init("b", onnxbuild.Random(2, c.cout))
	b.NodeOut("Conv", []string{x, w, bias}, []string{"conv"}, graph.IntAttr("group", int64(c.group)),
		graph.IntsAttr("strides", int64(c.stride), int64(c.stride)), graph.IntsAttr("dilations", int64(c.dilation), int64(c.dilation)),
		graph.IntsAttr("pads", int64(c.pad), int64(c.pad), int64(c.pad), int64(c.pad)))
	inputs := []string{"conv"}
	for i, v := range act.bounds {
		inputs = append(inputs, b.Init(fmt.Sprintf("bound%d", i), tensor.FromFloat32([]float32{v})))
	}
	switch act.op {
	case "SiLU": // exported as Mul(x, Sigmoid(x))
		b.NodeOut("Sigmoid", inputs, []string{"sig"})
		b.NodeOut("Mul", []string{"conv", "sig"}, []string{"y"})
	case "SiLUswapped":
		b.NodeOut("Sigmoid", inputs, []string{"sig"})
		b.NodeOut("Mul", []string{"sig", "conv"}, []string{"y"})
	default:
		b.NodeOut(act.op, inputs, []string{"y"}, act.attrs...)
	}
	out := (c.hw+2*c.pad-(c.k-1)*c.dilation-1)/c.stride + 1
	b.Output("y", tensor.Float, c.batch, c.cout, out, out)
	if convIsOutput {
		b.Output("conv", tensor.Float, c.batch, c.cout, out, out)
	}
	return b.Model()
}

// runFuseModel compiles (with KeepIntermediates, fusion is off) and runs a model of input x
// and output y, and reports whether an activation compiled to a view, without a kernel. Every
// value must keep its info.
func runFuseModel(t *testing.T, m *graph.Model, keep bool, x *tensor.Tensor) (*tensor.Tensor, bool) {
	t.Helper()
	prog, err := Compile(m.Graph, Options{KeepIntermediates: keep})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := prog.Run(map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	fused := false
	for _, st := range prog.steps {
		for _, name := range st.node.Outputs() {
			if _, ok := prog.Info(name); !ok {
				t.Fatalf("value %q has no info", name)
			}
		}
		if st.kernel == nil {
			fused = true
		}
	}
	return outs["y"], fused
}

// TestConvActivationFusion checks that each conv lowering with each fusable activation gives
// the same result fused as unfused.
func TestConvActivationFusion(t *testing.T) {
	convs := map[string]fuseCase{
		"wide3x3":        {1, 8, 16, 1, 12, 3, 1, 1, 1},
		"pointwise":      {2, 16, 8, 1, 10, 1, 1, 0, 1},
		"strided1x1":     {1, 16, 8, 1, 10, 1, 2, 0, 1},
		"depthwise":      {1, 8, 8, 8, 12, 3, 2, 1, 1},
		"grouped":        {1, 8, 8, 2, 9, 3, 1, 1, 1},
		"im2col":         {1, 4, 8, 1, 8, 3, 1, 0, 3},
		"fullyConnected": {2, 4, 6, 1, 3, 3, 1, 0, 1},
	}
	acts := []fuseActivation{
		{op: "Relu", opset: 13},
		{op: "LeakyRelu", opset: 13, attrs: []*onnxpb.AttributeProto{graph.FloatAttr("alpha", 0.1)}},
		{op: "Clip", opset: 13, bounds: []float32{0, 0.5}},
		{op: "Clip", opset: 6, attrs: []*onnxpb.AttributeProto{graph.FloatAttr("min", -0.5), graph.FloatAttr("max", 1)}},
		{op: "HardSigmoid", opset: 13, attrs: []*onnxpb.AttributeProto{graph.FloatAttr("alpha", 0.3)}},
		{op: "HardSwish", opset: 14},
		{op: "SiLU", opset: 13},
		{op: "SiLUswapped", opset: 13},
	}
	for convName, c := range convs {
		x := onnxbuild.Random(3, c.batch, c.cin, c.hw, c.hw)
		for _, act := range acts {
			t.Run(fmt.Sprintf("%s/%s%d", convName, act.op, act.opset), func(t *testing.T) {
				m := fuseModel(c, act, false)
				prog, err := Compile(m.Graph, Options{})
				if err != nil {
					t.Fatal(err)
				}
				for _, st := range prog.steps {
					if st.node.OpType() != "Conv" && st.kernel != nil {
						t.Fatalf("%v has a kernel: the activation was not fused into the conv", st.node)
					}
				}
				fused, wasFused := runFuseModel(t, m, false, x)
				plain, plainFused := runFuseModel(t, m, true, x)
				if !wasFused || plainFused {
					t.Fatalf("fused without KeepIntermediates: %v, with: %v; want true, false", wasFused, plainFused)
				}
				for i := range plain.F32 {
					if fused.F32[i] != plain.F32[i] {
						t.Fatalf("element %d: fused %v, unfused %v", i, fused.F32[i], plain.F32[i])
					}
				}
			})
		}
	}
}

// TestConvActivationNotFusedWhenOutputIsRead checks that a conv output the caller gets keeps
// its values before the activation.
func TestConvActivationNotFusedWhenOutputIsRead(t *testing.T) {
	c := fuseCase{1, 4, 4, 1, 6, 3, 1, 1, 1}
	m := fuseModel(c, fuseActivation{op: "Relu", opset: 13}, true)
	prog, err := Compile(m.Graph, Options{})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := prog.Run(map[string]*tensor.Tensor{"x": onnxbuild.Random(3, 1, 4, 6, 6)})
	if err != nil {
		t.Fatal(err)
	}
	negative := false
	for i, v := range outs["conv"].F32 {
		negative = negative || v < 0
		if want := max(v, 0); outs["y"].F32[i] != want {
			t.Fatalf("element %d: relu %v, want %v", i, outs["y"].F32[i], want)
		}
	}
	if !negative {
		t.Fatal("the conv output has no negative value: the activation was applied to it")
	}
}

// TestAddActivationFusion checks an activation fused after an Add (a residual block's end)
// gives the unfused result.
func TestAddActivationFusion(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 8, 5, 5)
	skip := b.Init("skip", onnxbuild.Random(4, 1, 8, 5, 5))
	b.NodeOut("Add", []string{x, skip}, []string{"sum"})
	b.NodeOut("Relu", []string{"sum"}, []string{"y"})
	b.Output("y", tensor.Float, 1, 8, 5, 5)
	m := b.Model()
	in := onnxbuild.Random(3, 1, 8, 5, 5)
	fused, wasFused := runFuseModel(t, m, false, in)
	plain, plainFused := runFuseModel(t, m, true, in)
	if !wasFused || plainFused {
		t.Fatalf("fused without KeepIntermediates: %v, with: %v; want true, false", wasFused, plainFused)
	}
	for i := range plain.F32 {
		if fused.F32[i] != plain.F32[i] {
			t.Fatalf("element %d: fused %v, unfused %v", i, fused.F32[i], plain.F32[i])
		}
	}
}

// TestSiLUWithoutConvFusion checks the SiLU pattern Mul(x, Sigmoid(x)) where x's producer cannot
// apply it (a graph input; a conv whose output is also a graph output): one SiLU pass gives the
// unfused result, the conv output keeps its values, and every value keeps its info.
func TestSiLUWithoutConvFusion(t *testing.T) {
	for _, swapped := range []bool{false, true} {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 1, 8, 5, 5)
		b.NodeOut("Sigmoid", []string{x}, []string{"sig"})
		if swapped {
			b.NodeOut("Mul", []string{"sig", x}, []string{"y"})
		} else {
			b.NodeOut("Mul", []string{x, "sig"}, []string{"y"})
		}
		b.Output("y", tensor.Float, 1, 8, 5, 5)
		in := onnxbuild.Random(3, 1, 8, 5, 5)
		fused, wasFused := runFuseModel(t, b.Model(), false, in)
		plain, plainFused := runFuseModel(t, b.Model(), true, in)
		if !wasFused || plainFused {
			t.Fatalf("fused without KeepIntermediates: %v, with: %v; want true, false", wasFused, plainFused)
		}
		for i := range plain.F32 {
			if fused.F32[i] != plain.F32[i] {
				t.Fatalf("element %d: fused %v, unfused %v", i, fused.F32[i], plain.F32[i])
			}
		}
	}

	c := fuseCase{1, 4, 4, 1, 6, 3, 1, 1, 1}
	m := fuseModel(c, fuseActivation{op: "SiLU", opset: 13}, true)
	in := onnxbuild.Random(3, 1, 4, 6, 6)
	prog, err := Compile(m.Graph, Options{})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := prog.Run(map[string]*tensor.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := runFuseModel(t, m, true, in)
	negative := false
	for i, v := range outs["conv"].F32 {
		negative = negative || v < 0
		if outs["y"].F32[i] != plain.F32[i] {
			t.Fatalf("element %d: silu %v, unfused %v", i, outs["y"].F32[i], plain.F32[i])
		}
	}
	if !negative {
		t.Fatal("the conv output has no negative value: the activation was applied to it")
	}
}
