package graph

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fcconv/fcconv/graph/onnxpb"
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

// Load reads an ONNX model file. The file is mapped and parsed in chunks whose pages are released
// as soon as they are decoded, so peak memory stays near the size of the model, not twice it.
func Load(path string) (*Model, error) {
	data, release, err := mapFile(path)
	if err != nil {
		return nil, &LoadError{path, err}
	}
	defer release()
	mp, err := parseModel(data, func(done []byte) { dropPages(done) })
	if err != nil {
		return nil, &LoadError{path, err}
	}
	dir, _ := filepath.Abs(filepath.Dir(path))
	m, err := NewModel(mp, dir)
	if err != nil {
		return nil, &LoadError{path, err}
	}
	m.Path = path
	if err := m.checkExternalData(); err != nil {
		return nil, &LoadError{path, err}
	}
	return m, nil
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
	modelGraphField = 7
	chunkSize       = 16 << 20
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
		pos += tagLen + n
		if pos-start >= chunkSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func notONNX(err error) error {
	return fmt.Errorf("not a valid ONNX model (truncated or corrupt protobuf: %v)", err)
}

// readWhole is the portable fallback of mapFile.
func readWhole(path string) ([]byte, func(), error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
