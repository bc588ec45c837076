package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fcconv/fcconv/internal/atomicfile"

	"github.com/fcconv/fcconv/onnxpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// SaveOptions control how a model is written.
type SaveOptions struct {
	// ExternalData writes every tensor of at least Threshold bytes to a side file.
	ExternalData bool
	// Threshold is the smallest tensor moved to the side file (default 1024 bytes).
	Threshold int
	// DataFile names the side file, relative to the model's folder. Left empty (the usual case) the
	// name comes from the data: "<model file>.<first 16 hex digits of its SHA-256>.data", which
	// makes model and data one atomic pair (see Save). Set explicitly, that file is replaced in
	// place: each of the two files still appears whole, but a crash between their two renames can
	// leave the old model beside the new data.
	DataFile string
	// Protect lists files the save must neither replace nor remove, such as the input model and
	// data files of a conversion. The files the saved model's own external data is read from are
	// always protected.
	Protect []string
	// BeforeCommit, when set, runs once every new file is complete under its temporary name and
	// before any is renamed into place; an error cancels the save. A batch copies a model's test
	// data there, so that a model in place means its test data is complete too.
	BeforeCommit func() error
	// Replaced, when not nil, is set to whether a file already stood at the model's path when the
	// new one was moved into place (another process, or an earlier run, had written it).
	Replaced *bool
}

// protobufLimit is the largest message protobuf implementations accept (2 GiB), less headroom.
const protobufLimit = 2<<30 - 64<<20

// Save writes the model to path so that neither a reader nor an interrupted save ever sees a
// half-written model, or a model beside data that is not its own:
//
//   - every file is written under a temporary name beside its destination (see package
//     atomicfile; stale ones of earlier, killed saves of path are removed first) and renamed into
//     place when complete;
//   - external data goes to a file named after its content, renamed into place before the model:
//     until the model's rename, the old model still names its old data file, and after it the new
//     model names the new one;
//   - once the new model is in place, the data files of earlier saves of path ("<model
//     file>.<16 hex digits>.data") are removed, except protected ones.
//
// External data is used when asked, and always when the model would not fit in one protobuf
// message.
func (m *Model) Save(path string, opts SaveOptions) (err error) {
	if opts.Threshold <= 0 {
		opts.Threshold = 1024
	}
	protected, err := m.protectedFiles(opts.Protect)
	if err != nil {
		return err
	}
	if p := protected.find(path); p != "" {
		return fmt.Errorf("refusing to write the model %s over %s, a file the model being saved comes from or reads its data from", path, p)
	}
	if opts.DataFile != "" {
		if p := protected.find(filepath.Join(filepath.Dir(path), opts.DataFile)); p != "" {
			return fmt.Errorf("refusing to write the data file %s over %s, a file the model being saved comes from or reads its data from", opts.DataFile, p)
		}
	}
	atomicfile.RemoveStale(path)
	m.syncAll()
	side, restore, err := m.placeTensorData(path, opts)
	defer restore()
	if err != nil {
		return err
	}
	var temps []string
	defer func() {
		if err != nil {
			for _, t := range temps {
				os.Remove(t)
			}
		}
	}()
	if side != nil {
		temps = append(temps, side.tmp)
	}
	modelTmp, err := atomicfile.WriteTemp(path, func(w io.Writer) error { return WriteModel(w, m.Proto) })
	if err != nil {
		return err
	}
	temps = append(temps, modelTmp)
	if opts.BeforeCommit != nil {
		if err = opts.BeforeCommit(); err != nil {
			return err
		}
	}
	return commit(path, modelTmp, side, protected, opts.Replaced)
}

// commitPause is empty except in the kill test's build of fcconv (-ldflags "-X
// github.com/fcconv/fcconv/graph.commitPause=5ms"), where it holds every save for that long before
// its first rename and between the data file's rename and the model's, so that kills land there.
var commitPause string

func pauseForKillTest() {
	if d, err := time.ParseDuration(commitPause); err == nil {
		time.Sleep(d)
	}
}

