package engine

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// poolReference pools window by window in float64. It returns the values and, for max, the
// row-major flat index of each maximum.
func poolReference(x *tensor.Tensor, w *nnWindow, average, countPad bool) ([]float64, []int64) {
	r := w.rank()
	planes := x.Shape[0] * x.Shape[1]
	inSize, outSize, taps := w.inSize(), w.outSize(), w.kernelSize()
	out := make([]float64, planes*outSize)
	idx := make([]int64, planes*outSize)
	opos, tap := make([]int, r), make([]int, r)
	for pl := 0; pl < planes; pl++ {
		for o := 0; o < outSize; o++ {
			rem := o
			for d := r - 1; d >= 0; d-- {
				opos[d] = rem % w.out[d]
				rem /= w.out[d]
			}
			best, bestAt, sum, count, padded := math.Inf(-1), -1, 0.0, 0, 0
			for t := 0; t < taps; t++ {
				rem := t
				for d := r - 1; d >= 0; d-- {
					tap[d] = rem % w.kernel[d]
					rem /= w.kernel[d]
				}
				flat, inside, inPadded := 0, true, true
				for d := 0; d < r; d++ {
					i := opos[d]*w.stride[d] + tap[d]*w.dilation[d] - w.padBegin[d]
					if i < -w.padBegin[d] || i >= w.in[d]+w.padEnd[d] {
						inPadded = false
					}
					if i < 0 || i >= w.in[d] {
						inside = false
					}
					flat = flat*w.in[d] + i
				}
				if inPadded {
					padded++
				}
				if !inside {
					continue
				}
				v := x.At(pl*inSize + flat)
				sum += v
				count++
				if v > best {
					best, bestAt = v, flat
				}
			}
			if average {
				if countPad {
					count = padded
				}
				out[pl*outSize+o] = sum / float64(count)
			} else {
				out[pl*outSize+o] = best
				idx[pl*outSize+o] = int64(pl*inSize + bestAt)
			}
		}
	}
	return out, idx
}

func TestPoolRandomConfigs(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for iter := 0; iter < 300; iter++ {
		rank := 1 + r.Intn(3)
		shape := []int{1 + r.Intn(2), 1 + r.Intn(3)}
		var kernel, strides, dil, pads []int
		for d := 0; d < rank; d++ {
			k := 1 + r.Intn(3)
			kernel = append(kernel, k)
			strides = append(strides, 1+r.Intn(3))
			dil = append(dil, 1+r.Intn(2))
		}
		for d := 0; d < 2*rank; d++ {
			pads = append(pads, r.Intn(kernel[d%rank]))
		}
		for d := 0; d < rank; d++ {
			// Inputs may be smaller than the window when the padding makes up for it.
			shape = append(shape, max(1, (kernel[d]-1)*dil[d]+1-pads[d]-pads[d+rank]+r.Intn(8)))
		}
		average := r.Intn(2) == 0
		countPad := average && r.Intn(2) == 0
		ceil := r.Intn(3) == 0
		autoPad := []string{"NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"}[r.Intn(5)]
		attrs := []*onnxpb.AttributeProto{nnAttrInts("kernel_shape", kernel...), nnAttrInts("strides", strides...),
			graph.StringAttr("auto_pad", autoPad), nnAttrInts("dilations", dil...)}
		if autoPad == "NOTSET" {
			attrs = append(attrs, nnAttrInts("pads", pads...))
		}
		if ceil {
			attrs = append(attrs, graph.IntAttr("ceil_mode", 1))
		}
		op := "MaxPool"
		if average {
			op = "AveragePool"
			if countPad {
				attrs = append(attrs, graph.IntAttr("count_include_pad", 1))
			}
		}
		x := nnRandom(r, shape...)
		what := fmt.Sprintf("%s x%v k%v s%v d%v p%v %s ceil=%v countPad=%v", op, shape, kernel, strides, dil, pads, autoPad, ceil, countPad)
		node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
		w, err := nnWindowAttrs(node, shape[2:], nil, ceil && autoPad == "NOTSET")
		if err != nil {
			continue // e.g. a kernel larger than the input with this padding
		}
		outShape := append([]int{shape[0], shape[1]}, w.out...)
		want, wantIdx := poolReference(x, w, average, countPad)
		outputs := 1
		if !average && r.Intn(2) == 0 {
			outputs = 2
		}
		outs, _, err := nnRun(nnCase{op: op, attrs: attrs, inputs: []*tensor.Tensor{x}, outputs: outputs})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		nnCheckClose(t, what, outs[0], outShape, want, 1e-6)
		if outputs == 2 {
			for i, v := range outs[1].I64 {
				if v != wantIdx[i] {
					t.Fatalf("%s: index %d is %d, want %d", what, i, v, wantIdx[i])
				}
			}
		}
	}
}

