package fctoconv

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/internal/zoo"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/graph/onnxpb"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/rewrite/rewritetest"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
	"google.golang.org/protobuf/proto"
)

// The fc-to-conv tests, in the manner of analysistest: each case is a small model built with
// onnxbuild and the expectations of what the pass applies and declines, and why. Every case is
// also checked numerically: the original and rewritten graphs run on the engine on random inputs
// and must agree within 1e-4 of the reference's largest magnitude.

type fcWant struct {
	applied int
	// kernels are the expected Conv kernels, one per application, in order ("" to skip).
	kernels []string
	// left: Gemm/MatMul nodes with constant weights expected to remain.
	left int
	// declined: substrings, each of which some decline reason must contain.
	declined []string
	// ops: exact op-type counts in the rewritten graph (only those listed).
	ops map[string]int
	// outShapes: expected declared shapes of graph outputs after the pass ("batch" etc. as -1).
	check func(t *testing.T, m *graph.Model, r *rewrite.Report)
}

type fcCase struct {
	name  string
	build func() *onnxbuild.Builder
	opts  Options
	// engine binds the shapes the pass infers with (and the numeric check's, unless eng is set).
	engine engine.Options
	want   fcWant
	// eng overrides the engine options of the numeric check (e.g. symbolic dims).
	eng engine.Options
}

// Builders of small models. X is the graph input; every weight is random.

// rnd makes a random weight for the model b is building, seeded by how far the model has got: each
// model gets the same weights whichever tests ran before it, and its weights differ from each other.
func rnd(b *onnxbuild.Builder, shape ...int) *tensor.Tensor {
	g := b.Proto().Graph
	seed := int64(2 + len(g.Initializer) + 1000*len(g.Node) + 1000000*len(g.Input))
	return onnxbuild.Random(seed, shape...)
}

func gemmB(b *onnxbuild.Builder, name, in string, k, m int, transB bool, bias []int, attrs ...*onnxpb.AttributeProto) string {
	var w string
	if transB {
		w = b.Init(name+".weight", rnd(b, m, k))
		attrs = append(attrs, graph.IntAttr("transB", 1))
	} else {
		w = b.Init(name+".weight", rnd(b, k, m))
	}
	inputs := []string{in, w}
	if bias != nil {
		inputs = append(inputs, b.Init(name+".bias", rnd(b, bias...)))
	}
	return b.Node("Gemm", inputs, attrs...)
}

