package fctoconv

import (
	"slices"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
)

// spatialCases: --spatial heads, made fully convolutional or declined with the reason.
func spatialCases() []fcCase {
	var cases []fcCase
	add := func(c fcCase) { cases = append(cases, c) }

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
	return cases
}
