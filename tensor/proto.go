package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"unsafe"

	"github.com/fcconv/fcconv/onnxpb"
	"google.golang.org/protobuf/proto"
)

// ExternalReader returns the bytes of a tensor whose data_location is EXTERNAL.
type ExternalReader func(tp *onnxpb.TensorProto) ([]byte, error)

// FromProto decodes a TensorProto. Float data in raw_data is aliased, not copied, when the host is
// little-endian and the bytes are aligned, so a 500 MB model does not need 1 GB of memory; such a
// tensor must not be modified. ext reads external data (nil: external tensors are an error).
func FromProto(tp *onnxpb.TensorProto, ext ExternalReader) (*Tensor, error) {
	dt := DType(tp.GetDataType())
	shape, err := dimsToShape(tp.GetName(), tp.Dims)
	if err != nil {
		return nil, err
	}
	n, err := ElementCount(shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	raw := tp.RawData
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		if ext == nil {
			return nil, fmt.Errorf("tensor %q keeps its data in an external file, and no folder was given to read it from", tp.GetName())
		}
		if raw, err = ext(tp); err != nil {
			return nil, err
		}
	}
	if raw != nil || (n == 0 && dt != String) {
		return fromRaw(tp.GetName(), dt, shape, raw)
	}
	return fromTypedFields(tp, dt, shape, n)
}

// RawByteCount is the number of raw_data bytes a TensorProto's dims and type call for, or an error
// when the dims are invalid, the count overflows, or the type has no raw encoding. External-data
// readers use it to refuse a bad length before reading (and allocating) anything.
func RawByteCount(tp *onnxpb.TensorProto) (int, error) {
	dt := DType(tp.GetDataType())
	shape, err := dimsToShape(tp.GetName(), tp.Dims)
	if err != nil {
		return 0, err
	}
	n, err := ElementCount(shape)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	if dt.Size() == 0 {
		return 0, fmt.Errorf("tensor %q: type %v cannot be stored as raw bytes", tp.GetName(), dt)
	}
	bytes, err := ByteCount(dt, n)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	return bytes, nil
}

// fromRaw decodes raw little-endian bytes. The byte count is checked against the shape (with
// overflow-safe arithmetic) before anything is allocated, so a declared shape larger than the data
// is an error, not an allocation.
func fromRaw(name string, dt DType, shape []int, raw []byte) (*Tensor, error) {
	size := dt.Size()
	if size == 0 {
		return nil, fmt.Errorf("tensor %q: type %v cannot be stored in raw_data", name, dt)
	}
	n, err := ElementCount(shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", name, err)
	}
	want, err := ByteCount(dt, n)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", name, err)
	}
	if len(raw) != want {
		return nil, fmt.Errorf("tensor %q: %d bytes of raw data for %v of shape %v (want %d)", name, len(raw), dt, shape, want)
	}
	t := &Tensor{DType: dt, Shape: shape}
	switch dt {
	case Float:
		t.F32 = viewOrCopy[float32](raw, n, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
	case Double:
		t.F64 = viewOrCopy[float64](raw, n, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	case Int64:
		t.I64 = viewOrCopy[int64](raw, n, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
	case Int32:
		t.I32 = viewOrCopy[int32](raw, n, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
	case Int16:
		t.DType, t.I32 = Int32, make([]int32, n)
		for i := range t.I32 {
			t.I32[i] = int32(int16(binary.LittleEndian.Uint16(raw[2*i:])))
		}
	case Uint16, Float16, BFloat16:
		t.U16 = viewOrCopy[uint16](raw, n, func(b []byte) uint16 { return binary.LittleEndian.Uint16(b) })
	case Uint8:
		t.U8 = raw[:n:n]
	case Int8:
		t.I8 = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(raw))), n)
	case Bool:
		t.B = make([]bool, n)
		for i, b := range raw {
			t.B[i] = b != 0
		}
	case Uint32, Uint64:
		t.DType, t.I64 = Int64, make([]int64, n)
		for i := range t.I64 {
			if dt == Uint32 {
				t.I64[i] = int64(binary.LittleEndian.Uint32(raw[4*i:]))
			} else {
				t.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
	default:
		return nil, fmt.Errorf("tensor %q: element type %v is not supported", name, dt)
	}
	return t, nil
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// viewOrCopy reinterprets raw as []T when the host is little-endian and raw is aligned for T (or the
// architecture reads misaligned data at full speed, see MisalignedViewsOK), and decodes a copy
// otherwise.
func viewOrCopy[T any](raw []byte, n int, decode func([]byte) T) []T {
	if n == 0 {
		return []T{}
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	aligned := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%uintptr(unsafe.Alignof(zero)) == 0
	if littleEndian && (aligned || MisalignedViewsOK) {
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), n)
	}
	out := make([]T, n)
	for i := range out {
		out[i] = decode(raw[i*size:])
	}
	return out
}

// fromTypedFields decodes the typed value fields (float_data, int64_data, ...). The number of
// values present is checked against the shape before the tensor is allocated.
func fromTypedFields(tp *onnxpb.TensorProto, dt DType, shape []int, n int) (*Tensor, error) {
	count, ok := typedFieldCount(tp, dt)
	if !ok {
		return nil, fmt.Errorf("tensor %q: element type %v is not supported", tp.GetName(), dt)
	}
	if count != n {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v (want %d)", tp.GetName(), count, shape, n)
	}
	t := New(normalisedType(dt), shape...)
	switch dt {
	case Float:
		copy(t.F32, tp.FloatData)
	case Double:
		copy(t.F64, tp.DoubleData)
	case Int64:
		copy(t.I64, tp.Int64Data)
	case Uint32, Uint64:
		for i := 0; i < n; i++ {
			t.I64[i] = int64(tp.Uint64Data[i])
		}
	case Int32, Int16, Uint16, Uint8, Int8, Bool, Float16, BFloat16:
		for i := 0; i < n; i++ {
			v := tp.Int32Data[i]
			switch dt {
			case Int32, Int16:
				t.I32[i] = v
			case Uint8:
				t.U8[i] = uint8(v)
			case Int8:
				t.I8[i] = int8(v)
			case Bool:
				t.B[i] = v != 0
			default:
				t.U16[i] = uint16(v)
			}
		}
	case String:
		copy(t.Str, tp.StringData)
	}
	return t, nil
}

// typedFieldCount is the number of values in the typed field that holds dt; ok is false for types
// fcconv cannot decode.
func typedFieldCount(tp *onnxpb.TensorProto, dt DType) (count int, ok bool) {
	switch dt {
	case Float:
		return len(tp.FloatData), true
	case Double:
		return len(tp.DoubleData), true
	case Int64:
		return len(tp.Int64Data), true
	case Uint32, Uint64:
		return len(tp.Uint64Data), true
	case Int32, Int16, Uint16, Uint8, Int8, Bool, Float16, BFloat16:
		return len(tp.Int32Data), true
	case String:
		return len(tp.StringData), true
	}
	return 0, false
}

// normalisedType maps the ONNX types fcconv stores in a wider slice to that slice's type.
func normalisedType(dt DType) DType {
	switch dt {
	case Int16:
		return Int32
	case Uint32, Uint64:
		return Int64
	}
	return dt
}

// ToProto encodes the tensor as a TensorProto with raw_data (strings in string_data). On a
// little-endian host the raw data shares the tensor's memory instead of copying it (weights of a
// rewritten model can be hundreds of megabytes): do not modify the tensor afterwards.
func (t *Tensor) ToProto(name string) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(t.DType))}
	tp.Dims = make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		tp.Dims[i] = int64(d)
	}
	if t.DType == String {
		tp.StringData = t.Str
		return tp
	}
	if raw := t.rawView(); raw != nil {
		tp.RawData = raw
	} else {
		tp.RawData = t.RawBytes()
	}
	return tp
}

