package engine

import (
	"fmt"
	"math"

	"github.com/fcconv/fcconv/tensor"
)

// This file holds QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear for uint8 and int8.
// Scales and zero points are per tensor (one value), per axis (opset 13 on: one value per slice
// along attribute axis) or per block (opset 21: attribute block_size consecutive elements along
// axis share one). Quantizing divides in float32, rounds half to even and saturates, as the ONNX
// reference and ONNX Runtime do.

func init() {
	register("QuantizeLinear", halfAsFloat(buildQuantizeLinear))
	register("DequantizeLinear", halfAsFloat(buildDequantizeLinear))
	register("DynamicQuantizeLinear", buildDynamicQuantizeLinear)
}

// quantLayout maps each element of x to the index of its scale and zero point. x is seen as
// [outer, axisDim, inner]; element (o, a, i) uses parameter (o*paramAxis + a/block)*paramInner + i,
// where per-tensor has everything 0 but block = axisDim, and per-axis has paramInner 0.
type quantLayout struct {
	outer, axisDim, inner int
	block                 int // elements along the axis that share a parameter
	paramAxis             int // the parameter tensor's size along the axis
	paramOuter            bool
	paramInner            bool // parameters vary along the inner dims (blocked layout)
}

// param returns the parameter index for (o, a) and whether it advances along the inner dims.
func (l *quantLayout) param(o, a int) int {
	idx := a / l.block
	if l.paramOuter {
		idx += o * l.paramAxis
	}
	if l.paramInner {
		idx *= l.inner
	}
	return idx
}

// planQuant works out the layout from x's shape and the scale's, and checks the zero point's
// shape matches the scale's.
func planQuant(n *Node, x, scale Info, zeroPoint *Info) (*quantLayout, error) {
	if zeroPoint != nil && !tensor.SameShape(zeroPoint.Shape, scale.Shape) {
		return nil, fmt.Errorf("the zero point of %s has shape %v, but the scale has shape %v", n.OpType(), zeroPoint.Shape, scale.Shape)
	}
	blockSize := int(n.AttrInt("block_size", 0))
	if tensor.NumElements(scale.Shape) == 1 && len(scale.Shape) <= 1 && blockSize == 0 {
		total := tensor.NumElements(x.Shape)
		return &quantLayout{outer: 1, axisDim: total, inner: 1, block: max(total, 1), paramAxis: 1}, nil
	}
	if n.Opset < 13 {
		return nil, fmt.Errorf("the scale of %s must be a scalar before opset 13, it has shape %v", n.OpType(), scale.Shape)
	}
	if len(x.Shape) == 0 {
		return nil, fmt.Errorf("a per-axis scale of %s needs an input with dims, got a scalar", n.OpType())
	}
	axis, err := normAxis(n.AttrInt("axis", 1), len(x.Shape), "attribute axis")
	if err != nil {
		return nil, err
	}
	l := &quantLayout{
		outer:   tensor.NumElements(x.Shape[:axis]),
		axisDim: x.Shape[axis],
		inner:   tensor.NumElements(x.Shape[axis+1:]),
		block:   1,
	}
	if blockSize <= 0 {
		if len(scale.Shape) != 1 || scale.Shape[0] != l.axisDim {
			return nil, fmt.Errorf("the scale of %s has shape %v; per-axis quantization along axis %d needs shape [%d]", n.OpType(), scale.Shape, axis, l.axisDim)
		}
		l.paramAxis = l.axisDim
		return l, nil
	}
	want := cloneShape(x.Shape)
	want[axis] = (x.Shape[axis] + blockSize - 1) / blockSize
	if !tensor.SameShape(scale.Shape, want) {
		return nil, fmt.Errorf("the scale of %s has shape %v; blocks of %d along axis %d need shape %v", n.OpType(), scale.Shape, blockSize, axis, want)
	}
	l.block, l.paramAxis, l.paramOuter, l.paramInner = blockSize, want[axis], true, true
	return l, nil
}

// quantType is the quantized type of a node: the zero point's, else attribute output_dtype
// (opset 21), else uint8.
func quantType(n *Node, in []Info) (tensor.DType, error) {
	dt := tensor.Uint8
	if present(in, 2) {
		dt = in[2].DType
	} else if n.Attr("output_dtype") != nil && n.AttrInt("output_dtype", 0) != 0 {
		dt = tensor.DType(n.AttrInt("output_dtype", 0))
	}
	if dt != tensor.Uint8 && dt != tensor.Int8 {
		return 0, fmt.Errorf("%s to %v is not supported; fcconv's engine quantizes to uint8 and int8", n.OpType(), dt)
	}
	return dt, nil
}

func buildQuantizeLinear(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 2, 3); err != nil {
		return nil, err
	}
	x, scale := in[0], in[1]
	if err := typeIn(n, x.DType, "the input", tensor.Float, tensor.Int32); err != nil {
		return nil, err
	}
	if err := typeIn(n, scale.DType, "the scale", tensor.Float); err != nil {
		return nil, err
	}
	qt, err := quantType(n, in)
	if err != nil {
		return nil, err
	}
	var zp *Info
	if present(in, 2) {
		zp = &in[2]
	}
	l, err := planQuant(n, x, scale, zp)
	if err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{{DType: qt, Shape: cloneShape(x.Shape)}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			xs := castTo(n.Threads, in[0], tensor.Float).F32
			zero := zeroPoints(in, 2)
			lo, hi := quantRange(out[0].DType)
			q := make([]int32, len(xs))
			quantWalk(l, func(o, a, p, start, n int, step int) {
				for i := 0; i < n; i++ {
					s := in[1].F32[p+i*step]
					v := float64(roundHalfEven32(xs[start+i]/s)) + float64(zero(p+i*step))
					q[start+i] = int32(min(max(v, lo), hi))
				}
			})
			storeQuantized(q, out[0])
			return nil
		},
	}, nil
}

