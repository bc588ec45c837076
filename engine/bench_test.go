package engine

import (
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/graph/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// BenchmarkZoo times one run of each FCCONV_ZOO model (go test -bench Zoo/resnet18).
func BenchmarkZoo(b *testing.B) {
	for _, dir := range zooDirs(b) {
		b.Run(filepath.Base(dir), func(b *testing.B) {
			zm := loadZooModel(b, dir)
			var macs int64
			for _, m := range zm.prog.NodeMACs() {
				macs += m
			}
			b.ResetTimer()
			for range b.N {
				if _, err := zm.prog.Run(zm.inputs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// BenchmarkConv times typical CNN convolutions on their own and reports GFLOPS (2 per MAC).
func BenchmarkConv(b *testing.B) {
	cases := []struct {
		name                 string
		cin, cout, group, hw int
		k, stride, pad       int
	}{
		{"resnet_3x3_64", 64, 64, 1, 56, 3, 1, 1},
		{"resnet_3x3_256_s2", 128, 256, 1, 28, 3, 2, 1},
		{"resnet_3x3_512", 512, 512, 1, 7, 3, 1, 1},
		{"stem_7x7_s2", 3, 64, 1, 224, 7, 2, 3},
		{"pointwise_1x1_256_64", 256, 64, 1, 56, 1, 1, 0},
		{"depthwise_3x3_144", 144, 144, 144, 56, 3, 1, 1},
		{"depthwise_5x5_s2_240", 240, 240, 240, 28, 5, 2, 2},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x := nnRandom(r, 1, c.cin, c.hw, c.hw)
			w := nnRandom(r, c.cout, c.cin/c.group, c.k, c.k)
			bias := nnRandom(r, c.cout)
			attrs := []*onnxpb.AttributeProto{graph.IntAttr("group", int64(c.group)), nnAttrInts("strides", c.stride, c.stride),
				nnAttrInts("pads", c.pad, c.pad, c.pad, c.pad)}
			outs, build, err := nnRun(nnCase{op: "Conv", attrs: attrs, inputs: []*tensor.Tensor{x, w, bias}, constant: []bool{false, true, true}})
			if err != nil {
				b.Fatal(err)
			}
			in := []*tensor.Tensor{x, w, bias}
			b.ResetTimer()
			for range b.N {
				if err := build.Kernel(nil, in, outs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(build.MACs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