// commit renames the written files into place, data first and model last, then removes the data
// files of earlier saves. It holds the folder's lock throughout, so that two processes saving the
// same output never remove each other's data between its rename and its model's.
func commit(path, modelTmp string, side *sideFile, protected protectedSet, replaced *bool) error {
	dir := filepath.Dir(path)
	defer atomicfile.LockDir(dir)()
	pauseForKillTest()
	keep := ""
	if side != nil {
		if err := side.commit(protected); err != nil {
			return err
		}
		keep = side.path
		pauseForKillTest()
	}
	existed, err := moveIntoPlace(modelTmp, path)
	if err != nil {
		return fmt.Errorf("cannot move the new model into place at %s: %v", path, err)
	}
	if replaced != nil {
		*replaced = existed
	}
	removeOldData(path, keep, protected)
	atomicfile.SyncDir(dir)
	return nil
}

// syncAll writes every graph's node list back into its message.
func (m *Model) syncAll() {
	m.Graph.walkGraphs(func(g *Graph) { g.syncNodes() })
}

// sideFile is external data written under a temporary name, waiting for its rename to path.
type sideFile struct {
	tmp, path string
	named     bool // path is derived from the content
}

// commit renames the side file into place. A content-named file already there holds the same
// bytes; when it is protected (the input's own data), it is kept and the new copy dropped.
func (s *sideFile) commit(protected protectedSet) error {
	if s.named && protected.find(s.path) != "" {
		a, errA := os.Stat(s.tmp)
		b, errB := os.Stat(s.path)
		if errA == nil && errB == nil && a.Size() == b.Size() {
			return os.Remove(s.tmp)
		}
		return fmt.Errorf("the data file %s already exists with other content and is protected; choose another output", s.path)
	}
	if err := os.Rename(s.tmp, s.path); err != nil {
		return fmt.Errorf("cannot move the new data file into place at %s: %v", s.path, err)
	}
	return nil
}

// dataFileName is the content-derived name of a model's side file.
func dataFileName(modelPath string, sum []byte) string {
	return filepath.Base(modelPath) + "." + hex.EncodeToString(sum[:8]) + ".data"
}

// isOwnDataFile reports whether name is a content-derived side file of the model file modelBase.
func isOwnDataFile(modelBase, name string) bool {
	hexPart, ok := strings.CutPrefix(name, modelBase+".")
	if !ok {
		return false
	}
	hexPart, ok = strings.CutSuffix(hexPart, ".data")
	if !ok || len(hexPart) != 16 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil && strings.ToLower(hexPart) == hexPart
}

// removeOldData removes the content-named side files of earlier saves of path, but keep and the
// protected files.
func removeOldData(path, keep string, protected protectedSet) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		if !isOwnDataFile(base, e.Name()) || full == keep || protected.find(full) != "" {
			continue
		}
		os.Remove(full)
	}
}

// protectedSet is the files a save must not replace or remove.
type protectedSet []protectedFile

type protectedFile struct {
	abs  string
	info os.FileInfo // nil when the file does not exist
}

// protectedFiles are the given files and those the model's external data is read from.
func (m *Model) protectedFiles(extra []string) (protectedSet, error) {
	files, err := m.ExternalFiles()
	if err != nil {
		return nil, err
	}
	paths := append([]string{}, extra...)
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	var set protectedSet
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		info, _ := os.Stat(p)
		set = append(set, protectedFile{abs, info})
	}
	return set, nil
}

// find returns the protected file that path is (the same name, or a link to the same file), or "".
func (s protectedSet) find(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	info, statErr := os.Stat(path)
	for _, p := range s {
		if p.abs == abs || statErr == nil && p.info != nil && os.SameFile(p.info, info) {
			return p.abs
		}
	}
	return ""
}

