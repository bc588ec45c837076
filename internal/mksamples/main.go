// Command mksamples writes the small sample models in testdata/ (run `go generate ./testdata`).
// They are built in code with seeded random weights, so they are reproducible byte for byte.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mksamples TESTDATA_DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if err := writeClassifier(filepath.Join(dir, "sample")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// writeClassifier writes a small VGG-style classifier: two conv blocks on a 3x32x32 image, then a
// head of two fully-connected layers over the flattened 16x8x8 map — the shape fc-to-conv turns into
// an 8x8 conv followed by a 1x1 conv.
func writeClassifier(dir string) error {
	b := onnxbuild.New(13)
	x := b.Input("image", tensor.Float, 1, 3, 32, 32)
	h := convBlock(b, x, 3, 8, 1)
	h = convBlock(b, h, 8, 16, 2)
	flat := b.Node("Flatten", []string{h}, graph.IntAttr("axis", 1))
	w1 := b.Init("fc1.weight", scaled(onnxbuild.Random(3, 64, 16*8*8), 0.03))
	b1 := b.Init("fc1.bias", scaled(onnxbuild.Random(4, 64), 0.1))
	h = b.Node("Gemm", []string{flat, w1, b1}, graph.IntAttr("transB", 1))
	h = b.Node("Relu", []string{h})
	w2 := b.Init("fc2.weight", scaled(onnxbuild.Random(5, 10, 64), 0.1))
	b2 := b.Init("fc2.bias", scaled(onnxbuild.Random(6, 10), 0.1))
	b.NodeOut("Gemm", []string{h, w2, b2}, []string{"logits"}, graph.IntAttr("transB", 1))
	b.Output("logits", tensor.Float, 1, 10)
	if err := os.MkdirAll(filepath.Join(dir, "test_data_set_0"), 0o755); err != nil {
		return err
	}
	data, err := proto.Marshal(b.Proto())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "classifier.onnx"), data, 0o644); err != nil {
		return err
	}
	return tensor.WriteProtoFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"), "image", onnxbuild.Random(7, 1, 3, 32, 32))
}

var blocks int

// convBlock is Conv 3x3 (pad 1) -> Relu -> MaxPool 2x2.
func convBlock(b *onnxbuild.Builder, x string, cin, cout int, seed int64) string {
	blocks++
	w := b.Init(fmt.Sprintf("conv%d.weight", blocks), scaled(onnxbuild.Random(10*seed, cout, cin, 3, 3), 0.3))
	bias := b.Init(fmt.Sprintf("conv%d.bias", blocks), scaled(onnxbuild.Random(10*seed+1, cout), 0.1))
	h := b.Node("Conv", []string{x, w, bias}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
	h = b.Node("Relu", []string{h})
	return b.Node("MaxPool", []string{h}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2))
}

func scaled(t *tensor.Tensor, s float32) *tensor.Tensor {
	for i := range t.F32 {
		t.F32[i] *= s
	}
	return t
}
