package graph

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/fcconv/fcconv/internal/safefile"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// LoadError is a model that cannot be read: the file and what is wrong with it.
type LoadError struct {
	Path string
	Err  error
}

func (e *LoadError) Error() string { return fmt.Sprintf("%s: %v", describe(e.Path), e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// Load reads an ONNX model file. The file is mapped read-only; initializer data (raw_data) stays in
// the mapping instead of being copied, and the pages of everything else are released as soon as they
// are decoded, so loading is fast and memory stays near the size of the model, not twice it. The
// mapping lives until Close (or the end of the process): never write into a tensor's raw data.
func Load(path string) (*Model, error) {
	data, release, err := mapFile(path)
	if err != nil {
		return nil, &LoadError{path, err}
	}
	mp, err := parseModel(data, func(done []byte) { dropPages(done) })
	if err != nil {
		release()
		return nil, &LoadError{path, err}
	}
	dir, _ := filepath.Abs(filepath.Dir(path))
	m, err := NewModel(mp, dir)
	if err != nil {
		release()
		return nil, &LoadError{path, err}
	}
	m.Path, m.release = path, release
	warnAboutVersions(path, mp)
	if err := m.checkExternalData(); err != nil {
		m.Close()
		return nil, &LoadError{path, err}
	}
	return m, nil
}

// Close releases the file mapping behind the model's initializers. The model and every tensor
// decoded from it must not be used afterwards. Long-running programs that load many models (batch
// conversion) call it; others may let the process end.
func (m *Model) Close() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// LoadBytes parses a serialized model held in memory; dir is where external data lives ("" none).
func LoadBytes(data []byte, dir string) (*Model, error) {
	mp, err := parseModel(data, nil)
	if err != nil {
		return nil, &LoadError{"", err}
	}
	m, err := NewModel(mp, dir)
	if err != nil {
		return nil, &LoadError{"", err}
	}
	return m, nil
}

const (
	modelGraphField       = 7
	graphInitializerField = 5
	tensorRawDataField    = 9
	chunkSize             = 16 << 20
)

// parseModel decodes a ModelProto. The graph (field 7), which holds almost all the bytes, is decoded
// in chunks of whole fields merged into one GraphProto; protobuf defines parsing as merging the
// fields in order, so the result equals a single Unmarshal. done is told each chunk consumed.
func parseModel(data []byte, done func([]byte)) (*onnxpb.ModelProto, error) {
	if len(data) == 0 {
		return nil, errors.New("the file is empty")
	}
	mp := &onnxpb.ModelProto{}
	merge := proto.UnmarshalOptions{Merge: true}
	rest := data
	for len(rest) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(rest)
		if tagLen < 0 {
			return nil, notONNX(protowire.ParseError(tagLen))
		}
		fieldLen := protowire.ConsumeFieldValue(num, typ, rest[tagLen:])
		if fieldLen < 0 {
			return nil, notONNX(protowire.ParseError(fieldLen))
		}
		field := rest[:tagLen+fieldLen]
		rest = rest[tagLen+fieldLen:]
		if num == modelGraphField && typ == protowire.BytesType {
			if mp.Graph == nil {
				mp.Graph = &onnxpb.GraphProto{}
			}
			body, _ := protowire.ConsumeBytes(field[tagLen:])
			if err := parseChunked(body, mp.Graph, done); err != nil {
				return nil, err
			}
			continue
		}
		if err := merge.Unmarshal(field, mp); err != nil {
			return nil, notONNX(err)
		}
	}
	if mp.IrVersion == nil && mp.Graph == nil {
		return nil, errors.New("not an ONNX model: no ir_version and no graph (is this really a .onnx file?)")
	}
	if mp.Graph == nil {
		return nil, errors.New("the model has no graph")
	}
	return mp, nil
}

func parseChunked(body []byte, g *onnxpb.GraphProto, done func([]byte)) error {
	merge := proto.UnmarshalOptions{Merge: true}
	start, pos := 0, 0
	flush := func() error {
		if pos == start {
			return nil
		}
		if err := merge.Unmarshal(body[start:pos], g); err != nil {
			return notONNX(err)
		}
		if done != nil {
			done(body[start:pos])
		}
		start = pos
		return nil
	}
	for pos < len(body) {
		num, typ, tagLen := protowire.ConsumeTag(body[pos:])
		if tagLen < 0 {
			return notONNX(protowire.ParseError(tagLen))
		}
		n := protowire.ConsumeFieldValue(num, typ, body[pos+tagLen:])
		if n < 0 {
			return notONNX(protowire.ParseError(n))
		}
		if num == graphInitializerField && typ == protowire.BytesType {
			// Initializers hold nearly all the bytes: decode them without copying raw_data.
			if err := flush(); err != nil {
				return err
			}
			msg, _ := protowire.ConsumeBytes(body[pos+tagLen:])
			tp, err := parseTensorAliased(msg)
			if err != nil {
				return err
			}
			g.Initializer = append(g.Initializer, tp)
			pos += tagLen + n
			start = pos
			continue
		}
		pos += tagLen + n
		if pos-start >= chunkSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// parseTensorAliased decodes a TensorProto whose raw_data stays a slice of b rather than a copy:
// copying hundreds of megabytes of weights costs more time and memory than the rest of loading. The
// other fields are decoded normally; protobuf's last-one-wins rule for a repeated scalar field is
// kept.
func parseTensorAliased(b []byte) (*onnxpb.TensorProto, error) {
	var raw []byte
	hasRaw := false
	rest := make([]byte, 0, 256)
	for pos := 0; pos < len(b); {
		num, typ, tagLen := protowire.ConsumeTag(b[pos:])
		if tagLen < 0 {
			return nil, notONNX(protowire.ParseError(tagLen))
		}
		n := protowire.ConsumeFieldValue(num, typ, b[pos+tagLen:])
		if n < 0 {
			return nil, notONNX(protowire.ParseError(n))
		}
		if num == tensorRawDataField && typ == protowire.BytesType {
			raw, _ = protowire.ConsumeBytes(b[pos+tagLen:])
			hasRaw = true
		} else {
			rest = append(rest, b[pos:pos+tagLen+n]...)
		}
		pos += tagLen + n
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(rest, tp); err != nil {
		return nil, notONNX(err)
	}
	if hasRaw {
		tp.RawData = alignedRaw(raw, tensor.DType(tp.GetDataType()).Size())
	}
	return tp, nil
}

// alignedRaw returns raw itself when the engine can view it in place (aligned for its element size,
// or an architecture where misaligned views are fine: tensor.MisalignedViewsOK), and otherwise an
// aligned copy, after which the file pages it came from are released: either way the weights are in
// memory once.
func alignedRaw(raw []byte, elemSize int) []byte {
	if raw == nil {
		return []byte{}
	}
	if tensor.MisalignedViewsOK || elemSize <= 1 || uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%uintptr(elemSize) == 0 || len(raw) == 0 {
		return raw[:len(raw):len(raw)]
	}
	words := make([]uint64, (len(raw)+7)/8)
	aligned := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(raw))
	copy(aligned, raw)
	dropPages(raw)
	return aligned
}

func notONNX(err error) error {
	if strings.Contains(err.Error(), "recursion depth") {
		// protobuf decodes at most 10,000 nested messages; an If costs three levels (node,
		// attribute, graph), so about 3,300 nested subgraphs are the most a model can hold.
		return fmt.Errorf("the model nests messages (subgraphs) deeper than protobuf's decoding limit: %v", err)
	}
	return fmt.Errorf("not a valid ONNX model (truncated or corrupt protobuf: %v)", err)
}

// readWhole is the portable fallback of mapFile.
func readWhole(path string) ([]byte, func(), error) {
	b, err := safefile.ReadRegular(path)
	return b, func() {}, err
}
