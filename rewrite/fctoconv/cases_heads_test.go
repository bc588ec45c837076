package fctoconv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
)

// headCases: the classifier heads of the default scope, every entry and FC form.
func headCases() []fcCase {
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

	return cases
}
