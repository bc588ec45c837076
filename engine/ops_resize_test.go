package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// resizeReference evaluates every output value as the full N-D weighted sum over the product of
// the axes' taps (no separation into passes), in float64.
func resizeReference(x *tensor.Tensor, axes []*resizeAxis, outShape []int, extrapolation float64) []float64 {
	rank := len(outShape)
	out := make([]float64, tensor.NumElements(outShape))
	coord := make([]int, rank)
	for i := range out {
		rem := i
		for d := rank - 1; d >= 0; d-- {
			coord[d] = rem % outShape[d]
			rem /= outShape[d]
		}
		extrapolate := false
		for d := 0; d < rank; d++ {
			extrapolate = extrapolate || axes[d].extrapolate[coord[d]]
		}
		if extrapolate {
			out[i] = extrapolation
			continue
		}
		var sum func(d, flat int, w float64) float64
		sum = func(d, flat int, w float64) float64 {
			if d == rank {
				return w * float64(x.F32[flat])
			}
			ax := axes[d]
			s := 0.0
			for t := 0; t < ax.taps; t++ {
				k := coord[d]*ax.taps + t
				s += sum(d+1, flat*ax.inLen+ax.index[k], w*float64(ax.weight[k]))
			}
			return s
		}
		out[i] = sum(0, 0, 1)
	}
	return out
}

func TestResizeSeparablePasses(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	modes := []string{"nearest", "linear", "cubic"}
	coords := []string{"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize", "half_pixel_symmetric"}
	for iter := 0; iter < 100; iter++ {
		rank := 1 + r.Intn(4)
		shape := make([]int, rank)
		scales := make([]float32, rank)
		for d := range shape {
			shape[d] = 1 + r.Intn(5)
			scales[d] = []float32{1, 2, 0.5, 1.5, 3, 0.75}[r.Intn(6)]
			if float32(shape[d])*scales[d] < 1 {
				scales[d] = 1
			}
		}
		mode, coord := modes[r.Intn(3)], coords[r.Intn(len(coords))]
		attrs := []*onnxpb.AttributeProto{graph.StringAttr("mode", mode), graph.StringAttr("coordinate_transformation_mode", coord),
			graph.FloatAttr("extrapolation_value", -3)}
		if r.Intn(3) == 0 {
			attrs = append(attrs, graph.IntAttr("antialias", 1))
		}
		if r.Intn(3) == 0 {
			attrs = append(attrs, graph.IntAttr("exclude_outside", 1))
		}
		roi := make([]float32, 2*rank)
		for d := 0; d < rank; d++ {
			roi[d], roi[d+rank] = r.Float32()*0.4, 0.6+r.Float32()*0.5
		}
		x := nnRandom(r, shape...)
		inputs := []*tensor.Tensor{x, tensor.FromFloat32(roi, 2*rank), tensor.FromFloat32(scales, rank)}
		what := fmt.Sprintf("shape %v scales %v %s %s", shape, scales, mode, coord)
		outs, _, err := nnRun(nnCase{op: "Resize", opset: 19, attrs: attrs, inputs: inputs, constant: []bool{false, true, true}})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		// Rebuild the tables the node used, and sum over them directly.
		p := resizeParams{mode: mode, coordMode: coord, nearestMode: "round_prefer_floor", cubicA: -0.75,
			antialias: len(attrs) > 3 && attrs[3].GetName() == "antialias", extrapolationOn: coord == "tf_crop_and_resize"}
		for _, a := range attrs {
			if a.GetName() == "exclude_outside" {
				p.excludeOutside = true
			}
		}
		axes := make([]*resizeAxis, rank)
		for d := range axes {
			roiStart, roiEnd := 0.0, 1.0
			if p.extrapolationOn {
				roiStart, roiEnd = float64(roi[d]), float64(roi[d+rank])
			}
			s := float64(scales[d])
			axes[d], err = resizeAxisTable(shape[d], outs[0].Shape[d], s, s*float64(shape[d]), roiStart, roiEnd, p)
			if err != nil {
				t.Fatal(err)
			}
		}
		want := resizeReference(x, axes, outs[0].Shape, -3)
		nnCheckClose(t, what, outs[0], outs[0].Shape, want, 1e-5)
	}
}

func TestUpsampleLinearAndNearest(t *testing.T) {
	x := tensor.FromFloat32([]float32{1, 2, 3, 4}, 1, 1, 2, 2)
	scales := tensor.FromFloat32([]float32{1, 1, 2, 2}, 4)
	outs, _, err := nnRun(nnCase{op: "Upsample", opset: 9, attrs: []*onnxpb.AttributeProto{graph.StringAttr("mode", "linear")},
		inputs: []*tensor.Tensor{x, scales}, constant: []bool{false, true}})
	if err != nil {
		t.Fatal(err)
	}
	// Asymmetric coordinates, clamped at the far edge (as ONNX Runtime's Upsample).
	want := []float64{1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4}
	nnCheckClose(t, "Upsample linear", outs[0], []int{1, 1, 4, 4}, want, 1e-6)

	attrs := []*onnxpb.AttributeProto{nnAttrFloats("scales", 1, 1, 1, 3)}
	outs, _, err = nnRun(nnCase{op: "Upsample", opset: 7, attrs: attrs, inputs: []*tensor.Tensor{x}})
	if err != nil {
		t.Fatal(err)
	}
	want = []float64{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}
	nnCheckClose(t, "Upsample-7 nearest", outs[0], []int{1, 1, 2, 6}, want, 0)
}
