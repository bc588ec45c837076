package fctoconv

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
)

// scopeAllCases: MLPs, [B,T,C] and channels-last FCs, declined in heads scope, converted with --scope all.
func scopeAllCases() []fcCase {
	var cases []fcCase
	add := func(c fcCase) { cases = append(cases, c) }

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

	return cases
}
