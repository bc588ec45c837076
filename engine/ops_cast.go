package engine

import (
	"fmt"
	"strings"

	"github.com/fcconv/fcconv/graph/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// This file holds Cast and CastLike, the element conversions they need (also used by other ops,
// e.g. Pow on mixed types), typed access to tensor data for generic kernels, and halfAsFloat, which
// lets a float32 kernel run float16/bfloat16 tensors.

func init() {
	register("Cast", buildCast)
	register("CastLike", buildCastLike)
}

func buildCast(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	to, err := castTarget(n)
	if err != nil {
		return nil, err
	}
	return castBuild(n, in[0], to)
}

// castTarget reads attribute to: a type number, or in opset 1 a type name such as "FLOAT".
func castTarget(n *Node) (tensor.DType, error) {
	a := n.Attr("to")
	if a == nil {
		return 0, fmt.Errorf("Cast has no attribute to (the target type)")
	}
	if a.GetType() == onnxpb.AttributeProto_STRING {
		v, ok := onnxpb.TensorProto_DataType_value[strings.ToUpper(string(a.S))]
		if !ok {
			return 0, fmt.Errorf("attribute to of Cast names an unknown type %q", a.S)
		}
		return tensor.DType(v), nil
	}
	return tensor.DType(a.GetI()), nil
}

func buildCastLike(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 2, 2); err != nil {
		return nil, err
	}
	return castBuild(n, in[0], in[1].DType)
}

func castBuild(n *Node, x Info, to tensor.DType) (*Build, error) {
	if err := checkType(n, x.DType, "the input"); err != nil {
		return nil, err
	}
	if err := checkType(n, to, "the target type"); err != nil {
		return nil, err
	}
	outputs := []Info{{DType: to, Shape: cloneShape(x.Shape)}}
	if x.DType == to { // a cast to the same type changes nothing: share the data
		return &Build{Outputs: outputs, Views: map[int]int{0: 0}}, nil
	}
	return &Build{
		Outputs: outputs,
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			castInto(in[0], out[0])
			return nil
		},
	}, nil
}

// number is the set of Go types that hold the engine's numeric tensor data.
type number interface {
	~float32 | ~float64 | ~int64 | ~int32 | ~int8 | ~uint8
}

// dataOf returns t's data slice of Go element type T (the slice its DType uses).
func dataOf[T any](t *tensor.Tensor) []T {
	var zero T
	var s any
	switch any(zero).(type) {
	case float32:
		s = t.F32
	case float64:
		s = t.F64
	case int64:
		s = t.I64
	case int32:
		s = t.I32
	case int8:
		s = t.I8
	case uint8:
		s = t.U8
	case bool:
		s = t.B
	case uint16:
		s = t.U16
	}
	return s.([]T)[:t.Len()]
}

func isHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// castTo returns t converted to dtype dt (t itself when it already has that type).
func castTo(t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	if t.DType == dt {
		return t
	}
	out := tensor.New(dt, t.Shape...)
	castInto(t, out)
	return out
}

// castInto converts src into dst, which has src's shape and the target dtype. Floats become
// integers by truncation toward zero (as C casts do); anything nonzero becomes true.
func castInto(src, dst *tensor.Tensor) {
	switch {
	case src.DType == dst.DType:
		copy(bytesOf(dst), bytesOf(src))
	case isHalf(src.DType):
		wide := dst
		if dst.DType != tensor.Float {
			wide = tensor.New(tensor.Float, src.Shape...)
		}
		widenHalf(src, wide.F32)
		if wide != dst {
			castInto(wide, dst)
		}
	case isHalf(dst.DType):
		narrowHalf(castTo(src, tensor.Float).F32, dst)
	case src.DType == tensor.Bool:
		castBools(src.B[:src.Len()], dst)
	case dst.DType == tensor.Bool:
		castToBools(src, dst.B[:dst.Len()])
	default:
		castNumbers(src, dst)
	}
}

func widenHalf(src *tensor.Tensor, dst []float32) {
	bits := src.U16[:src.Len()]
	conv := tensor.HalfToFloat32
	if src.DType == tensor.BFloat16 {
		conv = tensor.BFloat16ToFloat32
	}
	parallelFor(len(dst), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = conv(bits[i])
		}
	})
}

func narrowHalf(src []float32, dst *tensor.Tensor) {
	bits := dst.U16[:dst.Len()]
	conv := tensor.Float32ToHalf
	if dst.DType == tensor.BFloat16 {
		conv = tensor.Float32ToBFloat16
	}
	parallelFor(len(bits), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			bits[i] = conv(src[i])
		}
	})
}

// castNumbers converts between the Go numeric types: a dispatch on the source type, then on the
// destination type, to a generic loop.
func castNumbers(src, dst *tensor.Tensor) {
	switch src.DType {
	case tensor.Float:
		castFrom(dataOf[float32](src), dst)
	case tensor.Double:
		castFrom(dataOf[float64](src), dst)
	case tensor.Int64:
		castFrom(dataOf[int64](src), dst)
	case tensor.Int32:
		castFrom(dataOf[int32](src), dst)
	case tensor.Int8:
		castFrom(dataOf[int8](src), dst)
	case tensor.Uint8:
		castFrom(dataOf[uint8](src), dst)
	default:
		panic(fmt.Sprintf("engine: cannot cast from %v", src.DType))
	}
}

