package engine

import (
	"fmt"

	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("Pad", buildPad)
}

// buildPad compiles Pad of any element type. Before opset 11 the pads and the value are
// attributes; from 11 they are inputs (pads must be a compile-time constant, since it decides the
// output shape), and opset 18 adds an axes input. Negative pads crop; the crop happens first and
// the padding modes (constant, edge, reflect, wrap) then see the cropped data.
func buildPad(n *Node, in []Info) (*Build, error) {
	if len(in) < 1 || in[0].Absent {
		return nil, fmt.Errorf("input data is required")
	}
	data := in[0]
	rank := len(data.Shape)
	mode := n.AttrString("mode", "constant")
	switch mode {
	case "constant", "edge", "reflect":
	case "wrap":
		if n.Opset < 19 {
			return nil, fmt.Errorf("mode wrap needs opset 19, the model imports %d", n.Opset)
		}
	default:
		return nil, fmt.Errorf("mode %q is not one of constant, edge, reflect, wrap", mode)
	}
	pads, err := padReadPads(n, in, rank)
	if err != nil {
		return nil, err
	}
	if err := padSane(n, data, pads); err != nil {
		return nil, err
	}
	p, err := newPadPlan(data.Shape, pads, mode)
	if err != nil {
		return nil, err
	}
	var attrValue float32
	if n.Opset < 11 {
		attrValue = n.AttrFloat("value", 0)
	} else if nnOptional(in, 2) && in[2].DType != data.DType {
		return nil, fmt.Errorf("constant_value is %v; it must have the data's type %v", in[2].DType, data.DType)
	}
	return &Build{
		Outputs: []Info{{DType: data.DType, Shape: p.outShape}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			var value *tensor.Tensor
			if len(ins) > 2 && ins[2] != nil && ins[2].Len() > 0 && n.Opset >= 11 {
				value = ins[2]
			}
			return padRun(p, ins[0], outs[0], value, attrValue)
		},
	}, nil
}

// padReadPads returns [begin_0..begin_{r-1}, end_0..end_{r-1}] for all axes.
func padReadPads(n *Node, in []Info, rank int) ([]int, error) {
	var raw []int64
	if n.Opset < 11 {
		raw = n.AttrInts("pads", nil)
		if raw == nil {
			raw = n.AttrInts("paddings", nil) // opset 1
		}
		if raw == nil {
			return nil, fmt.Errorf("the pads attribute is required")
		}
	} else {
		if len(in) < 2 || in[1].Absent {
			return nil, fmt.Errorf("input pads is required")
		}
		if in[1].Const == nil {
			return nil, fmt.Errorf("input pads must be a constant: it decides the output shape, which the engine computes at compile time")
		}
		raw = in[1].Const.Int64s()
	}
	axes := make([]int, rank)
	for i := range axes {
		axes[i] = i
	}
	if n.Opset >= 18 && len(in) > 3 && !in[3].Absent {
		if in[3].Const == nil {
			return nil, fmt.Errorf("input axes must be a constant")
		}
		axes = axes[:0]
		for _, a := range in[3].Const.Int64s() {
			if a < 0 {
				a += int64(rank)
			}
			if a < 0 || a >= int64(rank) {
				return nil, fmt.Errorf("axis %d is out of range for rank %d", a, rank)
			}
			axes = append(axes, int(a))
		}
	}
	if len(raw) != 2*len(axes) {
		return nil, fmt.Errorf("pads has %d values; it needs 2 per padded axis (%d)", len(raw), 2*len(axes))
	}
	pads := make([]int, 2*rank)
	for i, a := range axes {
		pads[a], pads[a+rank] = int(raw[i]), int(raw[i+len(axes)])
	}
	return pads, nil
}

// padPlan maps every output coordinate of each axis to an input coordinate, or -1 for the
// constant value.
type padPlan struct {
	inShape, outShape []int
	source            [][]int
	// middle is the range of the last axis copied straight from the input, starting at middleSrc.
	middleLo, middleHi, middleSrc int
}