// rawView is the tensor's data as little-endian bytes without copying, when the host's layout is
// the wire layout (little-endian, and a type stored as is); nil otherwise.
func (t *Tensor) rawView() []byte {
	if !littleEndian {
		return nil
	}
	n := t.Len()
	switch t.DType {
	case Float:
		return asBytes(t.F32[:n])
	case Double:
		return asBytes(t.F64[:n])
	case Int64:
		return asBytes(t.I64[:n])
	case Int32:
		return asBytes(t.I32[:n])
	case Float16, BFloat16, Uint16:
		return asBytes(t.U16[:n])
	case Uint8:
		return t.U8[:n:n]
	}
	return nil
}

func asBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

// RawBytes is the little-endian encoding of the data, as in TensorProto.raw_data.
func (t *Tensor) RawBytes() []byte {
	n := t.Len()
	out := make([]byte, n*t.DType.Size())
	switch t.DType {
	case Float:
		for i, v := range t.F32[:n] {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case Double:
		for i, v := range t.F64[:n] {
			binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(v))
		}
	case Int64:
		for i, v := range t.I64[:n] {
			binary.LittleEndian.PutUint64(out[8*i:], uint64(v))
		}
	case Int32:
		for i, v := range t.I32[:n] {
			binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
		}
	case Uint8:
		copy(out, t.U8)
	case Int8:
		for i, v := range t.I8[:n] {
			out[i] = byte(v)
		}
	case Bool:
		for i, v := range t.B[:n] {
			if v {
				out[i] = 1
			}
		}
	case Float16, BFloat16, Uint16:
		for i, v := range t.U16[:n] {
			binary.LittleEndian.PutUint16(out[2*i:], v)
		}
	default:
		panic(fmt.Sprintf("tensor.RawBytes: unsupported type %v", t.DType))
	}
	return out
}

// ReadProtoFile reads a serialized TensorProto (a model-zoo input_N.pb / output_N.pb).
func ReadProtoFile(path string) (*Tensor, string, error) {
	b, err := readRegularFile(path)
	if err != nil {
		return nil, "", err
	}
	t, name, err := DecodeProto(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", path, err)
	}
	return t, name, nil
}

// DecodeProto decodes the bytes of a serialized TensorProto and returns the tensor and its name.
// A SequenceProto or OptionalProto (which protobuf would happily misread as a TensorProto) is an
// error.
func DecodeProto(b []byte) (*Tensor, string, error) {
	if looksLikeSequenceOrOptional(b) {
		return nil, "", fmt.Errorf("the file holds an ONNX SequenceProto or OptionalProto, not a TensorProto; fcconv's engine takes tensors only")
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, "", fmt.Errorf("not a serialized ONNX TensorProto: %v", err)
	}
	t, err := FromProto(&tp, nil)
	if err != nil {
		return nil, "", err
	}
	return t, tp.GetName(), nil
}

// WriteProtoFile writes the tensor as a serialized TensorProto.
func WriteProtoFile(path, name string, t *Tensor) error {
	b, err := proto.Marshal(t.ToProto(name))
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
