package fctoconv

import (
	"slices"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
)

// formCases: export forms (opset 11, value_info, fp16 weights, flattened 3-D features, unsorted nodes).
func formCases() []fcCase {
	var cases []fcCase
	add := func(c fcCase) { cases = append(cases, c) }

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

	return cases
}
