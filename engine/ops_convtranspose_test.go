package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// convTransposeReference scatters every input value through the kernel, in float64.
func convTransposeReference(x, w, b *tensor.Tensor, group int, win *nnWindow) []float64 {
	r := win.rank()
	batch, cin := x.Shape[0], x.Shape[1]
	cinG, coutG := cin/group, w.Shape[1]
	cout := coutG * group
	inSize, outSize, taps := win.outSize(), win.inSize(), win.kernelSize()
	y := make([]float64, batch*cout*outSize)
	if b != nil {
		for i := range y {
			y[i] = float64(b.F32[i/outSize%cout])
		}
	}
	ipos, tap := make([]int, r), make([]int, r)
	for img := 0; img < batch; img++ {
		for c := 0; c < cin; c++ {
			g := c / cinG
			for i := 0; i < inSize; i++ {
				rem := i
				for d := r - 1; d >= 0; d-- {
					ipos[d] = rem % win.out[d]
					rem /= win.out[d]
				}
				xv := float64(x.F32[(img*cin+c)*inSize+i])
				for m := 0; m < coutG; m++ {
					for t := 0; t < taps; t++ {
						rem := t
						for d := r - 1; d >= 0; d-- {
							tap[d] = rem % win.kernel[d]
							rem /= win.kernel[d]
						}
						o, inside := 0, true
						for d := 0; d < r; d++ {
							p := ipos[d]*win.stride[d] + tap[d]*win.dilation[d] - win.padBegin[d]
							if p < 0 || p >= win.in[d] {
								inside = false
								break
							}
							o = o*win.in[d] + p
						}
						if inside {
							oc := g*coutG + m
							y[(img*cout+oc)*outSize+o] += xv * float64(w.F32[(c*coutG+m)*taps+t])
						}
					}
				}
			}
		}
	}
	return y
}

func TestConvTransposeRandom(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for iter := 0; iter < 200; iter++ {
		rank := 1 + r.Intn(3)
		group := 1 + r.Intn(2)
		cin, coutG := group*(1+r.Intn(3)), 1+r.Intn(3)
		xShape := []int{1 + r.Intn(2), cin}
		wShape := []int{cin, coutG}
		var strides, dils, pads, outPad []int
		for d := 0; d < rank; d++ {
			xShape = append(xShape, 1+r.Intn(5))
			wShape = append(wShape, 1+r.Intn(3))
			strides = append(strides, 1+r.Intn(3))
			dils = append(dils, 1+r.Intn(2))
			outPad = append(outPad, r.Intn(strides[d]))
		}
		for d := 0; d < 2*rank; d++ {
			pads = append(pads, r.Intn(2))
		}
		attrs := []*onnxpb.AttributeProto{graph.IntAttr("group", int64(group)), nnAttrInts("strides", strides...),
			nnAttrInts("dilations", dils...), nnAttrInts("output_padding", outPad...)}
		switch r.Intn(4) {
		case 0:
			attrs = append(attrs, graph.StringAttr("auto_pad", []string{"SAME_UPPER", "SAME_LOWER"}[r.Intn(2)]))
		case 1:
			var shape []int
			for d := 0; d < rank; d++ {
				shape = append(shape, strides[d]*(xShape[d+2]-1)+outPad[d]+(wShape[d+2]-1)*dils[d]+2-r.Intn(3))
			}
			attrs = append(attrs, nnAttrInts("output_shape", shape...))
		default:
			attrs = append(attrs, nnAttrInts("pads", pads...))
		}
		x, w := nnRandom(r, xShape...), nnRandom(r, wShape...)
		inputs := []*tensor.Tensor{x, w}
		var b *tensor.Tensor
		if r.Intn(2) == 0 {
			b = nnRandom(r, group*coutG)
			inputs = append(inputs, b)
		}
		node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
		win, err := convTransposeWindow(node, xShape[2:], wShape[2:])
		what := fmt.Sprintf("x%v w%v g%d s%v d%v op%v attrs %v", xShape, wShape, group, strides, dils, outPad, attrs[len(attrs)-1])
		if err != nil {
			continue // an output_shape too small for the padding
		}
		outs, _, err := nnRun(nnCase{op: "ConvTranspose", attrs: attrs, inputs: inputs, constant: []bool{false, r.Intn(2) == 0}})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want := convTransposeReference(x, w, b, group, win)
		nnCheckClose(t, what, outs[0], append([]int{xShape[0], group * coutG}, win.in...), want, 1e-5)
	}
}
