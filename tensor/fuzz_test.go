package tensor_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/fcconv/fcconv/internal/fuzzseed"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Fuzz targets for the decoders of tensor files given on the command line (--input, test data):
// whatever the bytes, decoding returns a tensor or an error, never panics, and never allocates
// more than the bytes present justify (a wrong count would show as a panic or as a tensor whose
// data length disagrees with its shape).

// protoSeeds are serialized TensorProtos of several kinds, and a SequenceProto.
func protoSeeds() [][]byte {
	tensors := []*tensor.Tensor{
		tensor.FromFloat32([]float32{1, -2, 3.5, 0}, 2, 2),
		tensor.FromInt64([]int64{7, -1}, 2),
		{DType: tensor.Bool, Shape: []int{3}, B: []bool{true, false, true}},
		{DType: tensor.Float16, Shape: []int{1}, U16: []uint16{0x3c00}},
		{DType: tensor.String, Shape: []int{1}, Str: [][]byte{[]byte("x")}},
	}
	var seeds [][]byte
	for _, t := range tensors {
		b, _ := proto.Marshal(t.ToProto("t"))
		seeds = append(seeds, b)
	}
	typed := &onnxpb.TensorProto{Dims: []int64{2}, DataType: proto.Int32(int32(tensor.Float)), FloatData: []float32{1, 2}}
	b, _ := proto.Marshal(typed)
	seeds = append(seeds, b)
	return append(seeds, SequenceProtoBytes("s", tensors[0].ToProto("a")))
}

// SequenceProtoBytes encodes an ONNX SequenceProto of tensors (fcconv's onnxpb has no such type):
// name = 1, elem_type = 2 (TENSOR = 1), tensor_values = 3.
func SequenceProtoBytes(name string, values ...*onnxpb.TensorProto) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	for _, v := range values {
		enc, _ := proto.Marshal(v)
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, enc)
	}
	return b
}

func FuzzTensorProto(f *testing.F) {
	for _, s := range protoSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := tensor.DecodeProto(data)
		if err != nil {
			return
		}
		checkConsistent(t, got)
		if got.DType == tensor.String {
			return
		}
		// A decoded tensor encodes and decodes to the same bytes.
		again, _, err := tensor.DecodeProto(mustMarshal(t, got.ToProto("t")))
		if err != nil {
			t.Fatalf("re-decoding %v: %v", got, err)
		}
		if !tensor.SameShape(again.Shape, got.Shape) || !bytes.Equal(again.RawBytes(), got.RawBytes()) {
			t.Fatalf("round trip changed %v into %v", got, again)
		}
	})
}

func npySeeds(t testing.TB) [][]byte {
	dir := t.TempDir()
	var seeds [][]byte
	for i, x := range []*tensor.Tensor{
		tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		tensor.FromInt64([]int64{9}, 1),
		{DType: tensor.Uint8, Shape: []int{}, U8: []uint8{200}},
	} {
		path := dir + "/" + string(rune('a'+i)) + ".npy"
		if err := tensor.WriteNpy(path, x); err != nil {
			t.Fatal(err)
		}
		b, err := readFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func FuzzNpy(f *testing.F) {
	for _, s := range npySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := tensor.DecodeNpy(data)
		if err != nil {
			return
		}
		checkConsistent(t, got)
		if n, _ := tensor.ShapeBytes(got.DType, got.Shape); n > len(data) {
			t.Fatalf("%v decoded from %d bytes needs %d", got, len(data), n)
		}
	})
}

// checkConsistent fails unless the tensor's data slice holds exactly the elements its shape says.
func checkConsistent(t *testing.T, x *tensor.Tensor) {
	t.Helper()
	n, err := tensor.ElementCount(x.Shape)
	if err != nil {
		t.Fatalf("decoded tensor with an invalid shape: %v", err)
	}
	lengths := map[tensor.DType]int{
		tensor.Float: len(x.F32), tensor.Double: len(x.F64), tensor.Int64: len(x.I64), tensor.Int32: len(x.I32),
		tensor.Uint8: len(x.U8), tensor.Int8: len(x.I8), tensor.Bool: len(x.B), tensor.Float16: len(x.U16),
		tensor.BFloat16: len(x.U16), tensor.Uint16: len(x.U16), tensor.String: len(x.Str),
	}
	have, known := lengths[x.DType]
	if !known {
		t.Fatalf("decoded tensor of unexpected type %v", x.DType)
	}
	if have != n {
		t.Fatalf("%v holds %d elements, its shape says %d", x, have, n)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteTensorFuzzSeeds rewrites the committed seed corpora (FCCONV_WRITE_FUZZ_SEEDS=1).
func TestWriteTensorFuzzSeeds(t *testing.T) {
	if !fuzzseed.Enabled() {
		t.Skip("set FCCONV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	for _, s := range protoSeeds() {
		fuzzseed.Write(t, "FuzzTensorProto", s)
	}
	for _, s := range npySeeds(t) {
		fuzzseed.Write(t, "FuzzNpy", s)
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