func newPadPlan(shape, pads []int, mode string) (*padPlan, error) {
	rank := len(shape)
	p := &padPlan{inShape: shape, outShape: make([]int, rank), source: make([][]int, rank)}
	for d := 0; d < rank; d++ {
		begin, end := pads[d], pads[d+rank]
		cropBegin, cropEnd := max(0, -begin), max(0, -end)
		kept := shape[d] - cropBegin - cropEnd
		p.outShape[d] = shape[d] + begin + end
		if kept < 0 || p.outShape[d] < 0 {
			return nil, fmt.Errorf("pads %d and %d on axis %d crop more than its %d elements", begin, end, d, shape[d])
		}
		if kept == 0 && p.outShape[d] > 0 && mode != "constant" {
			return nil, fmt.Errorf("mode %s cannot pad axis %d, which has no elements left", mode, d)
		}
		padBegin := max(0, begin)
		src := make([]int, p.outShape[d])
		for o := range src {
			k := o - padBegin
			if k < 0 || k >= kept {
				k = padSourceIndex(k, kept, mode)
			}
			if k >= 0 {
				k += cropBegin
			}
			src[o] = k
		}
		p.source[d] = src
		if d == rank-1 {
			p.middleLo, p.middleHi, p.middleSrc = padBegin, padBegin+kept, cropBegin
		}
	}
	return p, nil
}

// padSourceIndex maps a position k outside [0, n) to the element it repeats, or -1 (constant).
func padSourceIndex(k, n int, mode string) int {
	switch mode {
	case "edge":
		return min(max(k, 0), n-1)
	case "wrap":
		return ((k % n) + n) % n
	case "reflect":
		if n == 1 {
			return 0
		}
		period := 2 * (n - 1)
		k = ((k % period) + period) % period
		if k >= n {
			k = period - k
		}
		return k
	}
	return -1
}

func padRun(p *padPlan, in, out, value *tensor.Tensor, attrValue float32) error {
	switch in.DType {
	case tensor.Float:
		v := attrValue
		if value != nil {
			v = value.F32[0]
		}
		padTyped(p, in.F32, out.F32, v)
	case tensor.Double:
		v := float64(attrValue)
		if value != nil {
			v = value.F64[0]
		}
		padTyped(p, in.F64, out.F64, v)
	case tensor.Int64:
		v := int64(attrValue)
		if value != nil {
			v = value.I64[0]
		}
		padTyped(p, in.I64, out.I64, v)
	case tensor.Int32:
		v := int32(attrValue)
		if value != nil {
			v = value.I32[0]
		}
		padTyped(p, in.I32, out.I32, v)
	case tensor.Uint8:
		v := uint8(attrValue)
		if value != nil {
			v = value.U8[0]
		}
		padTyped(p, in.U8, out.U8, v)
	case tensor.Int8:
		v := int8(attrValue)
		if value != nil {
			v = value.I8[0]
		}
		padTyped(p, in.I8, out.I8, v)
	case tensor.Bool:
		v := attrValue != 0
		if value != nil {
			v = value.B[0]
		}
		padTyped(p, in.B, out.B, v)
	case tensor.Float16, tensor.BFloat16:
		v := tensor.Float32ToHalf(attrValue)
		if in.DType == tensor.BFloat16 {
			v = tensor.Float32ToBFloat16(attrValue)
		}
		if value != nil {
			v = value.U16[0]
		}
		padTyped(p, in.U16, out.U16, v)
	default:
		return fmt.Errorf("Pad does not support element type %v", in.DType)
	}
	return nil
}

// padTyped fills the output row by row along the last axis.
func padTyped[T any](p *padPlan, src, dst []T, value T) {
	rank := len(p.outShape)
	if rank == 0 {
		copy(dst, src)
		return
	}
	if len(dst) == 0 {
		return
	}
	last := rank - 1
	rowLen, inRowLen := p.outShape[last], p.inShape[last]
	rows := len(dst) / max(rowLen, 1)
	coord := make([]int, last)
	for row := 0; row < rows; row++ {
		out := dst[row*rowLen : (row+1)*rowLen]
		// Input row for this output row, or none when an outer axis is in the constant padding.
		inRow, inside := 0, true
		for d := 0; d < last; d++ {
			s := p.source[d][coord[d]]
			if s < 0 {
				inside = false
				break
			}
			inRow = inRow*p.inShape[d] + s
		}
		if !inside {
			for i := range out {
				out[i] = value
			}
		} else {
			in := src[inRow*inRowLen : (inRow+1)*inRowLen]
			for j := 0; j < p.middleLo; j++ {
				out[j] = padPick(in, p.source[last][j], value)
			}
			copy(out[p.middleLo:p.middleHi], in[p.middleSrc:])
			for j := p.middleHi; j < rowLen; j++ {
				out[j] = padPick(in, p.source[last][j], value)
			}
		}
		for d := last - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < p.outShape[d] {
				break
			}
			coord[d] = 0
		}
	}
}

func padPick[T any](row []T, i int, value T) T {
	if i < 0 {
		return value
	}
	return row[i]
}