func buildDequantizeLinear(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 2, 3); err != nil {
		return nil, err
	}
	x, scale := in[0], in[1]
	if err := typeIn(n, x.DType, "the input", tensor.Uint8, tensor.Int8, tensor.Int32); err != nil {
		return nil, err
	}
	if err := typeIn(n, scale.DType, "the scale", tensor.Float); err != nil {
		return nil, err
	}
	var zp *Info
	if present(in, 2) {
		zp = &in[2]
		if zp.DType != x.DType {
			return nil, fmt.Errorf("the zero point of DequantizeLinear is %v but the input is %v; they must match", zp.DType, x.DType)
		}
	}
	l, err := planQuant(n, x, scale, zp)
	if err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: cloneShape(x.Shape)}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			xs := quantizedValues(in[0])
			zero := zeroPoints(in, 2)
			y := out[0].F32
			quantWalk(l, func(o, a, p, start, n int, step int) {
				for i := 0; i < n; i++ {
					y[start+i] = float32(xs[start+i]-zero(p+i*step)) * in[1].F32[p+i*step]
				}
			})
			return nil
		},
	}, nil
}

// quantWalk calls fn for each run of elements sharing the (o, a) position: the run starts at
// element start, has n elements, and its parameters start at index p, advancing by step.
func quantWalk(l *quantLayout, fn func(o, a, p, start, n, step int)) {
	step := 0
	if l.paramInner {
		step = 1
	}
	if l.block == l.axisDim && !l.paramOuter && !l.paramInner { // per tensor: one run
		fn(0, 0, 0, 0, l.outer*l.axisDim*l.inner, 0)
		return
	}
	for o := 0; o < l.outer; o++ {
		for a := 0; a < l.axisDim; a++ {
			fn(o, a, l.param(o, a), (o*l.axisDim+a)*l.inner, l.inner, step)
		}
	}
}

// zeroPoints returns the zero point at a parameter index (0 when the input is absent).
func zeroPoints(in []*tensor.Tensor, i int) func(int) int32 {
	if i >= len(in) || in[i] == nil {
		return func(int) int32 { return 0 }
	}
	vals := quantizedValues(in[i])
	return func(j int) int32 { return vals[j] }
}

// quantizedValues widens uint8, int8 or int32 data to int32.
func quantizedValues(t *tensor.Tensor) []int32 {
	switch t.DType {
	case tensor.Int32:
		return t.I32[:t.Len()]
	case tensor.Uint8:
		out := make([]int32, t.Len())
		for i, v := range t.U8[:t.Len()] {
			out[i] = int32(v)
		}
		return out
	case tensor.Int8:
		out := make([]int32, t.Len())
		for i, v := range t.I8[:t.Len()] {
			out[i] = int32(v)
		}
		return out
	}
	panic(fmt.Sprintf("engine: %v is not a quantized type", t.DType))
}

func quantRange(dt tensor.DType) (lo, hi float64) {
	if dt == tensor.Int8 {
		return -128, 127
	}
	return 0, 255
}

func storeQuantized(q []int32, out *tensor.Tensor) {
	if out.DType == tensor.Int8 {
		for i, v := range q {
			out.I8[i] = int8(v)
		}
		return
	}
	for i, v := range q {
		out.U8[i] = uint8(v)
	}
}

// roundHalfEven32 rounds a float32 to the nearest integer, ties to even (numpy.rint, C nearbyint).
func roundHalfEven32(v float32) float32 { return float32(math.RoundToEven(float64(v))) }

// buildDynamicQuantizeLinear builds DynamicQuantizeLinear: uint8 quantization of x with the scale
// and zero point that map [min(x, 0), max(x, 0)] onto [0, 255].
func buildDynamicQuantizeLinear(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if err := typeIn(n, x.DType, "the input", tensor.Float); err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{
			{DType: tensor.Uint8, Shape: cloneShape(x.Shape)},
			{DType: tensor.Float, Shape: []int{}},
			{DType: tensor.Uint8, Shape: []int{}},
		},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			xs := in[0].F32[:in[0].Len()]
			lo, hi := float32(0), float32(0)
			for _, v := range xs {
				lo, hi = min(lo, v), max(hi, v)
			}
			scale := (hi - lo) / 255
			var zero float32
			if scale != 0 {
				zero = min(max(roundHalfEven32((0-lo)/scale), 0), 255)
			}
			for i, v := range xs {
				q := zero
				if scale != 0 {
					q = min(max(roundHalfEven32(v/scale)+zero, 0), 255)
				}
				out[0].U8[i] = uint8(q)
			}
			if out[1] != nil {
				out[1].F32[0] = scale
			}
			if out[2] != nil {
				out[2].U8[0] = uint8(zero)
			}
			return nil
		},
	}, nil
}
