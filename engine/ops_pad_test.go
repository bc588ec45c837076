package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// padReferenceIndex finds the source of output coordinate o along an axis of n elements padded
// by begin/end, walking reflections one step at a time (independent of the modulo arithmetic).
func padReferenceIndex(o, n, begin, end int, mode string) int {
	cropBegin := max(0, -begin)
	kept := n - cropBegin - max(0, -end)
	k := o - max(0, begin)
	if k >= 0 && k < kept {
		return k + cropBegin
	}
	switch mode {
	case "constant":
		return -1
	case "edge":
		return min(max(k, 0), kept-1) + cropBegin
	case "wrap":
		for k < 0 {
			k += kept
		}
		return k%kept + cropBegin
	}
	if kept == 1 {
		return cropBegin
	}
	for k < 0 || k >= kept { // reflect: bounce off the edges
		if k < 0 {
			k = -k
		}
		if k >= kept {
			k = 2*(kept-1) - k
		}
	}
	return k + cropBegin
}

func TestPadModes(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for iter := 0; iter < 200; iter++ {
		rank := 1 + r.Intn(3)
		shape := make([]int, rank)
		pads := make([]int, 2*rank)
		mode := []string{"constant", "edge", "reflect", "wrap"}[r.Intn(4)]
		for d := range shape {
			shape[d] = 1 + r.Intn(5)
			pads[d], pads[d+rank] = r.Intn(7)-2, r.Intn(7)-2
			for shape[d]+min(0, pads[d])+min(0, pads[d+rank]) < 1 {
				pads[d], pads[d+rank] = pads[d]+1, pads[d+rank]+1
			}
		}
		x := nnRandom(r, shape...)
		padsT := tensor.FromInt64(nnInts64(pads...), 2*rank)
		value := tensor.FromFloat32([]float32{2.5})
		attrs := []*onnxpb.AttributeProto{graph.StringAttr("mode", mode)}
		outs, _, err := nnRun(nnCase{op: "Pad", opset: 19, attrs: attrs, inputs: []*tensor.Tensor{x, padsT, value}, constant: []bool{false, true, true}})
		what := fmt.Sprintf("shape %v pads %v mode %s", shape, pads, mode)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		outShape := make([]int, rank)
		for d := range outShape {
			outShape[d] = shape[d] + pads[d] + pads[d+rank]
		}
		want := make([]float64, tensor.NumElements(outShape))
		coord := make([]int, rank)
		for i := range want {
			rem := i
			for d := rank - 1; d >= 0; d-- {
				coord[d] = rem % outShape[d]
				rem /= outShape[d]
			}
			flat, constant := 0, false
			for d := 0; d < rank; d++ {
				s := padReferenceIndex(coord[d], shape[d], pads[d], pads[d+rank], mode)
				if s < 0 {
					constant = true
					break
				}
				flat = flat*shape[d] + s
			}
			if constant {
				want[i] = 2.5
			} else {
				want[i] = float64(x.F32[flat])
			}
		}
		nnCheckClose(t, what, outs[0], outShape, want, 0)
	}
}

func TestPadOldOpsetAndAxes(t *testing.T) {
	x := &tensor.Tensor{DType: tensor.Int64, Shape: []int{2, 2}, I64: []int64{1, 2, 3, 4}}
	attrs := []*onnxpb.AttributeProto{nnAttrInts("pads", 0, 1, 0, 0), graph.FloatAttr("value", 7)}
	outs, _, err := nnRun(nnCase{op: "Pad", opset: 2, attrs: attrs, inputs: []*tensor.Tensor{x}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(outs[0].Shape, outs[0].I64); got != "[2 3] [7 1 2 7 3 4]" {
		t.Fatalf("opset 2 Pad: %s", got)
	}
	// Opset 18 axes: pad only axis -1 by (1, 2) with edge values.
	pads := tensor.FromInt64([]int64{1, 2}, 2)
	axes := tensor.FromInt64([]int64{-1}, 1)
	outs, _, err = nnRun(nnCase{op: "Pad", opset: 18, attrs: []*onnxpb.AttributeProto{graph.StringAttr("mode", "edge")},
		inputs: []*tensor.Tensor{x, pads, nil, axes}, constant: []bool{false, true, false, true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(outs[0].Shape, outs[0].I64); got != "[2 5] [1 1 2 2 2 3 3 4 4 4]" {
		t.Fatalf("opset 18 Pad with axes: %s", got)
	}
}
