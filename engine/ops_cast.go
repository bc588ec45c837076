package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"strings"

	"github.com/fcconv/fcconv/onnxpb"
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
			castInto(n.Threads, in[0], out[0])
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

// castTo returns t converted to dtype dt (t itself when it already has that type), on up to
// threads goroutines.
func castTo(threads int, t *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	if t.DType == dt {
		return t
	}
	out := tensor.New(dt, t.Shape...)
	castInto(threads, t, out)
	return out
}

// castInto converts src into dst, which has src's shape and the target dtype, on up to threads
// goroutines. Floats become integers by truncation toward zero (as C casts do); anything nonzero
// becomes true.
func castInto(threads int, src, dst *tensor.Tensor) {
	switch {
	case src.DType == dst.DType:
		copy(bytesOf(dst), bytesOf(src))
	case isHalf(src.DType):
		wide := dst
		if dst.DType != tensor.Float {
			wide = tensor.New(tensor.Float, src.Shape...)
		}
		widenHalf(threads, src, wide.F32)
		if wide != dst {
			castInto(threads, wide, dst)
		}
	case isHalf(dst.DType):
		narrowHalf(threads, castTo(threads, src, tensor.Float).F32, dst)
	case src.DType == tensor.Bool:
		numberTypeOf(dst.DType).fromBools(src.B[:src.Len()], dst)
	case dst.DType == tensor.Bool:
		numberTypeOf(src.DType).toBools(src, dst.B[:dst.Len()])
	default:
		numberTypeOf(dst.DType).castFrom(threads, src, dst)
	}
}

func widenHalf(threads int, src *tensor.Tensor, dst []float32) {
	bits := src.U16[:src.Len()]
	conv := tensor.HalfToFloat32
	if src.DType == tensor.BFloat16 {
		conv = tensor.BFloat16ToFloat32
	}
	workers.ForRange(threads, len(dst), workers.Grain(1), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = conv(bits[i])
		}
	})
}

func narrowHalf(threads int, src []float32, dst *tensor.Tensor) {
	bits := dst.U16[:dst.Len()]
	conv := tensor.Float32ToHalf
	if dst.DType == tensor.BFloat16 {
		conv = tensor.Float32ToBFloat16
	}
	workers.ForRange(threads, len(bits), workers.Grain(1), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			bits[i] = conv(src[i])
		}
	})
}

// numberType holds the conversions into and out of one Go number type, instantiated from generic
// loops. numberTypes maps each number dtype to its own, so a conversion needs no switch of its own
// on the destination's type.
type numberType struct {
	castFrom  func(threads int, src, dst *tensor.Tensor) // src of any number dtype into dst
	fromBools func(src []bool, dst *tensor.Tensor)       // false, true into 0, 1
	toBools   func(src *tensor.Tensor, dst []bool)       // nonzero (and NaN) into true
}

var numberTypes = map[tensor.DType]numberType{
	tensor.Float:  numberTypeFor[float32](),
	tensor.Double: numberTypeFor[float64](),
	tensor.Int64:  numberTypeFor[int64](),
	tensor.Int32:  numberTypeFor[int32](),
	tensor.Int8:   numberTypeFor[int8](),
	tensor.Uint8:  numberTypeFor[uint8](),
}

func numberTypeFor[T number]() numberType {
	return numberType{
		castFrom: func(threads int, src, dst *tensor.Tensor) { castNumbers(threads, src, dataOf[T](dst)) },
		fromBools: func(src []bool, dst *tensor.Tensor) {
			out := dataOf[T](dst)
			for i, b := range src {
				out[i] = 0
				if b {
					out[i] = 1
				}
			}
		},
		toBools: func(src *tensor.Tensor, dst []bool) {
			for i, v := range dataOf[T](src) {
				dst[i] = v != 0 // NaN is nonzero: true, as in C
			}
		},
	}
}

// numberTypeOf returns the conversions of number dtype dt.
func numberTypeOf(dt tensor.DType) numberType {
	nt, ok := numberTypes[dt]
	if !ok {
		panic(fmt.Sprintf("engine: cannot cast %v", dt))
	}
	return nt
}

// castNumbers converts src, of any number dtype, into dst: the dispatch on the source's type.
func castNumbers[D number](threads int, src *tensor.Tensor, dst []D) {
	switch src.DType {
	case tensor.Float:
		convertSlice(threads, dataOf[float32](src), dst)
	case tensor.Double:
		convertSlice(threads, dataOf[float64](src), dst)
	case tensor.Int64:
		convertSlice(threads, dataOf[int64](src), dst)
	case tensor.Int32:
		convertSlice(threads, dataOf[int32](src), dst)
	case tensor.Int8:
		convertSlice(threads, dataOf[int8](src), dst)
	case tensor.Uint8:
		convertSlice(threads, dataOf[uint8](src), dst)
	default:
		panic(fmt.Sprintf("engine: cannot cast from %v", src.DType))
	}
}

func convertSlice[S, D number](threads int, src []S, dst []D) {
	workers.ForRange(threads, len(dst), workers.Grain(1), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = D(src[i])
		}
	})
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
				wide[i].Const = castTo(n.Threads, info.Const, tensor.Float)
			}
		}
		if half == tensor.Undefined {
			return b(n, in)
		}
		build, err := b(n, wide)
		if err != nil {
			return nil, err
		}
		return narrowOutputs(build, wide, half, n.Threads), nil
	}
}

// narrowOutputs turns a float32 build into one whose float32 outputs are of type half.
func narrowOutputs(build *Build, wide []Info, half tensor.DType, threads int) *Build {
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
			outs[i].Const = castTo(threads, o.Const, half)
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
					win[i] = castTo(threads, t, tensor.Float)
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
					castInto(threads, wout[i], t)
				}
			}
			return nil
		}
	}
	return &Build{Outputs: outs, Prepare: narrowed, Views: build.Views, MACs: build.MACs}
}