func TestMaxPoolUint8AndColumnMajorIndices(t *testing.T) {
	x := &tensor.Tensor{DType: tensor.Uint8, Shape: []int{1, 1, 2, 3}, U8: []uint8{1, 9, 3, 4, 5, 6}}
	attrs := []*onnxpb.AttributeProto{nnAttrInts("kernel_shape", 2, 2), graph.IntAttr("storage_order", 1)}
	outs, _, err := nnRun(nnCase{op: "MaxPool", attrs: attrs, inputs: []*tensor.Tensor{x}, outputs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].U8; got[0] != 9 || got[1] != 9 {
		t.Fatalf("max %v, want [9 9]", got)
	}
	// 9 is at (h=0, w=1): column-major index h + w*H = 2.
	if got := outs[1].I64; got[0] != 2 || got[1] != 2 {
		t.Fatalf("indices %v, want [2 2]", got)
	}
	outs, _, err = nnRun(nnCase{op: "MaxPool", attrs: attrs[:1], inputs: []*tensor.Tensor{x}})
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].U8; got[0] != 9 || got[1] != 9 {
		t.Fatalf("separable max %v, want [9 9]", got)
	}
}

func TestGlobalPools(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	x := nnRandom(r, 2, 3, 4, 5, 2)
	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		outs, _, err := nnRun(nnCase{op: op, inputs: []*tensor.Tensor{x}})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, 6)
		for c := range want {
			m, s := math.Inf(-1), 0.0
			for _, v := range x.F32[c*40 : (c+1)*40] {
				m, s = math.Max(m, float64(v)), s+float64(v)
			}
			want[c] = s / 40
			if op == "GlobalMaxPool" {
				want[c] = m
			}
		}
		nnCheckClose(t, op, outs[0], []int{2, 3, 1, 1, 1}, want, 1e-6)
	}
}

// TestMaxPoolWideRows covers the vector paths, which need rows of 8 and more, and the
// whole-plane path of 3x3 stride-1 "same" pooling on small planes.
func TestMaxPoolWideRows(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	for _, c := range []struct{ h, w, stride int }{{20, 37, 1}, {20, 37, 2}, {2, 2, 1}, {2, 9, 1}, {9, 2, 1}, {3, 3, 1}, {7, 7, 1}} {
		stride := c.stride
		x := nnRandom(r, 1, 2, c.h, c.w)
		attrs := []*onnxpb.AttributeProto{nnAttrInts("kernel_shape", 3, 3), nnAttrInts("strides", stride, stride), nnAttrInts("pads", 1, 1, 1, 1)}
		outs, _, err := nnRun(nnCase{op: "MaxPool", attrs: attrs, inputs: []*tensor.Tensor{x}})
		if err != nil {
			t.Fatal(err)
		}
		node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
		w, _ := nnWindowAttrs(node, x.Shape[2:], nil, false)
		want, _ := poolReference(x, w, false, false)
		nnCheckClose(t, fmt.Sprintf("%v", c), outs[0], append([]int{1, 2}, w.out...), want, 0)
	}
}

// TestMaxPoolStride2Vector checks the vector paths of 2x2 and 3x3 MaxPool (stride 1 and 2, with
// padding, ceil_mode, odd and even sizes, maps smaller than a vector or the window) against the
// window-by-window reference.
func TestMaxPoolStride2Vector(t *testing.T) {
	r := rand.New(rand.NewSource(17))
	sizes := []int{1, 2, 3, 5, 7, 8, 9, 14, 15, 16, 17, 18, 28, 33}
	for iter := 0; iter < 600; iter++ {
		h, w := sizes[r.Intn(len(sizes))], sizes[r.Intn(len(sizes))]
		k := 2 + r.Intn(2)
		stride := 1 + r.Intn(2)
		if r.Intn(4) != 0 {
			stride = 2
		}
		pads := []int{r.Intn(k), r.Intn(k), r.Intn(k), r.Intn(k)}
		if r.Intn(3) == 0 {
			pads = []int{0, 0, 0, 0}
		}
		if iter%3 == 0 { // Inception's 3x3 stride-1 "same" pooling, over runs of planes
			k, stride, pads = 3, 1, []int{1, 1, 1, 1}
		}
		ceil := r.Intn(2) == 0
		attrs := []*onnxpb.AttributeProto{nnAttrInts("kernel_shape", k, k), nnAttrInts("strides", stride, stride), nnAttrInts("pads", pads...)}
		if ceil {
			attrs = append(attrs, graph.IntAttr("ceil_mode", 1))
		}
		node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
		x := nnRandom(r, 1, 1+r.Intn(120), h, w)
		win, err := nnWindowAttrs(node, x.Shape[2:], nil, ceil)
		if err != nil {
			continue
		}
		what := fmt.Sprintf("x%v k%d s%d p%v ceil=%v", x.Shape, k, stride, pads, ceil)
		outs, _, err := nnRun(nnCase{op: "MaxPool", attrs: attrs, inputs: []*tensor.Tensor{x}})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		want, _ := poolReference(x, win, false, false)
		nnCheckClose(t, what, outs[0], append([]int{x.Shape[0], x.Shape[1]}, win.out...), want, 0)
	}
}
