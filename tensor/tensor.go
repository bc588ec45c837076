// Package tensor is fcconv's dense tensor: a data type, a shape and one typed slice.
//
// The engine computes in float32, but shapes travel as int64, masks as bool and quantised weights as
// uint8/int8, so a Tensor holds exactly one of a few typed slices, chosen by DType. Tensors decoded
// from a model may alias the model's raw bytes (see FromProto): treat a tensor you did not create as
// read-only.
package tensor

import (
	"fmt"
	"math"
	"strings"

	"github.com/fcconv/fcconv/onnxpb"
)

// DType is an ONNX element type; the values are those of TensorProto.DataType.
type DType int32

// The element types fcconv knows by name.
const (
	Undefined DType = 0
	Float     DType = 1
	Uint8     DType = 2
	Int8      DType = 3
	Uint16    DType = 4
	Int16     DType = 5
	Int32     DType = 6
	Int64     DType = 7
	String    DType = 8
	Bool      DType = 9
	Float16   DType = 10
	Double    DType = 11
	Uint32    DType = 12
	Uint64    DType = 13
	BFloat16  DType = 16
)

// String gives the ONNX name of the type in lower case ("float", "int64", ...).
func (d DType) String() string {
	name, ok := onnxpb.TensorProto_DataType_name[int32(d)]
	if !ok {
		return fmt.Sprintf("dtype(%d)", int32(d))
	}
	return strings.ToLower(name)
}

// Size is the number of bytes one element takes in raw_data, or 0 for strings and unknown types.
func (d DType) Size() int {
	switch d {
	case Float, Int32, Uint32:
		return 4
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Tensor is a dense row-major tensor. Exactly one data slice is used, according to DType:
//
//	Float -> F32, Double -> F64, Int64 -> I64, Int32/Int16/Uint16... see below
//
// Int32 -> I32; Uint8 -> U8; Int8 -> I8; Bool -> B; Float16 and BFloat16 -> U16 (the raw bits);
// String -> Str. Other ONNX types are not supported by fcconv's engine.
type Tensor struct {
	DType DType
	Shape []int

	F32 []float32
	F64 []float64
	I64 []int64
	I32 []int32
	U8  []uint8
	I8  []int8
	B   []bool
	U16 []uint16
	Str [][]byte
}

// NumElements is the product of the dims (1 for a scalar). A product that would overflow (or a
// negative dim) gives math.MaxInt rather than a wrapped-around value, so a size check against it
// fails and an allocation sized by it is refused instead of holding the wrong number of elements.
// Shapes read from a file should be checked with ElementCount, which says what is wrong.
func NumElements(shape []int) int {
	n, err := ElementCount(shape)
	if err != nil {
		return math.MaxInt
	}
	return n
}

// New allocates a zero tensor of the given type and shape.
func New(dt DType, shape ...int) *Tensor {
	t := &Tensor{DType: dt, Shape: append([]int{}, shape...)}
	n := NumElements(shape)
	switch dt {
	case Float:
		t.F32 = make([]float32, n)
	case Double:
		t.F64 = make([]float64, n)
	case Int64:
		t.I64 = make([]int64, n)
	case Int32:
		t.I32 = make([]int32, n)
	case Uint8:
		t.U8 = make([]uint8, n)
	case Int8:
		t.I8 = make([]int8, n)
	case Bool:
		t.B = make([]bool, n)
	case Float16, BFloat16, Uint16:
		t.U16 = make([]uint16, n)
	case String:
		t.Str = make([][]byte, n)
	default:
		panic(fmt.Sprintf("tensor.New: unsupported type %v", dt))
	}
	return t
}

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
func FromFloat32(data []float32, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("tensor.FromFloat32: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Float, Shape: append([]int{}, shape...), F32: data}
}

// FromInt64 wraps data (not copied) as an int64 tensor of the given shape.
func FromInt64(data []int64, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("tensor.FromInt64: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Int64, Shape: append([]int{}, shape...), I64: data}
}

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank is the number of dims.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone is a deep copy, safe to modify.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...)}
	c.F32 = append([]float32(nil), t.F32...)
	c.F64 = append([]float64(nil), t.F64...)
	c.I64 = append([]int64(nil), t.I64...)
	c.I32 = append([]int32(nil), t.I32...)
	c.U8 = append([]uint8(nil), t.U8...)
	c.I8 = append([]int8(nil), t.I8...)
	c.B = append([]bool(nil), t.B...)
	c.U16 = append([]uint16(nil), t.U16...)
	if t.Str != nil {
		c.Str = make([][]byte, len(t.Str))
		for i, s := range t.Str {
			c.Str[i] = append([]byte(nil), s...)
		}
	}
	return c
}

// Reshaped returns a tensor sharing t's data with another shape of the same element count.
func (t *Tensor) Reshaped(shape ...int) *Tensor {
	if NumElements(shape) != t.Len() {
		panic(fmt.Sprintf("tensor.Reshaped: %v has %d elements, %v has %d", t.Shape, t.Len(), shape, NumElements(shape)))
	}
	c := *t
	c.Shape = append([]int{}, shape...)
	return &c
}

// Float64s returns the elements converted to float64, whatever the numeric type.
func (t *Tensor) Float64s() []float64 {
	n := t.Len()
	out := make([]float64, n)
	for i := 0; i < n; i++ {
		out[i] = t.At(i)
	}
	return out
}

// Int64s returns the elements converted to int64 (floats truncated), whatever the numeric type.
func (t *Tensor) Int64s() []int64 {
	if t.DType == Int64 {
		return t.I64
	}
	n := t.Len()
	out := make([]int64, n)
	for i := 0; i < n; i++ {
		out[i] = int64(t.At(i))
	}
	return out
}

// At is element i (flat index) as float64, for any numeric type; slow, meant for reports and tests.
func (t *Tensor) At(i int) float64 {
	switch t.DType {
	case Float:
		return float64(t.F32[i])
	case Double:
		return t.F64[i]
	case Int64:
		return float64(t.I64[i])
	case Int32:
		return float64(t.I32[i])
	case Uint8:
		return float64(t.U8[i])
	case Int8:
		return float64(t.I8[i])
	case Bool:
		if t.B[i] {
			return 1
		}
		return 0
	case Float16:
		return float64(HalfToFloat32(t.U16[i]))
	case BFloat16:
		return float64(BFloat16ToFloat32(t.U16[i]))
	}
	panic(fmt.Sprintf("tensor.At: non-numeric type %v", t.DType))
}

// String describes the tensor briefly, e.g. "float[1 3 224 224]".
func (t *Tensor) String() string {
	return fmt.Sprintf("%v%v", t.DType, t.Shape)
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