// trunk: x[n,3,8,8] -> Conv 3->c (3x3, pad 1) -> Relu, the map the heads read.
func trunk(b *onnxbuild.Builder, n, c int) string {
	x := b.Input("x", tensor.Float, n, 3, 8, 8)
	w := b.Init("trunk.weight", rnd(b, c, 3, 3, 3))
	y := b.Node("Conv", []string{x, w}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
	return b.Node("Relu", []string{y})
}

func gapFlatten(b *onnxbuild.Builder, m string) string {
	return b.Node("Flatten", []string{b.Node("GlobalAveragePool", []string{m})}, graph.IntAttr("axis", 1))
}

func constNode(b *onnxbuild.Builder, t *tensor.Tensor) string {
	return b.Node("Constant", nil, graph.TensorAttr("value", t))
}

func i64(v ...int64) *tensor.Tensor { return tensor.FromInt64(v, len(v)) }

func fcCases() []fcCase {
	var cases []fcCase
	add := func(c fcCase) { cases = append(cases, c) }

	// Flatten + Gemm over a spatial map: the first FC becomes an HxW Conv.
	for _, transB := range []bool{true, false} {
		add(fcCase{name: fmt.Sprintf("flatten-gemm-transB%v", transB), build: func() *onnxbuild.Builder {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 2, 8, 4, 4)
			y := gemmB(b, "fc", b.Node("Flatten", []string{x}, graph.IntAttr("axis", 1)), 128, 10, transB, []int{10})
			b.Output(y, tensor.Float, 2, 10)
			return b
		}, want: fcWant{applied: 1, kernels: []string{"8x4x4"}, ops: map[string]int{"Conv": 1, "Flatten": 1, "Gemm": 0}}})
	}
	// alpha and beta folded, bias [1,M], transB 0.
	add(fcCase{name: "gemm-alpha-beta", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		h := gemmB(b, "fc1", f, 16, 32, true, []int{32}, graph.FloatAttr("alpha", 0.5), graph.FloatAttr("beta", 2))
		h = b.Node("Relu", []string{h})
		y := gemmB(b, "fc2", h, 32, 10, false, []int{1, 10}, graph.FloatAttr("alpha", 1.5), graph.FloatAttr("beta", 0.25))
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{applied: 2, kernels: []string{"16x1x1", "32x1x1"}, ops: map[string]int{"Conv": 3, "Gemm": 0, "Flatten": 1, "GlobalAveragePool": 1}}})
	// Every bias shape.
	for _, bias := range [][]int{nil, {}, {1}, {1, 1}, {10}, {1, 10}} {
		add(fcCase{name: fmt.Sprintf("gemm-bias%v", bias), build: func() *onnxbuild.Builder {
			b := onnxbuild.New(13)
			f := gapFlatten(b, trunk(b, 2, 16))
			var y string
			if bias == nil {
				y = gemmB(b, "fc", f, 16, 10, true, nil)
			} else {
				y = gemmB(b, "fc", f, 16, 10, true, bias, graph.FloatAttr("beta", 0.5))
			}
			b.Output(y, tensor.Float, 2, 10)
			return b
		}, want: fcWant{applied: 1, kernels: []string{"16x1x1"}, ops: map[string]int{"Gemm": 0}}})
	}
	// Weights in Constant nodes (no initializers at all).
	add(fcCase{name: "constant-node-weights", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 1, 4, 3, 3)
		f := b.Node("Flatten", []string{x}, graph.IntAttr("axis", 1))
		h := b.Node("Gemm", []string{f, constNode(b, rnd(b, 20, 36)), constNode(b, rnd(b, 20))}, graph.IntAttr("transB", 1))
		h = b.Node("Relu", []string{h})
		y := b.Node("Gemm", []string{h, constNode(b, rnd(b, 20, 5))})
		b.Output(y, tensor.Float, 1, 5)
		return b
	}, want: fcWant{applied: 2, kernels: []string{"4x3x3", "20x1x1"}, ops: map[string]int{"Gemm": 0, "Constant": 0}}})
	// Transpose(initializer) weights with MatMul + Add, as exported without constant folding.
	add(fcCase{name: "transpose-weights", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		wt := b.Node("Transpose", []string{b.Init("fc.weight", rnd(b, 10, 16))}, graph.IntsAttr("perm", 1, 0))
		mm := b.Node("MatMul", []string{f, wt})
		y := b.Node("Add", []string{b.Init("fc.bias", rnd(b, 10)), mm})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{applied: 1, kernels: []string{"16x1x1"}, ops: map[string]int{"MatMul": 0, "Add": 0, "Transpose": 0}}})
	// Reshape with a constant target.
	for _, target := range [][]int64{{-1, 128}, {2, -1}, {0, -1}, {2, 128}} {
		add(fcCase{name: fmt.Sprintf("reshape-const%v", target), build: func() *onnxbuild.Builder {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 2, 8, 4, 4)
			r := b.Node("Reshape", []string{x, b.Init("shape", i64(target...))})
			y := gemmB(b, "fc", r, 128, 10, true, []int{10})
			b.Output(y, tensor.Float, 2, 10)
			return b
		}, want: fcWant{applied: 1, kernels: []string{"8x4x4"}, ops: map[string]int{"Reshape": 0, "Gemm": 0}}})
	}
	// Reshape whose target is computed from Shape/Gather/Unsqueeze/Concat (x.view(x.size(0), -1)).
	add(fcCase{name: "reshape-computed", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, -1, 8, 2, 2)
		s := b.Node("Shape", []string{x})
		n := b.Node("Gather", []string{s, constNode(b, tensor.FromInt64([]int64{0}))}, graph.IntAttr("axis", 0))
		u := b.Node("Unsqueeze", []string{n, constNode(b, i64(0))})
		c := b.Node("Concat", []string{u, constNode(b, i64(-1))}, graph.IntAttr("axis", 0))
		r := b.Node("Reshape", []string{x, c})
		y := gemmB(b, "fc", r, 32, 10, true, []int{10})
		b.Output(y, tensor.Float, -1, 10)
		return b
	}, engine: engine.Options{Dims: map[string]int{"d0": 3}}, eng: engine.Options{Dims: map[string]int{"d0": 3}},
		want: fcWant{applied: 1, kernels: []string{"8x2x2"}, ops: map[string]int{"Shape": 0, "Gather": 0, "Concat": 0, "Reshape": 0}}})
	// Global pooling entries.
	add(fcCase{name: "gap-reshape", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		g := b.Node("GlobalAveragePool", []string{trunk(b, 1, 16)})
		r := b.Node("Reshape", []string{g, b.Init("shape", i64(1, -1))})
		y := gemmB(b, "fc", r, 16, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{applied: 1, kernels: []string{"16x1x1"}, ops: map[string]int{"Reshape": 0}}})
	add(fcCase{name: "gap-squeeze", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		g := b.Node("GlobalAveragePool", []string{trunk(b, 2, 16)})
		r := b.Node("Squeeze", []string{g, b.Init("axes", i64(2, 3))})
		y := gemmB(b, "fc", r, 16, 10, true, []int{10})
		b.Output(y, tensor.Float, 2, 10)
		return b
	}, want: fcWant{applied: 1, kernels: []string{"16x1x1"}, ops: map[string]int{"Squeeze": 0}}})
	for _, rm := range []struct {
		name     string
		opset    int64
		axes     []int64
		keepdims int64
	}{
		{"attr-keepdims0", 13, []int64{2, 3}, 0},
		{"negative-axes", 13, []int64{-2, -1}, 0},
		{"attr-keepdims1", 13, []int64{2, 3}, 1},
		{"input-keepdims0", 18, []int64{2, 3}, 0},
		{"input-keepdims1", 18, []int64{3, 2}, 1},
	} {
		add(fcCase{name: "reducemean-" + rm.name, build: func() *onnxbuild.Builder {
			b := onnxbuild.New(rm.opset)
			m := trunk(b, 2, 16)
			var r string
			if rm.opset >= 18 {
				r = b.Node("ReduceMean", []string{m, b.Init("axes", i64(rm.axes...))}, graph.IntAttr("keepdims", rm.keepdims))
			} else {
				r = b.Node("ReduceMean", []string{m}, graph.IntsAttr("axes", rm.axes...), graph.IntAttr("keepdims", rm.keepdims))
			}
			if rm.keepdims == 1 {
				r = b.Node("Flatten", []string{r})
			}
			y := gemmB(b, "fc", r, 16, 10, true, []int{10})
			b.Output(y, tensor.Float, 2, 10)
			return b
		}, want: fcWant{applied: 1, kernels: []string{"16x1x1"}, ops: map[string]int{"ReduceMean": 1, "Gemm": 0}}})
	}
	// A chain with every op allowed between FCs.
	add(fcCase{name: "chain", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 2, 16))
		h := gemmB(b, "fc1", f, 16, 24, true, []int{24})
		h = b.Node("Relu", []string{h})
		h = b.Node("Dropout", []string{h})
		h = b.Node("PRelu", []string{h, b.Init("slope", rnd(b, 24))})
		h = b.Node("BatchNormalization", []string{h, b.Init("bn.scale", rnd(b, 24)), b.Init("bn.bias", rnd(b, 24)),
			b.Init("bn.mean", rnd(b, 24)), b.Init("bn.var", onesPlus(rnd(b, 24)))})
		h = gemmB(b, "fc2", h, 24, 20, false, []int{20})
		h = b.Node("Mul", []string{h, b.Init("scale", rnd(b, 1, 20))})
		h = b.Node("Add", []string{b.Init("shift", rnd(b, 20)), h})
		h = b.Node("Sigmoid", []string{h})
		h = b.Node("Clip", []string{h, constNode(b, tensor.FromFloat32([]float32{0.1})), constNode(b, tensor.FromFloat32([]float32{0.9}))})
		h = b.Node("Identity", []string{h})
		h = b.Node("Mul", []string{h, b.Init("scalar", tensor.FromFloat32([]float32{3}))})
		y := gemmB(b, "fc3", h, 20, 10, true, []int{10})
		b.Output(y, tensor.Float, 2, 10)
		return b
	}, want: fcWant{applied: 3, kernels: []string{"16x1x1", "24x1x1", "20x1x1"}, ops: map[string]int{"Conv": 4, "Gemm": 0, "Flatten": 1}}})
	// VGG style: the first FC sees a 8x2x2 map; Dropout between Flatten and the FC.
	add(fcCase{name: "vgg", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		m := b.Node("MaxPool", []string{trunk(b, 1, 8)}, graph.IntsAttr("kernel_shape", 4, 4), graph.IntsAttr("strides", 4, 4))
		f := b.Node("Flatten", []string{m}, graph.IntAttr("axis", 1))
		f = b.Node("Dropout", []string{f})
		h := b.Node("Relu", []string{gemmB(b, "fc1", f, 32, 64, true, []int{64})})
		h = b.Node("Relu", []string{gemmB(b, "fc2", h, 64, 64, true, []int{64})})
		y := gemmB(b, "fc3", h, 64, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{applied: 3, kernels: []string{"8x2x2", "64x1x1", "64x1x1"}, ops: map[string]int{"Conv": 4, "Flatten": 1, "Gemm": 0}}})
	// One pooled map feeding three heads (yaw/pitch/roll), two of them sharing a weight.
	add(fcCase{name: "multi-head", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		w := b.Init("shared.weight", rnd(b, 3, 16))
		for range 2 { // yaw, pitch
			b.Output(b.Node("Gemm", []string{f, w}, graph.IntAttr("transB", 1)), tensor.Float, 1, 3)
		}
		y := gemmB(b, "roll", f, 16, 5, true, []int{5})
		b.Output(y, tensor.Float, 1, 5)
		return b
	}, want: fcWant{applied: 3, kernels: []string{"16x1x1", "16x1x1", "16x1x1"}, ops: map[string]int{"Gemm": 0, "Flatten": 3, "GlobalAveragePool": 1},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			n := 0
			for _, init := range m.Graph.Proto.Initializer {
				if strings.HasPrefix(init.GetName(), "shared.weight_conv_w") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the shared weight was converted %d times, want once", n)
			}
		}}})
	// MatMul + Add on a pooled map.
	add(fcCase{name: "matmul-add-head", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 2, 16))
		h := b.Node("Add", []string{b.Node("MatMul", []string{f, b.Init("w1", rnd(b, 16, 32))}), b.Init("b1", rnd(b, 32))})
		h = b.Node("Relu", []string{h})
		y := b.Node("MatMul", []string{h, b.Init("w2", rnd(b, 32, 10))})
		b.Output(y, tensor.Float, 2, 10)
		return b
	}, want: fcWant{applied: 2, kernels: []string{"16x1x1", "32x1x1"}, ops: map[string]int{"MatMul": 0, "Add": 0}}})
	// An FC whose result is also read by a non-convertible op (Softmax at opset 11) and is an output.
	add(fcCase{name: "intermediate-output", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(11)
		f := gapFlatten(b, trunk(b, 1, 16))
		h := gemmB(b, "fc1", f, 16, 12, true, []int{12})
		b.Output(h, tensor.Float, 1, 12)
		s := b.Node("Softmax", []string{h}, graph.IntAttr("axis", 1))
		y := gemmB(b, "fc2", b.Node("Relu", []string{h}), 12, 4, true, []int{4})
		b.Output(s, tensor.Float, 1, 12)
		b.Output(y, tensor.Float, 1, 4)
		return b
	}, want: fcWant{applied: 2, ops: map[string]int{"Gemm": 0, "Flatten": 2, "Softmax": 1}}})

	// MLP: heads scope declines, scope all converts with Unsqueeze (attribute form at opset 11).
	mlp := func(opset int64) func() *onnxbuild.Builder {
		return func() *onnxbuild.Builder {
			b := onnxbuild.New(opset)
			x := b.Input("x", tensor.Float, 3, 20)
			h := b.Node("Relu", []string{gemmB(b, "fc1", x, 20, 16, true, []int{16})})
			y := gemmB(b, "fc2", h, 16, 4, true, []int{4})
			b.Output(y, tensor.Float, 3, 4)
			return b
		}
	}
	add(fcCase{name: "mlp-heads", build: mlp(13), want: fcWant{applied: 0, left: 2,
		declined: []string{`graph input [3 20] (an MLP without a conv trunk)`, `comes through Relu node "Relu_node_4"; input "Gemm_1" comes from Gemm node "Gemm_node_2", which was not converted`}}})
	for _, opset := range []int64{11, 13} {
		add(fcCase{name: fmt.Sprintf("mlp-all-opset%d", opset), build: mlp(opset), opts: Options{Scope: "all"},
			want: fcWant{applied: 2, kernels: []string{"20x1x1", "16x1x1"}, ops: map[string]int{"Unsqueeze": 1, "Flatten": 1, "Gemm": 0}}})
	}
	// MatMul on [B,T,C] with a residual: heads declines, all converts; the transposes stay at the ends.
	seq := func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 2, 5, 16)
		h := b.Node("Add", []string{b.Init("b1", rnd(b, 32)), b.Node("MatMul", []string{x, b.Init("w1", rnd(b, 16, 32))})})
		h = b.Node("Relu", []string{h})
		h = b.Node("Add", []string{b.Init("b2", rnd(b, 16)), b.Node("MatMul", []string{h, b.Init("w2", rnd(b, 32, 16))})})
		y := b.Node("Add", []string{x, h})
		b.Output(y, tensor.Float, 2, 5, 16)
		return b
	}
	add(fcCase{name: "matmul-3d-heads", build: seq, want: fcWant{left: 2, declined: []string{"3-D activations", "use --scope all"}}})
	add(fcCase{name: "matmul-3d-all", build: seq, opts: Options{Scope: "all"},
		want: fcWant{applied: 2, kernels: []string{"16x1x1", "32x1x1"}, ops: map[string]int{"MatMul": 0, "Transpose": 2, "Unsqueeze": 1, "Squeeze": 1, "Add": 1}}})
	// A token MLP that pools the tokens, then a 2-D head (custom_linear_nobias style).
	add(fcCase{name: "matmul-3d-pooled-all", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		m := trunk(b, 1, 8)
		tok := b.Node("Transpose", []string{b.Node("Reshape", []string{m, b.Init("shape", i64(1, 8, 64))})}, graph.IntsAttr("perm", 0, 2, 1))
		h := b.Node("Relu", []string{b.Node("MatMul", []string{tok, b.Init("wt", rnd(b, 8, 8))})})
		p := b.Node("ReduceMean", []string{h}, graph.IntsAttr("axes", 1), graph.IntAttr("keepdims", 0))
		y := b.Node("MatMul", []string{b.Node("Relu", []string{b.Node("MatMul", []string{p, b.Init("w1", rnd(b, 8, 16))})}), b.Init("w2", rnd(b, 16, 4))})
		b.Output(y, tensor.Float, 1, 4)
		return b
	}, opts: Options{Scope: "all"}, want: fcWant{applied: 3, kernels: []string{"8x1x1", "8x1x1", "16x1x1"}, ops: map[string]int{"MatMul": 0, "Transpose": 0, "Squeeze": 0}}})
	add(fcCase{name: "matmul-3d-pooled-heads", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 1, 6, 8)
		h := b.Node("Relu", []string{b.Node("MatMul", []string{x, b.Init("wt", rnd(b, 8, 8))})})
		p := b.Node("ReduceMean", []string{h}, graph.IntsAttr("axes", 1), graph.IntAttr("keepdims", 0))
		y := b.Node("MatMul", []string{b.Node("Relu", []string{b.Node("MatMul", []string{p, b.Init("w1", rnd(b, 8, 16))})}), b.Init("w2", rnd(b, 16, 4))})
		b.Output(y, tensor.Float, 1, 4)
		return b
	}, want: fcWant{applied: 2, left: 1, declined: []string{"3-D activations"}, ops: map[string]int{"MatMul": 1, "Unsqueeze": 1}}})
	// Channels-last MatMuls between two transposes (ConvNeXt style), then a GAP head: with scope
	// all every transpose disappears.
	add(fcCase{name: "matmul-nhwc-all", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		m := trunk(b, 1, 8)
		t := b.Node("Transpose", []string{m}, graph.IntsAttr("perm", 0, 2, 3, 1))
		h := b.Node("Add", []string{b.Init("b1", rnd(b, 16)), b.Node("MatMul", []string{t, b.Init("w1", rnd(b, 8, 16))})})
		h = b.Node("Relu", []string{h})
		h = b.Node("Add", []string{b.Init("b2", rnd(b, 8)), b.Node("MatMul", []string{h, b.Init("w2", rnd(b, 16, 8))})})
		h = b.Node("Add", []string{t, h})
		back := b.Node("Transpose", []string{h}, graph.IntsAttr("perm", 0, 3, 1, 2))
		y := gemmB(b, "head", gapFlatten(b, back), 8, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, opts: Options{Scope: "all"}, want: fcWant{applied: 3, kernels: []string{"8x1x1", "16x1x1", "8x1x1"},
		ops: map[string]int{"Transpose": 0, "MatMul": 0, "Gemm": 0, "Add": 1, "Conv": 4}}})
	add(fcCase{name: "matmul-nhwc-graph-input-all", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 1, 4, 4, 8)
		y := b.Node("MatMul", []string{x, b.Init("w1", rnd(b, 8, 6))})
		b.Output(y, tensor.Float, 1, 4, 4, 6)
		return b
	}, opts: Options{Scope: "all"}, want: fcWant{applied: 1, ops: map[string]int{"Transpose": 2, "MatMul": 0}}})

	// Spatial: GAP head (output [N,10,1,1] at any size) and VGG head (output follows the size).
	add(fcCase{name: "spatial-gap", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		y := gemmB(b, "fc2", b.Node("Relu", []string{gemmB(b, "fc1", f, 16, 32, true, []int{32})}), 32, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, opts: Options{Spatial: true}, want: fcWant{applied: 2, ops: map[string]int{"Flatten": 0, "Gemm": 0},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			wantDims(t, m.Graph.Proto.Output[0], "1", "10", "1", "1")
			wantDims(t, m.Graph.Proto.Input[0], "1", "3", "height", "width")
		}}, eng: engine.Options{Dims: map[string]int{"height": 8, "width": 8}}})
	add(fcCase{name: "spatial-vgg", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		m := b.Node("MaxPool", []string{trunk(b, 1, 8)}, graph.IntsAttr("kernel_shape", 4, 4), graph.IntsAttr("strides", 4, 4))
		f := b.Node("Flatten", []string{m}, graph.IntAttr("axis", 1))
		y := gemmB(b, "fc2", b.Node("Relu", []string{gemmB(b, "fc1", f, 32, 24, true, []int{24})}), 24, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, opts: Options{Spatial: true}, want: fcWant{applied: 2, kernels: []string{"8x2x2", "24x1x1"}, ops: map[string]int{"Flatten": 0},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			wantDims(t, m.Graph.Proto.Output[0], "1", "10", "out_height", "out_width")
			wantDims(t, m.Graph.Proto.Input[0], "1", "3", "height", "width")
			// At 16x16 the head slides over a 4x4 map of pooled features: [1,10,3,3].
			opts := engine.Options{ShapesOnly: true, Dims: map[string]int{"height": 16, "width": 16}}
			p, err := engine.Compile(m.Graph, opts)
			if err != nil {
				t.Fatalf("compile at 16x16: %v", err)
			}
			if info, _ := p.Info(m.Graph.OutputNames()[0]); !slices.Equal(info.Shape, []int{1, 10, 3, 3}) {
				t.Errorf("output at 16x16 is %v, want [1 10 3 3]", info.Shape)
			}
		}}, eng: engine.Options{Dims: map[string]int{"height": 8, "width": 8}}})
	add(fcCase{name: "spatial-declined-constant-reshape", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 1, 3, 8, 8)
		r := b.Node("Reshape", []string{x, b.Init("fixed", i64(1, 3, 8, 8))})
		w := b.Init("trunk.weight", rnd(b, 16, 3, 3, 3))
		m := b.Node("Conv", []string{r, w}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
		y := gemmB(b, "fc", gapFlatten(b, m), 16, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, opts: Options{Spatial: true}, want: fcWant{applied: 1, ops: map[string]int{"Flatten": 1},
		declined: []string{`spatial: Reshape "Reshape_node_2" before the head has the constant shape [1 3 8 8]`, "keeping the flatten"},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			wantDims(t, m.Graph.Proto.Output[0], "1", "10")
			wantDims(t, m.Graph.Proto.Input[0], "1", "3", "8", "8")
		}}})

	// Spatial with an FC result that is also a graph output (the Conv output feeds the next Conv,
	// so the output is an Identity of it) and a Softmax after the last FC.
	add(fcCase{name: "spatial-two-outputs", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		h := gemmB(b, "fc1", f, 16, 12, true, []int{12})
		b.Output(h, tensor.Float, 1, 12)
		y := gemmB(b, "fc2", b.Node("Relu", []string{h}), 12, 4, true, []int{4})
		y = b.Node("Softmax", []string{y}, graph.IntAttr("axis", -1))
		b.Output(y, tensor.Float, 1, 4)
		return b
	}, opts: Options{Spatial: true}, want: fcWant{applied: 2, ops: map[string]int{"Flatten": 0, "Identity": 1, "Softmax": 1},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			wantDims(t, m.Graph.Proto.Output[0], "1", "12", "1", "1")
			wantDims(t, m.Graph.Proto.Output[1], "1", "4", "1", "1")
		}}, eng: engine.Options{Dims: map[string]int{"height": 8, "width": 8}}})
	// Spatial declined by the dynamic check: an FC of the trunk that stays (its weight is fed at run
	// time) reads the flattened map, so the graph cannot run at another size.
	add(fcCase{name: "spatial-declined-size-dependent", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		m := trunk(b, 1, 4)
		side := b.Node("MatMul", []string{b.Node("Flatten", []string{m}), b.Input("proj", tensor.Float, 256, 3)})
		b.Output(side, tensor.Float, 1, 3)
		y := gemmB(b, "fc", gapFlatten(b, m), 4, 10, true, []int{10})
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, opts: Options{Spatial: true}, want: fcWant{applied: 1, ops: map[string]int{"Flatten": 2, "MatMul": 1},
		declined: []string{"spatial: the graph does not infer shapes at twice the input size", "keeping the flatten"},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			wantDims(t, m.Graph.Proto.Output[1], "1", "10")
			wantDims(t, m.Graph.Proto.Input[0], "1", "3", "8", "8")
		}}})
	// Opset 11: Squeeze/Unsqueeze take axes as attributes.
	add(fcCase{name: "matmul-3d-all-opset11", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(11)
		x := b.Input("x", tensor.Float, 2, 5, 16)
		y := b.Node("MatMul", []string{b.Node("Relu", []string{b.Node("MatMul", []string{x, b.Init("w1", rnd(b, 16, 32))})}), b.Init("w2", rnd(b, 32, 8))})
		b.Output(y, tensor.Float, 2, 5, 8)
		return b
	}, opts: Options{Scope: "all"}, want: fcWant{applied: 2, ops: map[string]int{"MatMul": 0, "Transpose": 2, "Unsqueeze": 1, "Squeeze": 1},
		check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
			for _, n := range m.Graph.Nodes {
				if (n.OpType() == "Squeeze" || n.OpType() == "Unsqueeze") && (len(n.Inputs()) != 1 || n.Attr("axes") == nil) {
					t.Errorf("%v at opset 11 must carry its axes as an attribute", n)
				}
			}
		}}})
	// value_info of the values the rewrite removes goes; that of kept values stays.
	add(fcCase{name: "stale-value-info", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		m := trunk(b, 1, 16)
		f := gapFlatten(b, m)
		h := b.Node("Relu", []string{gemmB(b, "fc1", f, 16, 12, true, []int{12})})
		y := gemmB(b, "fc2", h, 12, 4, true, []int{4})
		b.Output(y, tensor.Float, 1, 4)
		g := b.Proto().Graph
		g.ValueInfo = append(g.ValueInfo, onnxbuild.ValueInfo(m, tensor.Float, 1, 16, 8, 8), onnxbuild.ValueInfo(f, tensor.Float, 1, 16),
			onnxbuild.ValueInfo(h, tensor.Float, 1, 12))
		return b
	}, want: fcWant{applied: 2, check: func(t *testing.T, m *graph.Model, r *rewrite.Report) {
		if len(m.Graph.Proto.ValueInfo) != 1 || m.Graph.Proto.ValueInfo[0].GetName() != "Relu_3" {
			var names []string
			for _, vi := range m.Graph.Proto.ValueInfo {
				names = append(names, vi.GetName())
			}
			t.Errorf("value_info %v, want only the trunk's Relu_3", names)
		}
	}}})

	// fp16 weights with a Cast to float32 (as some exporters leave them).
	add(fcCase{name: "cast-fp16-weights", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		w16 := tensor.New(tensor.Float16, 10, 16)
		for i, v := range rnd(b, 10, 16).F32 {
			w16.U16[i] = tensor.Float32ToHalf(v)
		}
		w := b.Node("Cast", []string{b.Init("fc.weight16", w16)}, graph.IntAttr("to", int64(tensor.Float)))
		y := b.Node("Gemm", []string{f, w, b.Init("fc.bias", rnd(b, 10))}, graph.IntAttr("transB", 1))
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{applied: 1, ops: map[string]int{"Cast": 0, "Gemm": 0}}})
	// An MLP over flattened [N,T,F] features (wake-word style): not a head; converted with --scope all.
	flatMLP := func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 2, 6, 5)
		h := b.Node("Relu", []string{gemmB(b, "fc1", b.Node("Flatten", []string{x}), 30, 16, true, []int{16})})
		y := gemmB(b, "fc2", h, 16, 3, true, []int{3})
		b.Output(y, tensor.Float, 2, 3)
		return b
	}
	add(fcCase{name: "flatten-3d-mlp-heads", build: flatMLP, want: fcWant{left: 2, declined: []string{"Flatten \"Flatten_node_2\" of a 3-D tensor [2 6 5]"}}})
	add(fcCase{name: "flatten-3d-mlp-all", build: flatMLP, opts: Options{Scope: "all"}, want: fcWant{applied: 2, ops: map[string]int{"Gemm": 0, "Flatten": 2, "Unsqueeze": 1}}})
	// Nodes listed out of topological order (some published models are).
	add(fcCase{name: "unsorted", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		h := b.Node("Relu", []string{gemmB(b, "fc1", f, 16, 12, true, []int{12})})
		y := gemmB(b, "fc2", h, 12, 4, true, []int{4})
		b.Output(y, tensor.Float, 1, 4)
		nodes := b.Proto().Graph.Node
		slices.Reverse(nodes)
		return b
	}, want: fcWant{applied: 2, ops: map[string]int{"Gemm": 0}}})

	// Declines.
	add(fcCase{name: "decline-transA", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 16, 2)
		y := b.Node("Gemm", []string{x, b.Init("w", rnd(b, 10, 16))}, graph.IntAttr("transA", 1), graph.IntAttr("transB", 1))
		b.Output(y, tensor.Float, 2, 10)
		return b
	}, opts: Options{Scope: "all"}, want: fcWant{left: 1, declined: []string{"transA=1"}}})
	add(fcCase{name: "decline-runtime-weight", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		w := b.Input("w", tensor.Float, 10, 16)
		y := b.Node("Gemm", []string{f, w}, graph.IntAttr("transB", 1))
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{declined: []string{`weight "w" is not a constant: "w" is a graph input, fed at run time`}}})
	add(fcCase{name: "decline-old-ir-weight", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		w := b.Init("fc.weight", rnd(b, 10, 16))
		b.Input("fc.weight", tensor.Float, 10, 16)
		y := b.Node("Gemm", []string{f, w}, graph.IntAttr("transB", 1))
		b.Output(y, tensor.Float, 1, 10)
		return b
	}, want: fcWant{declined: []string{`graph input whose initializer is only a default (an IR < 4 export)`}}})
	add(fcCase{name: "decline-bias-per-row", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 2, 16))
		y := gemmB(b, "fc", f, 16, 10, true, []int{2, 10})
		b.Output(y, tensor.Float, 2, 10)
		return b
	}, want: fcWant{left: 1, declined: []string{"varies per row"}}})
	add(fcCase{name: "decline-flatten-axis2", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 2, 8, 4, 4)
		f := b.Node("Flatten", []string{x}, graph.IntAttr("axis", 2))
		y := gemmB(b, "fc", f, 16, 10, true, []int{10})
		b.Output(y, tensor.Float, 16, 10)
		return b
	}, want: fcWant{left: 1, declined: []string{"with axis=2", "only axis=1"}}})
	add(fcCase{name: "decline-reduce-channels", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 2, 8, 4, 4)
		r := b.Node("ReduceMean", []string{x}, graph.IntsAttr("axes", 1, 2), graph.IntAttr("keepdims", 0))
		y := gemmB(b, "fc", r, 4, 10, true, []int{10})
		b.Output(y, tensor.Float, 2, 10)
		return b
	}, want: fcWant{left: 1, declined: []string{"over axes [1 2]", "not a global pooling"}}})
	add(fcCase{name: "decline-if-branch", build: func() *onnxbuild.Builder {
		b := onnxbuild.New(13)
		f := gapFlatten(b, trunk(b, 1, 16))
		cond := b.Input("cond", tensor.Bool)
		w := b.Init("fc.weight", rnd(b, 10, 16))
		branch := func(name string, transB int64) *onnxpb.GraphProto {
			return &onnxpb.GraphProto{
				Name: proto.String(name),
				Node: []*onnxpb.NodeProto{{Name: proto.String(name + "_gemm"), OpType: proto.String("Gemm"),
					Input: []string{f, w}, Output: []string{name + "_out"}, Attribute: []*onnxpb.AttributeProto{graph.IntAttr("transB", 1)}}},
				Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo(name+"_out", tensor.Float, 1, 10)},
			}
		}
		then, els := branch("then", 1), branch("else", 1)
		b.NodeOut("If", []string{cond}, []string{"y"},
			&onnxpb.AttributeProto{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: then},
			&onnxpb.AttributeProto{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: els})
		b.Output("y", tensor.Float, 1, 10)
		return b
	}, want: fcWant{left: 2, declined: []string{"inside an If branch", "not handled yet"}}})
	return cases
}

