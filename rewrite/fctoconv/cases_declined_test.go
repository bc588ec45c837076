package fctoconv

import (
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// declinedCases: FCs the pass leaves alone, with the reason.
func declinedCases() []fcCase {
	var cases []fcCase
	add := func(c fcCase) { cases = append(cases, c) }

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