// placeTensorData decides, for each tensor, whether its bytes go inline or to the side file, and
// temporarily rewrites the tensor messages accordingly; restore puts them back as they were. With
// a side file, it is written (under a temporary name) and returned.
func (m *Model) placeTensorData(path string, opts SaveOptions) (side *sideFile, restore func(), err error) {
	tensors := m.allTensors()
	var saved []savedTensor
	restore = func() {
		for _, s := range saved {
			s.restore()
		}
	}
	if !opts.ExternalData && !m.tooBigForOneMessage(tensors) {
		for _, tp := range tensors {
			if !isExternal(tp) {
				continue
			}
			data, err := m.ReadExternal(tp)
			if err != nil {
				return nil, restore, err
			}
			saved = append(saved, saveTensor(tp))
			tp.RawData, tp.ExternalData, tp.DataLocation = data, nil, nil
		}
		return nil, restore, nil
	}
	side, placed, err := m.writeSideFile(path, tensors, opts)
	if err != nil {
		return nil, restore, err
	}
	location := filepath.ToSlash(filepath.Base(side.path))
	if !side.named {
		location = filepath.ToSlash(opts.DataFile)
	}
	for _, p := range placed {
		saved = append(saved, saveTensor(p.tp))
		loc := onnxpb.TensorProto_EXTERNAL
		p.tp.RawData, p.tp.DataLocation = nil, &loc
		p.tp.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(location)},
			{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(p.offset, 10))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(p.length))},
		}
	}
	return side, restore, nil
}

// tooBigForOneMessage reports whether the model with all its data inline would pass protobuf's limit.
func (m *Model) tooBigForOneMessage(tensors []*onnxpb.TensorProto) bool {
	size := proto.Size(m.Proto)
	for _, tp := range tensors {
		if isExternal(tp) {
			ref, err := parseExternalRef(tp)
			if err == nil && ref.length > 0 {
				size += int(ref.length)
			}
		}
	}
	return size > protobufLimit
}

// placement is where a tensor's bytes went in the side file.
type placement struct {
	tp     *onnxpb.TensorProto
	offset int64
	length int
}

// writeSideFile writes the bytes of every external tensor and every tensor of at least Threshold
// bytes to a temporary side file, each aligned to 4 KiB, hashing them on the way to name the file.
func (m *Model) writeSideFile(path string, tensors []*onnxpb.TensorProto, opts SaveOptions) (*sideFile, []placement, error) {
	side := &sideFile{named: opts.DataFile == ""}
	tmpBeside := path
	if !side.named {
		side.path = filepath.Join(filepath.Dir(path), filepath.FromSlash(opts.DataFile))
		tmpBeside = side.path
		atomicfile.RemoveStale(side.path)
	}
	hash := sha256.New()
	var placed []placement
	tmp, err := atomicfile.WriteTemp(tmpBeside, func(file io.Writer) error {
		w := io.MultiWriter(file, hash)
		var offset int64
		for _, tp := range tensors {
			data := tp.RawData
			if isExternal(tp) {
				var err error
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
			placed = append(placed, placement{tp, offset, len(data)})
			offset += int64(len(data))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	side.tmp = tmp
	if side.named {
		side.path = filepath.Join(filepath.Dir(path), dataFileName(path, hash.Sum(nil)))
	}
	return side, placed, nil
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

// allTensors lists every tensor message of the model that can hold data: initializers, sparse
// initializers (values and indices) and tensor attributes, in the main graph and all subgraphs.
func (m *Model) allTensors() []*onnxpb.TensorProto {
	var out []*onnxpb.TensorProto
	addSparse := func(sparse ...*onnxpb.SparseTensorProto) {
		for _, s := range sparse {
			if s.Values != nil {
				out = append(out, s.Values)
			}
			if s.Indices != nil {
				out = append(out, s.Indices)
			}
		}
	}
	m.Graph.walkGraphs(func(g *Graph) {
		out = append(out, g.Proto.Initializer...)
		addSparse(g.Proto.SparseInitializer...)
		for _, n := range g.Nodes {
			for _, a := range n.Proto.Attribute {
				if a.T != nil {
					out = append(out, a.T)
				}
				out = append(out, a.Tensors...)
				if a.SparseTensor != nil {
					addSparse(a.SparseTensor)
				}
				addSparse(a.SparseTensors...)
			}
		}
	})
	return out
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
