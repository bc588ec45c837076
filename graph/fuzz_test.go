package graph_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/fuzzseed"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// FuzzExternalData resolves and reads a weight whose data_location is EXTERNAL, with a fuzzed
// location, offset, length, dims and type and a fuzzed data file, beside files no reference may
// read: a directory, a FIFO, a symlink out of the folder and a file outside it. Loading must
// fail cleanly or give exactly the bytes the reference names, and must never block on the FIFO.
func FuzzExternalData(f *testing.F) {
	for _, s := range externalSeeds() {
		f.Add(s.location, s.offset, s.length, s.dim0, s.dim1, s.dtype, s.data)
	}
	f.Fuzz(func(t *testing.T, location, offset, length string, dim0, dim1 int64, dtype int32, data []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "model")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(root, "outside.bin"), make([]byte, 64), 0o644)
		os.WriteFile(filepath.Join(dir, "weights.bin"), data, 0o644)
		os.Mkdir(filepath.Join(dir, "folder"), 0o755)
		syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644)
		os.Symlink(filepath.Join(root, "outside.bin"), filepath.Join(dir, "link.bin"))

		w := &onnxpb.TensorProto{Name: proto.String("w"), Dims: []int64{dim0, dim1}, DataType: proto.Int32(dtype),
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String(location)},
				{Key: proto.String("offset"), Value: proto.String(offset)},
				{Key: proto.String("length"), Value: proto.String(length)},
			}}
		mp := smallModel().Proto()
		mp.Graph.Initializer[0] = w
		path := writeModel(t, dir, mp)
		m, err := graph.Load(path)
		if err != nil {
			return
		}
		defer m.Close()
		raw, err := m.ReadExternal(w)
		if err != nil {
			return
		}
		if location != "weights.bin" && filepath.Clean(location) != "weights.bin" {
			t.Fatalf("location %q was read, but only weights.bin is inside the folder and readable", location)
		}
		off, _ := strconv.ParseInt(offset, 10, 64)
		if off < 0 || off > int64(len(data)) || !bytes.Equal(raw, data[off:off+int64(len(raw))]) {
			t.Fatalf("read %d bytes that are not the file's bytes at offset %s", len(raw), offset)
		}
		if want, err := tensor.RawByteCount(w); err == nil && want != len(raw) {
			t.Fatalf("read %d bytes for a tensor that needs %d", len(raw), want)
		}
	})
}

type externalSeed struct {
	location, offset, length string
	dim0, dim1               int64
	dtype                    int32
	data                     []byte
}

func externalSeeds() []externalSeed {
	float := int32(tensor.Float)
	return []externalSeed{
		{"weights.bin", "0", "48", 3, 4, float, make([]byte, 48)},
		{"weights.bin", "16", "48", 3, 4, float, make([]byte, 64)},
		{"weights.bin", "9223372036854775800", "16", 2, 2, float, make([]byte, 16)},
		{"weights.bin", "0", "9223372036854775807", 3, 4, float, make([]byte, 48)},
		{"weights.bin", "0", "48", 1 << 40, 1 << 40, float, make([]byte, 48)},
		{"pipe", "0", "48", 3, 4, float, nil},
		{"folder", "0", "48", 3, 4, float, nil},
		{"link.bin", "0", "48", 3, 4, float, nil},
		{"../outside.bin", "0", "48", 3, 4, float, nil},
	}
}

// TestWriteGraphFuzzSeeds rewrites the committed seed corpus (FCCONV_WRITE_FUZZ_SEEDS=1).
func TestWriteGraphFuzzSeeds(t *testing.T) {
	if !fuzzseed.Enabled() {
		t.Skip("set FCCONV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	for _, s := range externalSeeds() {
		fuzzseed.Write(t, "FuzzExternalData", s.location, s.offset, s.length, s.dim0, s.dim1, s.dtype, s.data)
	}
}