func castFrom[S number](src []S, dst *tensor.Tensor) {
	switch dst.DType {
	case tensor.Float:
		convertSlice(src, dataOf[float32](dst))
	case tensor.Double:
		convertSlice(src, dataOf[float64](dst))
	case tensor.Int64:
		convertSlice(src, dataOf[int64](dst))
	case tensor.Int32:
		convertSlice(src, dataOf[int32](dst))
	case tensor.Int8:
		convertSlice(src, dataOf[int8](dst))
	case tensor.Uint8:
		convertSlice(src, dataOf[uint8](dst))
	default:
		panic(fmt.Sprintf("engine: cannot cast to %v", dst.DType))
	}
}

func convertSlice[S, D number](src []S, dst []D) {
	parallelFor(len(dst), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = D(src[i])
		}
	})
}

func castBools(src []bool, dst *tensor.Tensor) {
	switch dst.DType {
	case tensor.Float:
		boolsTo(src, dataOf[float32](dst))
	case tensor.Double:
		boolsTo(src, dataOf[float64](dst))
	case tensor.Int64:
		boolsTo(src, dataOf[int64](dst))
	case tensor.Int32:
		boolsTo(src, dataOf[int32](dst))
	case tensor.Int8:
		boolsTo(src, dataOf[int8](dst))
	case tensor.Uint8:
		boolsTo(src, dataOf[uint8](dst))
	default:
		panic(fmt.Sprintf("engine: cannot cast bool to %v", dst.DType))
	}
}

func boolsTo[D number](src []bool, dst []D) {
	for i, b := range src {
		dst[i] = 0
		if b {
			dst[i] = 1
		}
	}
}

func castToBools(src *tensor.Tensor, dst []bool) {
	switch src.DType {
	case tensor.Float:
		nonzero(dataOf[float32](src), dst)
	case tensor.Double:
		nonzero(dataOf[float64](src), dst)
	case tensor.Int64:
		nonzero(dataOf[int64](src), dst)
	case tensor.Int32:
		nonzero(dataOf[int32](src), dst)
	case tensor.Int8:
		nonzero(dataOf[int8](src), dst)
	case tensor.Uint8:
		nonzero(dataOf[uint8](src), dst)
	default:
		panic(fmt.Sprintf("engine: cannot cast %v to bool", src.DType))
	}
}

func nonzero[S number](src []S, dst []bool) {
	for i, v := range src {
		dst[i] = v != 0 // NaN is nonzero: true, as in C
	}
}

// halfAsFloat wraps the builder of an op defined on float32 so that it also runs float16 and
// bfloat16 tensors: such inputs are widened to float32, the op is built and run in float32, and its
// float32 outputs are rounded back to the half type. Models converted to float16 then verify
// against their float32 originals with float32 arithmetic inside each op, as ONNX Runtime's CPU
// provider does for most ops.
func halfAsFloat(b Builder) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		half := tensor.Undefined
		wide := make([]Info, len(in))
		for i, info := range in {
			wide[i] = info
			if info.Absent || !isHalf(info.DType) {
				continue
			}
			if half != tensor.Undefined && half != info.DType {
				return nil, fmt.Errorf("%s mixes %v and %v inputs", n.OpType(), half, info.DType)
			}
			half = info.DType
			wide[i].DType = tensor.Float
			if info.Const != nil {
				wide[i].Const = castTo(info.Const, tensor.Float)
			}
		}
		if half == tensor.Undefined {
			return b(n, in)
		}
		build, err := b(n, wide)
		if err != nil {
			return nil, err
		}
		return narrowOutputs(build, wide, half), nil
	}
}

// narrowOutputs turns a float32 build into one whose float32 outputs are of type half.
func narrowOutputs(build *Build, wide []Info, half tensor.DType) *Build {
	narrow := make([]bool, len(build.Outputs))
	outs := make([]Info, len(build.Outputs))
	for i, o := range build.Outputs {
		outs[i] = o
		if _, isView := build.Views[i]; isView || o.DType != tensor.Float {
			continue
		}
		narrow[i] = true
		outs[i].DType = half
		if o.Const != nil {
			outs[i].Const = castTo(o.Const, half)
		}
	}
	makeKernel := build.kernelMaker()
	narrowed := func() Kernel {
		kernel := makeKernel()
		return func(rc *RunContext, in, out []*tensor.Tensor) error {
			win := make([]*tensor.Tensor, len(in))
			for i, t := range in {
				win[i] = t
				if t != nil && isHalf(t.DType) && wide[i].DType == tensor.Float {
					win[i] = castTo(t, tensor.Float)
				}
			}
			wout := make([]*tensor.Tensor, len(out))
			for i, t := range out {
				wout[i] = t
				if t != nil && narrow[i] {
					wout[i] = tensor.New(tensor.Float, t.Shape...)
				}
			}
			if err := kernel(rc, win, wout); err != nil {
				return err
			}
			for i, t := range out {
				if t != nil && narrow[i] {
					castInto(wout[i], t)
				}
			}
			return nil
		}
	}
	return &Build{Outputs: outs, Prepare: narrowed, Views: build.Views, MACs: build.MACs}
}