func onesPlus(t *tensor.Tensor) *tensor.Tensor {
	for i, v := range t.F32 {
		t.F32[i] = 1 + float32(math.Abs(float64(v)))
	}
	return t
}

func wantDims(t *testing.T, vi *onnxpb.ValueInfoProto, want ...string) {
	t.Helper()
	var got []string
	for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" {
			got = append(got, d.GetDimParam())
		} else {
			got = append(got, fmt.Sprint(d.GetDimValue()))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%q is declared %v, want %v", vi.GetName(), got, want)
	}
}

// runFC runs fc-to-conv alone on m, with eo binding the shapes it infers.
func runFC(m *graph.Model, opts Options, eo engine.Options, dryRun bool) (*rewrite.Outcome, error) {
	return rewrite.Run(m, []rewrite.Step{{Pass: Pass, Options: opts}}, rewrite.Input{Engine: eo, DryRun: dryRun})
}

func TestFCToConv(t *testing.T) {
	for _, c := range fcCases() {
		t.Run(c.name, func(t *testing.T) {
			b := c.build()
			orig, m := b.Model(), b.Model()
			out, err := runFC(m, c.opts, c.engine, false)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkFCStructure(t, orig, m, out.Report, c.want)
			checkOutputShapes(t, orig, m, c.engine, out)
			if c.want.check != nil {
				c.want.check(t, m, out.Report)
			}
			t.Run("numeric", func(t *testing.T) {
				eng := c.eng
				if eng.Dims == nil {
					eng.Dims = c.engine.Dims
				}
				if c.name == "decline-if-branch" {
					eng.InputShapes = nil
				}
				rep, err := compareModels(orig, m, verify.Options{Engine: eng, Seed: 7})
				skipIfUnsupported(t, err)
				if err != nil {
					t.Fatal(err)
				}
				expectEquivalent(t, rep)
			})
		})
	}
}

