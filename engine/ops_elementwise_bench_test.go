package engine

import (
	"fmt"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// benchNode compiles a one-node model over the given inputs (all graph inputs) and times Run.
func benchNode(b *testing.B, opset int64, op string, inputs []*tensor.Tensor, attrs ...*onnxpb.AttributeProto) {
	b.Helper()
	mb := onnxbuild.New(opset)
	names := make([]string, len(inputs))
	feeds := map[string]*tensor.Tensor{}
	for i, t := range inputs {
		names[i] = mb.Input(fmt.Sprintf("in%d", i), t.DType, t.Shape...)
		feeds[names[i]] = t
	}
	mb.NodeOut(op, names, []string{"out"}, attrs...)
	mb.Output("out", tensor.Float)
	prog, err := Compile(mb.Model().Graph, Options{})
	if err != nil {
		b.Fatal(err)
	}
	elems := 0
	for _, t := range inputs {
		elems = max(elems, t.Len())
	}
	b.SetBytes(int64(elems * 4))
	b.ResetTimer()
	for range b.N {
		if _, err := prog.Run(feeds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkElementwise(b *testing.B) {
	x := randomFloats(1, 1, 64, 112, 112) // 800K elements
	same := randomFloats(2, 1, 64, 112, 112)
	perChannel := randomFloats(3, 64, 1, 1)
	b.Run("Add/same", func(b *testing.B) { benchNode(b, 13, "Add", []*tensor.Tensor{x, same}) })
	b.Run("Add/per-channel", func(b *testing.B) { benchNode(b, 13, "Add", []*tensor.Tensor{x, perChannel}) })
	b.Run("Mul/same", func(b *testing.B) { benchNode(b, 13, "Mul", []*tensor.Tensor{x, same}) })
	b.Run("Mul/per-channel", func(b *testing.B) { benchNode(b, 13, "Mul", []*tensor.Tensor{x, randomFloats(3, 1, 64, 1, 1)}) }) // squeeze-excitation
	b.Run("Mul/scalar", func(b *testing.B) { benchNode(b, 13, "Mul", []*tensor.Tensor{x, floats(nil, 2)}) })
	for _, op := range []string{"Relu", "Sigmoid", "Tanh", "Exp", "Erf", "HardSwish"} {
		b.Run(op, func(b *testing.B) { benchNode(b, 14, op, []*tensor.Tensor{x}) })
	}
	b.Run("Softmax/attention", func(b *testing.B) { benchNode(b, 13, "Softmax", []*tensor.Tensor{randomFloats(4, 1, 12, 128, 128)}) })
	b.Run("Transpose/heads", func(b *testing.B) {
		benchNode(b, 13, "Transpose", []*tensor.Tensor{randomFloats(5, 1, 384, 12, 64)}, graph.IntsAttr("perm", 0, 2, 1, 3))
	})
	b.Run("Transpose/keys", func(b *testing.B) {
		benchNode(b, 13, "Transpose", []*tensor.Tensor{randomFloats(5, 1, 12, 384, 64)}, graph.IntsAttr("perm", 0, 1, 3, 2))
	})
	b.Run("Transpose/nchw-nhwc", func(b *testing.B) {
		benchNode(b, 13, "Transpose", []*tensor.Tensor{randomFloats(5, 1, 256, 56, 56)}, graph.IntsAttr("perm", 0, 2, 3, 1))
	})
	b.Run("ReduceMean/last", func(b *testing.B) {
		benchNode(b, 13, "ReduceMean", []*tensor.Tensor{randomFloats(6, 1, 384, 768)}, graph.IntsAttr("axes", -1))
	})
}
