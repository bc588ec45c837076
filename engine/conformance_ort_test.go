package engine

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/internal/ortrun"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// TestAgainstONNXRuntime runs small models, built the way exporters write them and covering the
// opsets newer than the ONNX 1.12 test suite (Split and Reduce* of opset 18, blocked quantization
// of opset 21), on ONNX Runtime and on the engine, with the same inputs, and compares the outputs.
// It skips when ONNX Runtime (onnxruntime-node, see internal/ortrun) is not installed.
func TestAgainstONNXRuntime(t *testing.T) {
	if _, err := ortrun.Script(); err != nil {
		t.Skipf("ONNX Runtime is not available: %v", err)
	}
	if testing.Short() {
		t.Skip("starts node once per model")
	}
	for _, c := range ortCases {
		t.Run(c.name, func(t *testing.T) {
			b := onnxbuild.New(c.opset)
			c.build(b)
			path := filepath.Join(t.TempDir(), c.name+".onnx")
			data, err := proto.Marshal(b.Proto())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			ort, err := ortrun.Run(path, ortrun.Options{Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			m := b.Model()
			feeds := map[string]*tensor.Tensor{}
			for _, name := range m.Graph.InputNames() {
				in := ort.Inputs[name]
				if in == nil {
					t.Fatalf("ONNX Runtime gave no value for input %q", name)
				}
				// ort-run saves float16 inputs as float32; they convert back exactly.
				declared := tensor.DType(m.Graph.ValueInfo(name).GetType().GetTensorType().GetElemType())
				feeds[name] = castTo(1, in, declared)
			}
			prog, err := Compile(m.Graph, Options{})
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := prog.Run(feeds)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if len(ort.Order) != len(m.Graph.OutputNames()) {
				t.Fatalf("ONNX Runtime gave %d outputs, the model has %d", len(ort.Order), len(m.Graph.OutputNames()))
			}
			for _, name := range ort.Order {
				want := ort.Outputs[name]
				g := got[name]
				if g == nil {
					t.Fatalf("output %q missing", name)
				}
				if g.DType != want.DType {
					g = castTo(1, g, want.DType) // ort-run saves float16 and double outputs as float32
				}
				if err := compareORT(g, want); err != nil {
					t.Errorf("output %q: %v", name, err)
				}
			}
		})
	}
}

// compareORT allows for ONNX Runtime's own approximations of exp, tanh and erf (MLAS).
func compareORT(got, want *tensor.Tensor) error {
	if !tensor.SameShape(got.Shape, want.Shape) {
		return compareTensors(got, want) // reports the shapes
	}
	for i := 0; i < want.Len(); i++ {
		g, w := got.At(i), want.At(i)
		if math.IsNaN(g) && math.IsNaN(w) || math.Abs(g-w) <= 1e-5+1e-4*math.Abs(w) {
			continue
		}
		return compareTensors(got, want)
	}
	return nil
}

type ortCase struct {
	name  string
	opset int64
	build func(b *onnxbuild.Builder)
}

// Helpers that keep the cases short.

func initF(b *onnxbuild.Builder, name string, seed int64, shape ...int) string {
	return b.Init(name, onnxbuild.Random(seed, shape...))
}

func initI(b *onnxbuild.Builder, name string, v ...int64) string {
	return b.Init(name, tensor.FromInt64(v, len(v)))
}

func scalarF(b *onnxbuild.Builder, name string, v float32) string {
	return b.Init(name, tensor.FromFloat32([]float32{v}))
}

func outF(b *onnxbuild.Builder, names ...string) {
	for _, n := range names {
		b.Output(n, tensor.Float)
	}
}

func toFloat(b *onnxbuild.Builder, x string) string {
	return b.Node("Cast", []string{x}, graph.IntAttr("to", int64(tensor.Float)))
}

var ortCases = []ortCase{
	{"attention", 17, func(b *onnxbuild.Builder) {
		// One transformer encoder layer as PyTorch exports it: shapes computed from Shape ->
		// Gather -> Unsqueeze -> Concat, decomposed LayerNorm, exact GELU with Erf, a padding mask.
		x := b.Input("x", tensor.Float, 2, 6, 16)
		mask := b.Input("mask", tensor.Int64, 2, 6)
		shape := b.Node("Shape", []string{x})
		batch := b.Node("Unsqueeze", []string{b.Node("Gather", []string{shape, b.Init("i0", tensor.FromInt64([]int64{0}))}), initI(b, "ax0", 0)})
		seqLen := b.Node("Unsqueeze", []string{b.Node("Gather", []string{shape, b.Init("i1", tensor.FromInt64([]int64{1}))}), initI(b, "ax0b", 0)})
		heads := b.Node("Concat", []string{batch, seqLen, initI(b, "hd", 4, 4)}, graph.IntAttr("axis", 0))
		proj := func(i int64, perm ...int64) string {
			p := b.Node("Add", []string{b.Node("MatMul", []string{x, initF(b, "w"+string(rune('a'+i)), 10+i, 16, 16)}), initF(b, "b"+string(rune('a'+i)), 20+i, 16)})
			return b.Node("Transpose", []string{b.Node("Reshape", []string{p, heads})}, graph.IntsAttr("perm", perm...))
		}
		q, k, v := proj(0, 0, 2, 1, 3), proj(1, 0, 2, 3, 1), proj(2, 0, 2, 1, 3)
		scores := b.Node("Div", []string{b.Node("MatMul", []string{q, k}), b.Node("Sqrt", []string{scalarF(b, "dk", 4)})})
		pad := b.Node("Unsqueeze", []string{b.Node("Equal", []string{mask, b.Init("zero", tensor.FromInt64([]int64{0}))}), initI(b, "ax12", 1, 2)})
		scores = b.Node("Where", []string{pad, scalarF(b, "neg", -1e4), scores})
		ctx := b.Node("MatMul", []string{b.Node("Softmax", []string{scores}, graph.IntAttr("axis", -1)), v})
		ctx = b.Node("Transpose", []string{ctx}, graph.IntsAttr("perm", 0, 2, 1, 3))
		ctx = b.Node("Reshape", []string{ctx, b.Node("Concat", []string{batch, seqLen, initI(b, "m1", -1)}, graph.IntAttr("axis", 0))})
		mean := b.Node("ReduceMean", []string{ctx}, graph.IntsAttr("axes", -1))
		centered := b.Node("Sub", []string{ctx, mean})
		variance := b.Node("ReduceMean", []string{b.Node("Pow", []string{centered, scalarF(b, "two", 2)})}, graph.IntsAttr("axes", -1))
		norm := b.Node("Div", []string{centered, b.Node("Sqrt", []string{b.Node("Add", []string{variance, scalarF(b, "eps", 1e-5)})})})
		norm = b.Node("Add", []string{b.Node("Mul", []string{norm, initF(b, "gamma", 30, 16)}), initF(b, "beta", 31, 16)})
		erf := b.Node("Erf", []string{b.Node("Div", []string{norm, scalarF(b, "sqrt2", float32(math.Sqrt2))})})
		gelu := b.Node("Mul", []string{b.Node("Mul", []string{norm, scalarF(b, "half", 0.5)}), b.Node("Add", []string{erf, scalarF(b, "one", 1)})})
		outF(b, gelu)
	}},
	{"opset18_reduce_split", 18, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 3, 7, 5)
		outF(b, b.Node("ReduceMean", []string{x, initI(b, "a1", 1)}, graph.IntAttr("keepdims", 0)))
		outF(b, b.Node("ReduceMax", []string{x, initI(b, "a02", 0, -1)}))
		outF(b, b.Node("ReduceMin", []string{x}, graph.IntAttr("keepdims", 0)))
		outF(b, b.Node("ReduceSum", []string{x, b.Init("none", tensor.FromInt64([]int64{}, 0))}, graph.IntAttr("noop_with_empty_axes", 1)))
		outF(b, b.Node("ReduceProd", []string{x, initI(b, "a2", 2)}))
		b.NodeOut("Split", []string{x}, []string{"s0", "s1", "s2"}, graph.IntAttr("axis", 1), graph.IntAttr("num_outputs", 3))
		outF(b, "s0", "s1", "s2")
	}},
	{"quantize_blocked_21", 21, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 4, 6)
		scale := b.Init("scale", tensor.FromFloat32([]float32{0.01, 0.02, 0.005, 0.03, 0.01, 0.008, 0.02, 0.04}, 4, 2))
		zero := b.Init("zero", &tensor.Tensor{DType: tensor.Int8, Shape: []int{4, 2}, I8: []int8{0, 3, -5, 1, 0, 0, 7, -2}})
		attrs := []*onnxpb.AttributeProto{graph.IntAttr("axis", 1), graph.IntAttr("block_size", 3)}
		q := b.Node("QuantizeLinear", []string{x, scale, zero}, attrs...)
		outF(b, b.Node("DequantizeLinear", []string{q, scale, zero}, attrs...))
	}},
	{"quantize_per_axis_13", 13, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 2, 3, 4)
		scale := b.Init("scale", tensor.FromFloat32([]float32{0.004, 0.01, 0.02}, 3))
		zero := b.Init("zero", &tensor.Tensor{DType: tensor.Uint8, Shape: []int{3}, U8: []uint8{128, 100, 30}})
		q := b.Node("QuantizeLinear", []string{x, scale, zero})
		outF(b, b.Node("DequantizeLinear", []string{q, scale, zero}))
		b.NodeOut("DynamicQuantizeLinear", []string{x}, []string{"dq", "dscale", "dzero"})
		outF(b, toFloat(b, "dq"), "dscale", toFloat(b, "dzero"))
	}},
	{"softmax_opsets_11", 11, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 2, 3, 4)
		outF(b, b.Node("Softmax", []string{x}), b.Node("LogSoftmax", []string{x}, graph.IntAttr("axis", 2)), b.Node("Softmax", []string{x}, graph.IntAttr("axis", -3)))
	}},
	{"softmax_opsets_13", 13, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 2, 3, 4)
		outF(b, b.Node("Softmax", []string{x}, graph.IntAttr("axis", 1)), b.Node("LogSoftmax", []string{x}, graph.IntAttr("axis", 0)))
	}},
	{"slicing_and_gathering", 13, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 4, 5, 6)
		outF(b, b.Node("Slice", []string{x, initI(b, "st", -1, 100), initI(b, "en", -100, 0), initI(b, "ax", 0, 2), initI(b, "sp", -2, -3)}))
		outF(b, b.Node("Slice", []string{x, initI(b, "st2", 1), initI(b, "en2", 1<<40), initI(b, "ax2", -2)}))
		idx := b.Init("idx", &tensor.Tensor{DType: tensor.Int32, Shape: []int{2, 2}, I32: []int32{-1, 0, 3, 1}})
		outF(b, b.Node("Gather", []string{x, idx}, graph.IntAttr("axis", 1)))
		y := b.Node("Reshape", []string{x, initI(b, "r5", 2, 2, 5, 3, 2)})
		outF(b, b.Node("Transpose", []string{y}, graph.IntsAttr("perm", 3, 0, 4, 2, 1)))
		outF(b, b.Node("Expand", []string{b.Node("Slice", []string{x, initI(b, "z", 0), initI(b, "o", 1), initI(b, "a1", 1)}), initI(b, "es", 2, 4, 3, 6)}))
		outF(b, b.Node("Squeeze", []string{b.Node("Unsqueeze", []string{x, initI(b, "u", 1, -1)}), initI(b, "sq", 1)}))
		b.NodeOut("Split", []string{x, initI(b, "sp2", 2, 4)}, []string{"p0", "p1"}, graph.IntAttr("axis", -1))
		outF(b, "p0", "p1", b.Node("Concat", []string{"p1", "p0"}, graph.IntAttr("axis", -1)))
		outF(b, b.Node("Flatten", []string{x}, graph.IntAttr("axis", -1)))
	}},
	{"activations", 14, func(b *onnxbuild.Builder) {
		x := b.Node("Mul", []string{b.Input("x", tensor.Float, 2, 3, 4, 5), scalarF(b, "k", 6)})
		pos := b.Node("Add", []string{b.Node("Abs", []string{x}), scalarF(b, "small", 0.1)})
		for _, op := range []string{"Relu", "Sigmoid", "Tanh", "Erf", "Exp", "HardSwish", "HardSigmoid", "Neg", "Floor", "Ceil", "Round", "Softplus", "Elu"} {
			outF(b, b.Node(op, []string{x}))
		}
		outF(b, b.Node("LeakyRelu", []string{x}, graph.FloatAttr("alpha", 0.2)))
		outF(b, b.Node("PRelu", []string{x, initF(b, "slope", 3, 3, 1, 1)}))
		outF(b, b.Node("Log", []string{pos}), b.Node("Sqrt", []string{pos}), b.Node("Reciprocal", []string{pos}))
		outF(b, b.Node("Clip", []string{x, scalarF(b, "lo", -2), scalarF(b, "hi", 3)}))
		outF(b, b.Node("Clip", []string{x, "", scalarF(b, "hi2", 0.5)}))
		outF(b, b.Node("Pow", []string{pos, b.Init("three", tensor.FromInt64([]int64{3}))}))
		outF(b, b.Node("Pow", []string{pos, initF(b, "e", 4, 5)}))
		outF(b, b.Node("Pow", []string{x, scalarF(b, "sq", 2)}))
	}},
	{"float16", 13, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float16, 2, 3, 4)
		y := b.Node("Add", []string{x, x})
		for _, o := range []string{b.Node("Softmax", []string{y}), b.Node("ReduceMean", []string{y}, graph.IntsAttr("axes", 1)), b.Node("Sigmoid", []string{y}), b.Node("Max", []string{x, y})} {
			outF(b, toFloat(b, o))
		}
	}},
	{"if_on_data", 13, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 2, 3)
		y := b.Node("Sigmoid", []string{x})
		cond := b.Node("Greater", []string{b.Node("ReduceSum", []string{x}, graph.IntAttr("keepdims", 0)), scalarF(b, "z", 0)})
		branch := func(op, out string) *onnxpb.AttributeProto {
			name := "then_branch"
			if op != "Neg" {
				name = "else_branch"
			}
			return graphAttr(name, branchGraph(op, y, out, 2, 3))
		}
		b.NodeOut("If", []string{cond}, []string{"z_if"}, branch("Neg", "t"), branch("Relu", "e"))
		outF(b, "z_if", b.Node("Mul", []string{x, "z_if"}))
	}},
	{"shape_arithmetic", 15, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 2, 3, 8)
		s := b.Node("Shape", []string{x}, graph.IntAttr("start", 1))
		half := b.Node("Div", []string{b.Node("Slice", []string{s, initI(b, "s1", 1), initI(b, "e1", 2)}), initI(b, "two", 2)})
		target := b.Node("Concat", []string{initI(b, "mm", -1), b.Node("Mul", []string{half, initI(b, "one", 1)}), initI(b, "twoo", 2)}, graph.IntAttr("axis", 0))
		r := b.Node("Reshape", []string{x, target})
		ones := b.Node("ConstantOfShape", []string{b.Node("Shape", []string{r})}, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: tensor.FromFloat32([]float32{1.5}, 1).ToProto("v")})
		outF(b, b.Node("Add", []string{r, ones}))
		outF(b, toFloat(b, b.Node("Size", []string{x})), toFloat(b, s))
	}},
	{"compare_and_select", 16, func(b *onnxbuild.Builder) {
		x := b.Input("x", tensor.Float, 3, 4)
		y := b.Input("y", tensor.Float, 4)
		gt, lt := b.Node("Greater", []string{x, y}), b.Node("Less", []string{x, scalarF(b, "z", 0)})
		ge, le := b.Node("GreaterOrEqual", []string{x, y}), b.Node("LessOrEqual", []string{y, x})
		both := b.Node("And", []string{gt, lt})
		either := b.Node("Or", []string{b.Node("Not", []string{ge}), le})
		outF(b, toFloat(b, both), toFloat(b, either), toFloat(b, b.Node("Xor", []string{gt, lt})))
		outF(b, b.Node("Where", []string{both, x, y}))
		outF(b, b.Node("Max", []string{x, y, scalarF(b, "c", 0.1)}), b.Node("Min", []string{y, x}), b.Node("Sum", []string{x, y}), b.Node("Mean", []string{y, x, x}))
		n := b.Input("n", tensor.Int64, 3, 1)
		outF(b, toFloat(b, b.Node("Equal", []string{n, initI(b, "k", 1, 5, 7)})))
		outF(b, toFloat(b, b.Node("Div", []string{b.Node("Sub", []string{b.Node("Mul", []string{n, initI(b, "m", 7)}), initI(b, "c3", 3)}), initI(b, "d", 2, -3)})))
	}},
	{"casts", 15, func(b *onnxbuild.Builder) {
		x := b.Node("Mul", []string{b.Input("x", tensor.Float, 3, 5), scalarF(b, "k", 100)})
		ax := b.Node("Abs", []string{x})
		for _, to := range []tensor.DType{tensor.Int32, tensor.Int64, tensor.Int8, tensor.Bool, tensor.Float16, tensor.Double} {
			outF(b, toFloat(b, b.Node("Cast", []string{x}, graph.IntAttr("to", int64(to)))))
		}
		outF(b, toFloat(b, b.Node("Cast", []string{ax}, graph.IntAttr("to", int64(tensor.Uint8)))))
		outF(b, b.Node("CastLike", []string{b.Node("Cast", []string{x}, graph.IntAttr("to", int64(tensor.Int64))), x}))
	}},
}
