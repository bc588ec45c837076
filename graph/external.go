package graph

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fcconv/fcconv/internal/safefile"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// externalRef is where an external tensor's bytes are: a file under the model's folder, an offset
// and a length (-1: to the end of the file).
type externalRef struct {
	location string
	offset   int64
	length   int64
}

func parseExternalRef(tp *onnxpb.TensorProto) (externalRef, error) {
	ref := externalRef{length: -1}
	for _, kv := range tp.ExternalData {
		var err error
		switch kv.GetKey() {
		case "location":
			ref.location = kv.GetValue()
		case "offset":
			ref.offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			ref.length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil || ref.offset < 0 || ref.length < -1 {
			return ref, fmt.Errorf("tensor %q: bad external_data %s=%q", tp.GetName(), kv.GetKey(), kv.GetValue())
		}
	}
	if ref.location == "" {
		return ref, fmt.Errorf("tensor %q: external data without a location", tp.GetName())
	}
	return ref, nil
}

// ResolveExternalPath checks that an external-data location stays inside dir (no absolute path, no
// "..", no symlink leading out) and returns the file's path.
func ResolveExternalPath(dir, location string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("external data %q: the model was not loaded from a file, so there is no folder to read it from", location)
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if filepath.IsAbs(clean) || filepath.VolumeName(clean) != "" || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q escapes the model's folder; only relative paths inside it are allowed", location)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	full := filepath.Join(realDir, clean)
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("external data file %q: %v", location, err)
	}
	rel, err := filepath.Rel(realDir, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("external data location %q leads out of the model's folder (through a symlink)", location)
	}
	return real, nil
}

// ReadExternal reads the bytes of a tensor stored in an external file beside the model. The range
// is checked against the file and against what the tensor's dims and type call for before any
// memory is allocated, so a tensor declaring terabytes is an error, not an allocation.
func (m *Model) ReadExternal(tp *onnxpb.TensorProto) ([]byte, error) {
	ref, path, err := m.locateExternal(tp)
	if err != nil {
		return nil, err
	}
	f, st, err := safefile.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
	}
	defer f.Close()
	length, err := ref.checkRange(tp, st.Size())
	if err != nil {
		return nil, err
	}
	if want, err := tensor.RawByteCount(tp); err == nil && int64(want) != length {
		return nil, fmt.Errorf("tensor %q: external data %s holds %d bytes for it, but its type and dims %v call for %d", tp.GetName(), ref.location, length, tp.Dims, want)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, ref.offset); err != nil && err != io.EOF {
		return nil, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	return buf, nil
}

// locateExternal parses a tensor's external reference and resolves its file inside the model's
// folder.
func (m *Model) locateExternal(tp *onnxpb.TensorProto) (externalRef, string, error) {
	ref, err := parseExternalRef(tp)
	if err != nil {
		return ref, "", err
	}
	path, err := ResolveExternalPath(m.Dir, ref.location)
	if err != nil {
		return ref, "", fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	return ref, path, nil
}

// checkRange returns the number of bytes the reference covers in a file of fileSize bytes, or an
// error when offset + length goes past the end (computed without overflow: both are at most
// fileSize once checked one at a time).
func (ref externalRef) checkRange(tp *onnxpb.TensorProto, fileSize int64) (int64, error) {
	if ref.offset > fileSize {
		return 0, fmt.Errorf("tensor %q: external data %s has %d bytes, but its offset is %d", tp.GetName(), ref.location, fileSize, ref.offset)
	}
	length := ref.length
	if length < 0 {
		length = fileSize - ref.offset
	}
	if length > fileSize-ref.offset {
		return 0, fmt.Errorf("tensor %q: external data %s has %d bytes, but offset %d + length %d goes past its end", tp.GetName(), ref.location, fileSize, ref.offset, length)
	}
	return length, nil
}

// isExternal reports whether a tensor's data lives outside the model file.
func isExternal(tp *onnxpb.TensorProto) bool {
	return tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
}

// checkExternalData validates every external reference up front (location inside the model's
// folder, file present, range within the file), so a bad reference fails at load with the tensor's
// name rather than halfway through a conversion.
func (m *Model) checkExternalData() error {
	for _, tp := range m.allTensors() {
		if !isExternal(tp) {
			continue
		}
		ref, path, err := m.locateExternal(tp)
		if err != nil {
			return err
		}
		f, st, err := safefile.OpenRegular(path)
		if err != nil {
			return fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
		}
		f.Close()
		if _, err := ref.checkRange(tp, st.Size()); err != nil {
			return err
		}
	}
	return nil
}

// ExternalFile is one file a model's external data lives in.
type ExternalFile struct {
	// Location is the file as the model names it, relative to the model's folder.
	Location string
	// Path is the file on disk (symlinks resolved).
	Path string
}

// ExternalFiles lists the distinct files the model's external data lives in, in the order the
// tensors name them: initializers, sparse initializers and tensor attributes, in every subgraph.
func (m *Model) ExternalFiles() ([]ExternalFile, error) {
	seen := map[string]bool{}
	var out []ExternalFile
	for _, tp := range m.allTensors() {
		if !isExternal(tp) {
			continue
		}
		ref, err := parseExternalRef(tp)
		if err != nil {
			return nil, err
		}
		if seen[ref.location] {
			continue
		}
		seen[ref.location] = true
		path, err := ResolveExternalPath(m.Dir, ref.location)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
		}
		out = append(out, ExternalFile{Location: ref.location, Path: path})
	}
	return out, nil
}

// ExternalDataFiles loads the model at path and lists the files its external data lives in.
func ExternalDataFiles(path string) ([]ExternalFile, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return m.ExternalFiles()
}
