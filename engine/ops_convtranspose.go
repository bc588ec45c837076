package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"

	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("ConvTranspose", buildConvTranspose)
}

// ConvTranspose is the adjoint of a convolution: each input value spreads, weighted by the
// kernel, over a window of the output. Per image and group it is one GEMM,
// col[Mg*taps, HWin] = W_g^T[Mg*taps, Cg] x X_g[Cg, HWin], then col2im adds every column's
// window into the output.

// convTransposePlan is a compiled ConvTranspose.
type convTransposePlan struct {
	batch, cin, cout, group int
	cinG, coutG             int
	win                     *nnWindow // the forward conv from the output (its input) to X (its output)
	rows                    int       // coutG * taps
	packed                  []*gemm.PackedA
	cols                    *nnScratch
	threads                 int // goroutines the kernel may use
}

func buildConvTranspose(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 2, 3); err != nil {
		return nil, err
	}
	for i, name := range []string{"X", "W", "B"} {
		if i < len(in) && !in[i].Absent {
			if err := nnFloatInput(in, i, name); err != nil {
				return nil, err
			}
		}
	}
	x, w := in[0].Shape, in[1].Shape
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("X %v and W %v must be [N, C, spatial...] and [C, M/group, kernel...] of the same rank", x, w)
	}
	p := &convTransposePlan{batch: x[0], cin: x[1], group: int(n.AttrInt("group", 1)), threads: n.Threads}
	if p.group < 1 || p.cin%p.group != 0 || w[0] != p.cin {
		return nil, fmt.Errorf("W %v must have the %d input channels of X first, and group %d must divide them", w, p.cin, p.group)
	}
	p.cinG, p.coutG = p.cin/p.group, w[1]
	p.cout = p.coutG * p.group
	win, err := convTransposeWindow(n, x[2:], w[2:])
	if err != nil {
		return nil, err
	}
	p.win = win
	p.rows = p.coutG * win.kernelSize()
	if nnOptional(in, 2) && (len(in[2].Shape) != 1 || in[2].Shape[0] != p.cout) {
		return nil, fmt.Errorf("bias B has shape %v; it needs [%d]", in[2].Shape, p.cout)
	}
	outShape := append([]int{p.batch, p.cout}, win.in...)
	weights := in[1].Const
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: outShape}},
		MACs:    int64(p.batch) * int64(p.cin) * int64(win.outSize()) * int64(p.rows),
		Prepare: func() Kernel {
			p.prepare(weights)
			return convKernel(p.run)
		},
	}, nil
}

// prepare packs constant weights (nil when W is computed at run time) and sizes the scratch.
func (p *convTransposePlan) prepare(weights *tensor.Tensor) {
	if weights != nil {
		p.packed = make([]*gemm.PackedA, p.group)
		for g := range p.packed {
			p.packed[g] = gemm.PackA(true, p.rows, p.cinG, weights.F32[g*p.cinG*p.rows:], p.rows)
		}
	}
	p.cols = newNNScratch(p.rows * p.win.outSize())
}

// convTransposeWindow sizes the output and returns the window of the forward convolution that
// maps the output (as its input) to X (as its output).
func convTransposeWindow(n *Node, in, kernel []int) (*nnWindow, error) {
	r := len(in)
	w := &nnWindow{out: append([]int{}, in...), in: make([]int, r), padBegin: make([]int, r), padEnd: make([]int, r)}
	if ks := n.AttrInts("kernel_shape", nil); ks != nil && !tensor.SameShape(nnInts(ks), kernel) {
		return nil, fmt.Errorf("kernel_shape %v does not match the weight's spatial shape %v", ks, kernel)
	}
	w.kernel = append([]int{}, kernel...)
	var err error
	if w.stride, err = nnPositiveInts(n, "strides", r); err != nil {
		return nil, err
	}
	if w.dilation, err = nnPositiveInts(n, "dilations", r); err != nil {
		return nil, err
	}
	outPad := make([]int, r)
	if op := n.AttrInts("output_padding", nil); op != nil {
		if len(op) != r {
			return nil, fmt.Errorf("output_padding %v must have one value per spatial dim (%d)", op, r)
		}
		outPad = nnInts(op)
	}
	autoPad := n.AttrString("auto_pad", "NOTSET")
	outShape := n.AttrInts("output_shape", nil)
	if len(outShape) == r+2 {
		outShape = outShape[2:]
	}
	if outShape != nil && len(outShape) != r {
		return nil, fmt.Errorf("output_shape %v must have one value per spatial dim (%d)", outShape, r)
	}
	for i := 0; i < r; i++ {
		full := w.stride[i]*(in[i]-1) + outPad[i] + w.effectiveKernel(i) // output size without padding
		switch {
		case outShape != nil || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER":
			w.in[i] = in[i] * w.stride[i]
			if outShape != nil {
				w.in[i] = int(outShape[i])
			}
			// A negative total (an output_shape beyond the full size) pads like output_padding:
			// halves round down, as in the ONNX reference, so the extra lands at the end.
			total := full - w.in[i]
			half := total >> 1 // floor(total / 2), also for negative totals
			if autoPad == "SAME_UPPER" {
				w.padBegin[i] = half
			} else {
				w.padBegin[i] = total - half
			}
			w.padEnd[i] = total - w.padBegin[i]
		case autoPad == "NOTSET" || autoPad == "" || autoPad == "VALID":
			if pads := n.AttrInts("pads", nil); pads != nil && autoPad != "VALID" {
				if len(pads) != 2*r {
					return nil, fmt.Errorf("pads %v must have 2 values per spatial dim (%d)", pads, 2*r)
				}
				w.padBegin[i], w.padEnd[i] = int(pads[i]), int(pads[i+r])
			}
			w.in[i] = full - w.padBegin[i] - w.padEnd[i]
		default:
			return nil, fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", autoPad)
		}
		if w.in[i] < 1 {
			return nil, fmt.Errorf("spatial dim %d of the output would be %d", i, w.in[i])
		}
	}
	return w, nil
}

func (p *convTransposePlan) run(x, w, bias, y []float32) {
	inSize, outSize := p.win.outSize(), p.win.inSize() // X's plane, Y's plane
	buf := p.cols.get()
	defer p.cols.put(buf)
	col := *buf
	for img := 0; img < p.batch; img++ {
		for g := 0; g < p.group; g++ {
			xg := x[(img*p.cin+g*p.cinG)*inSize : (img*p.cin+(g+1)*p.cinG)*inSize]
			if p.packed != nil {
				gemm.SgemmPackedA(p.threads, p.packed[g], inSize, xg, inSize, false, 0, col, inSize)
			} else {
				wg := w[g*p.cinG*p.rows : (g+1)*p.cinG*p.rows]
				gemm.Sgemm(p.threads, true, false, p.rows, inSize, p.cinG, wg, p.rows, xg, inSize, 0, col, inSize)
			}
			yg := y[(img*p.cout+g*p.coutG)*outSize : (img*p.cout+(g+1)*p.coutG)*outSize]
			taps := p.win.kernelSize()
			workers.ForRange(p.threads, p.coutG, workers.Grain(taps*inSize), func(lo, hi int) {
				for m := lo; m < hi; m++ {
					plane := yg[m*outSize : (m+1)*outSize]
					var b float32
					if bias != nil {
						b = bias[g*p.coutG+m]
					}
					for i := range plane {
						plane[i] = b
					}
					p.win.col2imAdd(col[m*taps*inSize:(m+1)*taps*inSize], plane, 1)
				}
			})
		}
	}
}