// checkOutputShapes: every graph output keeps its shape, except those the pass reshaped on purpose.
func checkOutputShapes(t *testing.T, orig, m *graph.Model, eo engine.Options, out *rewrite.Outcome) {
	t.Helper()
	before, err := rewrite.InferShapes(orig.Graph, eo)
	if err != nil {
		t.Fatal(err)
	}
	after, err := rewrite.InferShapes(m.Graph, out.Engine)
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatalf("the rewritten model does not infer with the dims the pass bound: %v", err)
	}
	if err := rewrite.CheckOutputShapes(before, after, out.Reshaped); err != nil {
		t.Error(err)
	}
}

func checkFCStructure(t *testing.T, orig, m *graph.Model, report *rewrite.Report, want fcWant) {
	t.Helper()
	var applied []rewrite.Application
	for _, a := range report.Applied {
		if a.Pass == Pass.Name {
			applied = append(applied, a)
		}
	}
	for _, a := range applied {
		t.Logf("applied: %s: %s (MACs %d -> %d) new %v", strings.Join(a.Replaced, ","), a.Detail, a.MACsBefore, a.MACsAfter, a.NewNodes)
	}
	for _, d := range report.Declined {
		t.Logf("declined: %s %s: %s", d.Op, d.Node, d.Reason)
	}
	if len(applied) != want.applied {
		t.Errorf("%d applications, want %d", len(applied), want.applied)
	}
	for i, k := range want.kernels {
		if i < len(applied) && k != "" && !strings.Contains(applied[i].Detail, "Conv "+k+" ") {
			t.Errorf("application %d: %q, want a Conv %s", i, applied[i].Detail, k)
		}
	}
	for _, a := range applied {
		if a.MACsBefore <= 0 || a.MACsAfter <= 0 {
			t.Errorf("%v: MACs %d -> %d", a.Replaced, a.MACsBefore, a.MACsAfter)
		}
		if len(a.NewNodes) == 0 || !strings.HasSuffix(a.NewNodes[0], "_conv") {
			t.Errorf("%v: new nodes %v, want a *_conv", a.Replaced, a.NewNodes)
		}
		for _, n := range a.NewNodes {
			if !slices.ContainsFunc(m.Graph.Nodes, func(c *graph.Node) bool { return c.Name() == n }) {
				t.Errorf("%v: reported new node %q is not in the graph", a.Replaced, n)
			}
		}
	}
	for _, w := range want.declined {
		found := false
		for _, d := range report.Declined {
			if strings.Contains(d.Reason, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no decline says %q", w)
		}
	}
	if left := constantFCs(m.Graph); len(left) != want.left {
		t.Errorf("%d FCs with constant weights left (%v), want %d", len(left), left, want.left)
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Nodes {
		ops[n.OpType()]++
	}
	for op, n := range want.ops {
		if ops[op] != n {
			t.Errorf("%d %s nodes, want %d (ops: %v)", ops[op], op, n, ops)
		}
	}
	// Graph outputs keep their names; every node input is defined; the graph is sorted.
	if !slices.Equal(orig.Graph.OutputNames(), m.Graph.OutputNames()) {
		t.Errorf("outputs %v, want %v", m.Graph.OutputNames(), orig.Graph.OutputNames())
	}
	if !m.Graph.IsSorted() {
		t.Error("the rewritten graph is not topologically sorted")
	}
	// A saved-and-reloaded model indexes cleanly (no dangling names).
	if _, err := graph.NewModel(proto.Clone(m.Proto).(*onnxpb.ModelProto), ""); err != nil {
		t.Errorf("rewritten model does not reload: %v", err)
	}
	for _, vi := range m.Graph.Proto.ValueInfo {
		if m.Graph.Value(vi.GetName()) == nil {
			t.Errorf("stale value_info %q", vi.GetName())
		}
	}
}

// constantFCs lists the Gemm/MatMul nodes of g (and its subgraphs) whose weight is a constant.
func constantFCs(g *graph.Graph) []string {
	var out []string
	g.Walk(func(n *graph.Node) {
		if (n.OpType() == "Gemm" || n.OpType() == "MatMul") && isConstChain(n.Graph, n.Input(1)) {
			out = append(out, n.DisplayName())
		}
	})
	return out
}

func skipIfUnsupported(t *testing.T, err error) {
	t.Helper()
	var u *engine.UnsupportedOpError
	if errors.As(err, &u) {
		t.Skipf("numeric check skipped until the engine runs it: %v", u)
	}
}

// compareModels runs both models on the same inputs with verify.Models, comparing outputs element
// by element whatever their shapes (--spatial makes [N,K] outputs [N,K,1,1]), each within 1e-4 of
// its largest magnitude.
func compareModels(ref, got *graph.Model, opts verify.Options) (*verify.Report, error) {
	opts.FlattenOutputs = true
	opts.Tolerances = verify.Tolerances{Default: verify.Tolerance{Rtol: 1e-4}}
	return verify.Models(ref, got, opts)
}

// expectEquivalent fails the test when an output of the comparison differs.
func expectEquivalent(t *testing.T, rep *verify.Report) {
	t.Helper()
	for _, o := range rep.Outputs {
		if !o.Pass {
			t.Errorf("output %q: %s; differs by %g (reference magnitude %g)", o.Name, o.Problem, o.MaxAbsError, o.RefMaxAbs)
		}
	}
}

// TestFCToConvSpatialOtherSize runs a spatial GAP head at another input size: it still matches
// the original model, which GAP makes size-independent too.
func TestFCToConvSpatialOtherSize(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	y := gemmB(b, "fc", f, 16, 10, true, []int{10})
	b.Output(y, tensor.Float, 1, 10)
	orig, m := b.Model(), b.Model()
	if _, err := runFC(m, Options{Spatial: true}, engine.Options{}, false); err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Tensor{"x": onnxbuild.Random(3, 1, 3, 20, 12)}
	rep, err := compareModels(orig, m, verify.Options{
		Engine: engine.Options{InputShapes: map[string][]int{"x": {1, 3, 20, 12}}}, Inputs: []map[string]*tensor.Tensor{feeds}})
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	expectEquivalent(t, rep)
}

// TestFCToConvDryRun: a dry run reports the same applications and figures and leaves the graph alone.
func TestFCToConvDryRun(t *testing.T) {
	for _, c := range fcCases() {
		if c.name != "vgg" && c.name != "matmul-nhwc-all" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			b := c.build()
			dry, wet := b.Model(), b.Model()
			before := proto.Clone(dry.Proto)
			dryOut, err := runFC(dry, c.opts, c.engine, true)
			if err != nil {
				t.Fatal(err)
			}
			rd := dryOut.Report
			if !proto.Equal(before, dry.Proto) {
				t.Error("the dry run edited the model")
			}
			wetOut, err := runFC(wet, c.opts, c.engine, false)
			if err != nil {
				t.Fatal(err)
			}
			rw := wetOut.Report
			if len(rd.Applied) != len(rw.Applied) || len(rd.Applied) == 0 {
				t.Fatalf("dry run applied %d, real run %d", len(rd.Applied), len(rw.Applied))
			}
			for i := range rd.Applied {
				d, w := rd.Applied[i], rw.Applied[i]
				if d.MACsBefore != w.MACsBefore || d.MACsAfter != w.MACsAfter || d.Detail != w.Detail {
					t.Errorf("dry %+v\nreal %+v", d, w)
				}
			}
		})
	}
}

