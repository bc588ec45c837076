package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
)

// BenchmarkMaxPoolShapes times the float32 MaxPool shapes of googlenet, squeezenet and resnet.
func BenchmarkMaxPoolShapes(b *testing.B) {
	for _, c := range []struct {
		c, h, k, s, pad int
		ceil            bool
	}{
		{64, 112, 3, 2, 0, true}, {192, 56, 3, 2, 0, true}, {192, 28, 3, 1, 1, false}, {480, 14, 3, 1, 1, false},
		{480, 28, 3, 2, 0, true}, {832, 7, 3, 1, 1, false}, {832, 14, 2, 2, 0, true},
		{64, 112, 3, 2, 1, false}, {64, 111, 3, 2, 0, true}, {128, 55, 3, 2, 0, true}, {256, 27, 3, 2, 0, true},
	} {
		b.Run(fmt.Sprintf("%dx%d_k%ds%dp%d", c.c, c.h, c.k, c.s, c.pad), func(b *testing.B) {
			attrs := []*onnxpb.AttributeProto{nnAttrInts("kernel_shape", c.k, c.k), nnAttrInts("strides", c.s, c.s), nnAttrInts("pads", c.pad, c.pad, c.pad, c.pad)}
			if c.ceil {
				attrs = append(attrs, graph.IntAttr("ceil_mode", 1))
			}
			node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
			x := nnRandom(rand.New(rand.NewSource(1)), 1, c.c, c.h, c.h)
			w, p, err := poolCheck(node, Info{Shape: x.Shape}, c.ceil)
			if err != nil {
				b.Fatal(err)
			}
			p.axes = poolAxes(w, false, false)
			y := make([]float32, p.planes*w.outSize())
			b.ResetTimer()
			for range b.N {
				poolMax(p, x.F32, y)
			}
		})
	}
}
