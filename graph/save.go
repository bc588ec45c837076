package graph

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/fcconv/fcconv/graph/onnxpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// SaveOptions control how a model is written.
type SaveOptions struct {
	// ExternalData writes every tensor of at least Threshold bytes to a side file, DataFile.
	ExternalData bool
	// Threshold is the smallest tensor moved to the side file (default 1024 bytes).
	Threshold int
	// DataFile is the side file's name, relative to the model's folder (default "<model file>.data").
	DataFile string
	// Replaced, when not nil, is set to whether a file already stood at the model's path when the
	// new one was moved into place (another process, or an earlier run, had written it).
	Replaced *bool
}

// protobufLimit is the largest message protobuf implementations accept (2 GiB), less headroom.
const protobufLimit = 2<<30 - 64<<20

// Save writes the model to path atomically (a temporary file in the same folder, then a rename), so
// an interrupted save never leaves a half-written model. External data is used when asked, and
// always when the model would not fit in one protobuf message.
func (m *Model) Save(path string, opts SaveOptions) error {
	if opts.Threshold <= 0 {
		opts.Threshold = 1024
	}
	if opts.DataFile == "" {
		opts.DataFile = filepath.Base(path) + ".data"
	}
	m.syncAll()
	restore, err := m.placeTensorData(path, &opts)
	defer restore()
	if err != nil {
		return err
	}
	replaced, err := writeAtomically(path, func(w io.Writer) error { return WriteModel(w, m.Proto) })
	if opts.Replaced != nil {
		*opts.Replaced = replaced
	}
	return err
}

// syncAll writes every graph's node list back into its message.
func (m *Model) syncAll() {
	m.Graph.walkGraphs(func(g *Graph) { g.syncNodes() })
}

// placeTensorData decides, for each tensor, whether its bytes go inline or to the side file, and
// temporarily rewrites the tensor messages accordingly; restore puts them back as they were.
func (m *Model) placeTensorData(path string, opts *SaveOptions) (restore func(), err error) {
	tensors := m.allTensors()
	external := opts.ExternalData
	if !external {
		size := proto.Size(m.Proto)
		for _, tp := range tensors {
			if isExternal(tp) {
				ref, err := parseExternalRef(tp)
				if err == nil && ref.length > 0 {
					size += int(ref.length)
				}
			}
		}
		external = size > protobufLimit
	}
	var saved []savedTensor
	restore = func() {
		for _, s := range saved {
			s.restore()
		}
	}
	if !external {
		for _, tp := range tensors {
			if !isExternal(tp) {
				continue
			}
			data, err := m.ReadExternal(tp)
			if err != nil {
				return restore, err
			}
			saved = append(saved, saveTensor(tp))
			tp.RawData, tp.ExternalData, tp.DataLocation = data, nil, nil
		}
		return restore, nil
	}
	dataPath := filepath.Join(filepath.Dir(path), opts.DataFile)
	_, err = writeAtomically(dataPath, func(w io.Writer) error {
		var offset int64
		for _, tp := range tensors {
			data := tp.RawData
			if isExternal(tp) {
				if data, err = m.ReadExternal(tp); err != nil {
					return err
				}
			} else if len(data) < opts.Threshold {
				continue
			}
			if pad := (4096 - offset%4096) % 4096; pad > 0 {
				if _, err := w.Write(make([]byte, pad)); err != nil {
					return err
				}
				offset += pad
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
			saved = append(saved, saveTensor(tp))
			loc := onnxpb.TensorProto_EXTERNAL
			tp.RawData, tp.DataLocation = nil, &loc
			tp.ExternalData = []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String(filepath.ToSlash(opts.DataFile))},
				{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(offset, 10))},
				{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(data)))},
			}
			offset += int64(len(data))
		}
		return nil
	})
	return restore, err
}

type savedTensor struct {
	tp       *onnxpb.TensorProto
	raw      []byte
	ext      []*onnxpb.StringStringEntryProto
	location *onnxpb.TensorProto_DataLocation
}

func saveTensor(tp *onnxpb.TensorProto) savedTensor {
	return savedTensor{tp, tp.RawData, tp.ExternalData, tp.DataLocation}
}