// TestFCToConvCatchesCorruptWeights: the numeric comparison is what proves a rewrite right, so
// check that it catches a wrong one: transpose a converted weight's input features.
func TestFCToConvCatchesCorruptWeights(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	y := gemmB(b, "fc", f, 16, 16, true, []int{16})
	b.Output(y, tensor.Float, 1, 16)
	orig, m := b.Model(), b.Model()
	if _, err := runFC(m, Options{}, engine.Options{}, false); err != nil {
		t.Fatal(err)
	}
	init := m.Graph.Initializer("fc.weight_conv_w")
	if init == nil {
		t.Fatal("no converted weight fc.weight_conv_w")
	}
	w, err := tensor.FromProto(init, nil)
	if err != nil {
		t.Fatal(err)
	}
	w = w.Clone()
	bad := w.Clone()
	for o := 0; o < 16; o++ {
		for c := 0; c < 16; c++ {
			bad.F32[o*16+c] = w.F32[c*16+o]
		}
	}
	rep, err := compareModels(orig, m, verify.Options{Seed: 11})
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equivalent {
		t.Fatalf("the correct rewrite already differs by %g", rep.Outputs[0].MaxAbsError)
	}
	*init = *bad.ToProto(init.GetName())
	m2, err := graph.NewModel(m.Proto, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err = compareModels(orig, m2, verify.Options{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	worst := rep.Outputs[0]
	if rep.Equivalent {
		t.Fatalf("a transposed weight went unnoticed (difference %g, magnitude %g)", worst.MaxAbsError, worst.RefMaxAbs)
	}
	t.Logf("a transposed weight shows as a difference of %g (magnitude %g)", worst.MaxAbsError, worst.RefMaxAbs)
}

// TestFCToConvZoo runs the pass on every model of the zoo (FCCONV_ZOO=/work/shared/zoo).
func TestFCToConvZoo(t *testing.T) {
	dirs := zoo.Models(t)
	// Models whose heads must be fully converted in the default scope.
	headsClean := map[string]bool{"resnet18": true, "googlenet": true, "mobilenet_v2": true, "mobilenet_v3_small": true,
		"efficientnet_b0": true, "shufflenet_v2_x1_0": true, "squeezenet1_1": true}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		name := filepath.Base(dir)
		custom := strings.HasPrefix(name, "custom_")
		for _, scope := range []string{"heads", "all", "spatial", "all-spatial"} {
			if scope != "heads" && !custom && !headsClean[name] {
				continue
			}
			t.Run(name+"/"+scope, func(t *testing.T) {
				orig, err := graph.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				m, err := graph.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				opts := Options{Scope: scope}
				switch scope {
				case "spatial":
					opts = Options{Spatial: true}
				case "all-spatial":
					opts = Options{Scope: "all", Spatial: true}
				}
				out, err := runFC(m, opts, engine.Options{Dims: map[string]int{"batch": 1}}, false)
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				report := out.Report
				var before, after int64
				for _, a := range report.Applied {
					before += a.MACsBefore
					after += a.MACsAfter
					t.Logf("applied %s: %s", strings.Join(a.Replaced, ","), a.Detail)
				}
				for _, d := range report.Declined {
					t.Logf("declined %s %s: %s", d.Op, d.Node, d.Reason)
				}
				left := constantFCs(m.Graph)
				inHeads := headsLeft(m.Graph, left)
				if (custom || headsClean[name]) && len(inHeads) > 0 {
					t.Errorf("FCs left in heads: %v", inHeads)
				}
				if custom && strings.HasPrefix(scope, "all") && len(left) > 0 {
					t.Errorf("FCs with constant weights left with --scope all: %v", left)
				}
				in, _, err := tensor.ReadProtoFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
				if err != nil {
					t.Fatal(err)
				}
				eng := engine.Options{Dims: map[string]int{"batch": in.Shape[0], "height": in.Shape[len(in.Shape)-2], "width": in.Shape[len(in.Shape)-1]}}
				feeds := map[string]*tensor.Tensor{orig.Graph.InputNames()[0]: in}
				rep, err := compareModels(orig, m, verify.Options{Engine: eng, Inputs: []map[string]*tensor.Tensor{feeds}})
				skipIfUnsupported(t, err)
				if err != nil {
					t.Fatal(err)
				}
				var diff, scale float64
				for _, o := range rep.Outputs {
					diff, scale = max(diff, o.MaxAbsError), max(scale, o.RefMaxAbs)
				}
				t.Logf("%s %s: %d FCs converted, MACs %d -> %d, max diff %.3g (magnitude %.3g)", name, scope, len(report.Applied), before, after, diff, scale)
				fmt.Printf("ZOO %-28s %-8s converted %d  MACs %d -> %d  left %d  maxdiff %.3g (rel %.2g)\n", name, scope, len(report.Applied), before, after, len(left), diff, diff/scale)
				expectEquivalent(t, rep)
			})
		}
	}
}

// headsLeft keeps the FCs that read a pooled or flattened map (through the ops allowed between
// FCs), i.e. those the heads scope must convert.
func headsLeft(g *graph.Graph, left []string) []string {
	var out []string
	for _, name := range left {
		var n *graph.Node
		for _, c := range g.Nodes {
			if c.DisplayName() == name {
				n = c
			}
		}
		if n == nil {
			continue
		}
		x := n.Input(0)
		for range 20 {
			p := g.Producer(x)
			if p == nil {
				break
			}
			op := p.OpType()
			if op == "Flatten" || op == "GlobalAveragePool" || op == "ReduceMean" || op == "Squeeze" || op == "Reshape" {
				out = append(out, name)
				break
			}
			if !carriable(p) && op != "Gemm" && op != "MatMul" {
				break
			}
			x = p.Input(0)
		}
	}
	return out
}

// TestFCToConvThenAnotherPass: after --spatial makes the input size symbolic, a later pass still
// infers shapes (the pass binds "height" and "width" for the passes after it).
func TestFCToConvThenAnotherPass(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	y := gemmB(b, "fc", f, 16, 10, true, []int{10})
	b.Output(y, tensor.Float, 1, 10)
	m := b.Model()
	spatial := rewrite.Step{Pass: Pass, Options: Options{Spatial: true}}
	out, err := rewrite.Run(m, []rewrite.Step{spatial, spatial}, rewrite.Input{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Report.Applied) != 1 {
		t.Errorf("%d applications, want 1 (the second run has nothing left to convert)", len(out.Report.Applied))
	}
}

// named gives the last node built its own name, so that a fixture's expectations read clearly.
func named(b *onnxbuild.Builder, name string) {
	nodes := b.Proto().Graph.Node
	nodes[len(nodes)-1].Name = &name
}

// TestFCToConvFixture: one model, every verdict, in the manner of analysistest: a head whose
// second FC's weight sits behind Identity of a Constant node (a constant for the resolver all
// passes share), and an FC whose weight is fed at run time.
func TestFCToConvFixture(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	h := gemmB(b, "fc1", f, 16, 32, true, []int{32})
	named(b, "fc1")
	h = b.Node("Relu", []string{h})
	w2 := b.Node("Identity", []string{constNode(b, rnd(b, 32, 10))})
	y := b.Node("MatMul", []string{h, w2})
	named(b, "fc2")
	b.Output(y, tensor.Float, 1, 10)
	z := b.Node("Gemm", []string{h, b.Input("w_fed", tensor.Float, 32, 4)})
	named(b, "fc_fed")
	b.Output(z, tensor.Float, 1, 4)
	orig, m := b.Model(), b.Model()
	out := rewritetest.Run(t, m, rewrite.Step{Pass: Pass}, rewrite.Input{}, rewritetest.Want{
		Applied:  []string{"fc1", "fc2"},
		Declined: map[string]string{"fc_fed": `weight "w_fed" is not a constant: "w_fed" is a graph input, fed at run time`},
	})
	checkOutputShapes(t, orig, m, engine.Options{}, out)
	rep, err := compareModels(orig, m, verify.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	expectEquivalent(t, rep)
}
