package engine

import (
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

func int8s(shape []int, v ...int8) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.Int8, Shape: shape, I8: v}
}

func TestQuantizeRoundsHalfToEvenAndSaturates(t *testing.T) {
	x := floats([]int{6}, 0.5, 1.5, 2.5, -0.5, 1000, -1000)
	got := nodeRun{opset: 10, op: "QuantizeLinear", inputs: []*tensor.Tensor{x, floats(nil, 1), int8s(nil, 0)}}.mustRun(t)
	if got.DType != tensor.Int8 {
		t.Fatalf("got %v, want int8 (the zero point's type)", got.DType)
	}
	expectValues(t, "int8", got, []int{6}, seq(0, 2, 2, 0, 127, -128))
	got = nodeRun{opset: 13, op: "QuantizeLinear", inputs: []*tensor.Tensor{x, floats(nil, 1)}}.mustRun(t)
	expectValues(t, "uint8 without zero point", got, []int{6}, seq(0, 2, 2, 0, 255, 0))
}

func TestQuantizePerAxisAndDequantize(t *testing.T) {
	x := floats([]int{2, 3}, 1, 2, 3, -1, -2, -3)
	scale := floats([]int{3}, 0.5, 1, 2)
	zero := int8s([]int{3}, 0, 10, -10)
	got := nodeRun{opset: 13, op: "QuantizeLinear", inputs: []*tensor.Tensor{x, scale, zero}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1)}}.mustRun(t)
	expectValues(t, "per-axis quantize", got, []int{2, 3}, seq(2, 12, -8, -2, 8, -12))
	back := nodeRun{opset: 13, op: "DequantizeLinear", inputs: []*tensor.Tensor{got, scale, zero}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", -1)}}.mustRun(t)
	expectValues(t, "per-axis dequantize", back, []int{2, 3}, seq(1, 2, 4, -1, -2, -4))
	if _, err := (nodeRun{opset: 10, op: "QuantizeLinear", inputs: []*tensor.Tensor{x, scale, zero}}).run(); err == nil {
		t.Error("a per-axis scale before opset 13 should fail")
	}
}

func TestQuantizeBlocked(t *testing.T) {
	// Opset 21: blocks of 2 along axis 1; the scale has shape [2, 2].
	x := floats([]int{2, 4}, 1, 2, 3, 4, 5, 6, 7, 8)
	scale := floats([]int{2, 2}, 1, 2, 4, 8)
	got := nodeRun{opset: 21, op: "QuantizeLinear", inputs: []*tensor.Tensor{x, scale}, attrs: []*onnxpb.AttributeProto{graph.IntAttr("axis", 1), graph.IntAttr("block_size", 2)}}.mustRun(t)
	expectValues(t, "blocked quantize", got, []int{2, 4}, seq(1, 2, 2, 2, 1, 2, 1, 1))
}

func TestDynamicQuantizeLinear(t *testing.T) {
	x := floats([]int{6}, 0, 2, -3, -2.5, 1.34, 0.5)
	outs, err := nodeRun{opset: 11, op: "DynamicQuantizeLinear", inputs: []*tensor.Tensor{x}, nOut: 3}.run()
	if err != nil {
		t.Fatal(err)
	}
	expectValues(t, "y", outs[0], []int{6}, seq(153, 255, 0, 26, 221, 179))
	expectValues(t, "scale", outs[1], []int{}, seq(float64(float32(5)/255)))
	expectValues(t, "zero point", outs[2], []int{}, seq(153))
	// All zeros: scale 0 must not divide by zero.
	outs, err = nodeRun{opset: 11, op: "DynamicQuantizeLinear", inputs: []*tensor.Tensor{floats([]int{2}, 0, 0)}, nOut: 3}.run()
	if err != nil {
		t.Fatal(err)
	}
	expectValues(t, "zeros", outs[0], []int{2}, seq(0, 0))
}