func (s savedTensor) restore() {
	s.tp.RawData, s.tp.ExternalData, s.tp.DataLocation = s.raw, s.ext, s.location
}

// allTensors lists every tensor message of the model with data: initializers and tensor attributes,
// in the main graph and all subgraphs.
func (m *Model) allTensors() []*onnxpb.TensorProto {
	var out []*onnxpb.TensorProto
	m.Graph.walkGraphs(func(g *Graph) {
		out = append(out, g.Proto.Initializer...)
		for _, n := range g.Nodes {
			for _, a := range n.Proto.Attribute {
				if a.T != nil {
					out = append(out, a.T)
				}
				out = append(out, a.Tensors...)
			}
		}
	})
	return out
}

// writeAtomically writes through a temporary file beside path and renames it into place; replaced
// says a file stood at path before.
func writeAtomically(path string, write func(io.Writer) error) (replaced bool, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("cannot write %s: %v", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return false, fmt.Errorf("writing %s: %v", path, err)
	}
	if err = bw.Flush(); err != nil {
		return false, fmt.Errorf("writing %s: %v", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return false, err
	}
	if err = tmp.Close(); err != nil {
		return false, fmt.Errorf("writing %s: %v", path, err)
	}
	if replaced, err = moveIntoPlace(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("cannot move the new file into place at %s: %v", path, err)
	}
	return replaced, nil
}

// WriteModel serializes a model exactly as proto.Marshal would (fields in number order, unknown
// fields last), but streams the graph's nodes and initializers one by one so that the whole
// serialized model never sits in memory at once.
func WriteModel(w io.Writer, mp *onnxpb.ModelProto) error {
	return writeStreamed(w, mp.ProtoReflect(), map[protoreflect.FullName]bool{
		"fcconv.onnx.ModelProto.graph":              true,
		"fcconv.onnx.GraphProto.node":               true,
		"fcconv.onnx.GraphProto.initializer":        true,
		"fcconv.onnx.GraphProto.sparse_initializer": true,
		"fcconv.onnx.TensorProto.raw_data":          true,
	})
}

// writeStreamed writes m's fields in number order. Fields named in stream are written element by
// element (messages recursively streamed, bytes written straight from their slice, so a tensor's
// raw data is never copied into a marshal buffer); runs of other fields are marshalled together.
func writeStreamed(w io.Writer, m protoreflect.Message, stream map[protoreflect.FullName]bool) error {
	var fields []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fields = append(fields, fd)
		return true
	})
	sort.Slice(fields, func(i, j int) bool { return fields[i].Number() < fields[j].Number() })
	var pending []protoreflect.FieldDescriptor
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		part := m.New()
		for _, fd := range pending {
			part.Set(fd, m.Get(fd))
		}
		pending = pending[:0]
		b, err := proto.Marshal(part.Interface())
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	for _, fd := range fields {
		if !stream[fd.FullName()] {
			pending = append(pending, fd)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if fd.Kind() == protoreflect.BytesKind && !fd.IsList() {
			if err := writeBytesField(w, fd.Number(), m.Get(fd).Bytes()); err != nil {
				return err
			}
			continue
		}
		if fd.IsList() {
			list := m.Get(fd).List()
			for i := 0; i < list.Len(); i++ {
				if err := writeSubmessage(w, fd.Number(), list.Get(i).Message(), stream); err != nil {
					return err
				}
			}
		} else if err := writeSubmessage(w, fd.Number(), m.Get(fd).Message(), stream); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	_, err := w.Write(m.GetUnknown())
	return err
}

func writeBytesField(w io.Writer, num protoreflect.FieldNumber, b []byte) error {
	var head []byte
	head = protowire.AppendTag(head, num, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(b)))
	if _, err := w.Write(head); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func writeSubmessage(w io.Writer, num protoreflect.FieldNumber, m protoreflect.Message, stream map[protoreflect.FullName]bool) error {
	var head []byte
	head = protowire.AppendTag(head, num, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(proto.Size(m.Interface())))
	if _, err := w.Write(head); err != nil {
		return err
	}
	return writeStreamed(w, m, stream)
}
