package graph_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/atomicfile"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// weightModel is x[1,64] -> MatMul(w[64,64]) -> y, with w from the given seed (16 KiB: external).
func weightModel(seed int64) *graph.Model {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 64)
	w := b.Init("w", onnxbuild.Random(seed, 64, 64))
	b.NodeOut("MatMul", []string{x, w}, []string{"y"})
	b.Output("y", tensor.Float, 1, 64)
	return b.Model()
}

var dataName = regexp.MustCompile(`^out\.onnx\.[0-9a-f]{16}\.data$`)

// dataFiles lists the content-named side files of out.onnx in dir.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if dataName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// sameWeight reports whether the model at path holds weightModel(seed)'s weight.
func sameWeight(t *testing.T, path string, seed int64) bool {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w, err := m.Graph.ConstantErr("w")
	if err != nil {
		t.Fatal(err)
	}
	want := onnxbuild.Random(seed, 64, 64)
	for i := range want.F32 {
		if w.F32[i] != want.F32[i] {
			return false
		}
	}
	return true
}

func TestExternalDataIsNamedAfterItsContentAndOldDataIsRemoved(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	ext := graph.SaveOptions{ExternalData: true}
	if err := weightModel(1).Save(out, ext); err != nil {
		t.Fatal(err)
	}
	first := dataFiles(t, dir)
	if len(first) != 1 {
		t.Fatalf("side files after the first save: %v", first)
	}
	if err := weightModel(1).Save(out, ext); err != nil {
		t.Fatal(err)
	}
	if again := dataFiles(t, dir); len(again) != 1 || again[0] != first[0] {
		t.Fatalf("the same weights saved again went to %v, want %v", again, first)
	}
	if err := weightModel(2).Save(out, ext); err != nil {
		t.Fatal(err)
	}
	second := dataFiles(t, dir)
	if len(second) != 1 || second[0] == first[0] {
		t.Fatalf("side files after saving other weights: %v (first %v)", second, first)
	}
	if !sameWeight(t, out, 2) {
		t.Fatal("the saved model does not hold the new weights")
	}
	// Saved inline, no side file is needed any more.
	if err := weightModel(2).Save(out, graph.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if left := dataFiles(t, dir); len(left) != 0 {
		t.Fatalf("side files left after an inline save: %v", left)
	}
}

// savedWithData saves weightModel(seed) at dir/name with its data in a side file and returns the
// side file's path.
func savedWithData(t *testing.T, dir, name string, seed int64, opts graph.SaveOptions) string {
	t.Helper()
	path := filepath.Join(dir, name)
	opts.ExternalData = true
	if err := weightModel(seed).Save(path, opts); err != nil {
		t.Fatal(err)
	}
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	files, err := m.ExternalFiles()
	if err != nil || len(files) != 1 {
		t.Fatalf("%s: side files %v, %v", name, files, err)
	}
	return files[0].Path
}

func TestSaveNeverRemovesOrReplacesTheDataItReads(t *testing.T) {
	dir := t.TempDir()
	// An input whose side file has the name an earlier save of out.onnx would have given it.
	inData := savedWithData(t, dir, "out.onnx", 1, graph.SaveOptions{})
	os.Rename(filepath.Join(dir, "out.onnx"), filepath.Join(dir, "in.onnx"))
	before, _ := os.ReadFile(inData)
	in, err := graph.Load(filepath.Join(dir, "in.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// Same weights: the content name is the input's own file, which is kept as it is.
	if err := in.Save(filepath.Join(dir, "out.onnx"), graph.SaveOptions{ExternalData: true}); err != nil {
		t.Fatal(err)
	}
	// Inline: the old side files of out.onnx are removed, but not the one the input reads.
	if err := in.Save(filepath.Join(dir, "out.onnx"), graph.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	if after, err := os.ReadFile(inData); err != nil || !bytes.Equal(after, before) {
		t.Fatalf("the input's data file changed or went away: %v", err)
	}

	// The model itself, or an explicit side file, written over the data the model reads: refused.
	for _, opts := range []struct {
		path string
		save graph.SaveOptions
	}{
		{inData, graph.SaveOptions{}},
		{filepath.Join(dir, "other.onnx"), graph.SaveOptions{ExternalData: true, DataFile: filepath.Base(inData)}},
	} {
		err := in.Save(opts.path, opts.save)
		if err == nil || !strings.Contains(err.Error(), "refusing") || !strings.Contains(err.Error(), inData) {
			t.Errorf("save to %s with %+v: error %v, want a refusal naming %s", opts.path, opts.save, err, inData)
		}
	}
	if after, _ := os.ReadFile(inData); !bytes.Equal(after, before) {
		t.Fatal("the input's data file changed")
	}
	// A file named in Protect is never written over either, even through a hard link.
	protected := filepath.Join(dir, "keep.bin")
	os.WriteFile(protected, []byte("keep"), 0o644)
	link := filepath.Join(dir, "link.onnx")
	if err := os.Link(protected, link); err != nil {
		t.Skip("no hard links here:", err)
	}
	if err := weightModel(3).Save(link, graph.SaveOptions{Protect: []string{protected}}); err == nil {
		t.Fatal("saving over a hard link to a protected file succeeded")
	}
}

func TestExplicitDataFileKeepsItsName(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "weights"), 0o755)
	data := savedWithData(t, dir, "model.onnx", 1, graph.SaveOptions{DataFile: "weights/model.bin"})
	if want, _ := filepath.EvalSymlinks(filepath.Join(dir, "weights", "model.bin")); data != want {
		t.Fatalf("side file %s, want %s", data, want)
	}
	if !sameWeight(t, filepath.Join(dir, "model.onnx"), 1) {
		t.Fatal("the weights did not survive the round trip")
	}
}

// deadPID returns the PID of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	return cmd.Process.Pid
}

// tempOf returns a temporary name of path written by pid (on this host).
func tempOf(path string, pid int) string {
	name := atomicfile.TempPath(path)
	parts := strings.Split(name, "-")
	parts[len(parts)-2] = strconv.Itoa(pid)
	return strings.Join(parts, "-")
}

func TestSaveRemovesTheTemporariesOfKilledSavesOnly(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	dead := tempOf(out, deadPID(t))
	live := tempOf(out, os.Getpid())
	otherOutput := tempOf(filepath.Join(dir, "other.onnx"), deadPID(t))
	for _, p := range []string{dead, live, otherOutput} {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	if err := weightModel(1).Save(out, graph.SaveOptions{ExternalData: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("the temporary of a dead process was left")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("the temporary of a running process was removed")
	}
	if _, err := os.Stat(otherOutput); err != nil {
		t.Error("the temporary of another output was removed")
	}
}

func TestBeforeCommitRunsBeforeAnyFileAppears(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	var seen []string
	check := func() error {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			seen = append(seen, e.Name())
		}
		return os.ErrPermission
	}
	err := weightModel(1).Save(out, graph.SaveOptions{ExternalData: true, BeforeCommit: check})
	if err == nil {
		t.Fatal("the save went on after BeforeCommit failed")
	}
	temps := 0
	for _, name := range seen {
		if !atomicfile.IsTemp(name) {
			t.Errorf("%s was in place before the commit", name)
		}
		temps++
	}
	if temps != 2 {
		t.Errorf("%d temporaries (model and data) before the commit, want 2: %v", temps, seen)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled save left %d files", len(entries))
	}
}

func TestExternalFilesCoversSparseInitializersAttributesAndSubgraphs(t *testing.T) {
	dir := t.TempDir()
	ext := func(name, location string) *onnxpb.TensorProto {
		loc := onnxpb.TensorProto_EXTERNAL
		os.WriteFile(filepath.Join(dir, location), make([]byte, 16), 0o644)
		return &onnxpb.TensorProto{
			Name: proto.String(name), DataType: proto.Int32(int32(tensor.Float)), Dims: []int64{4}, DataLocation: &loc,
			ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(location)}},
		}
	}
	b := onnxbuild.New(13)
	b.Proto().Graph.SparseInitializer = []*onnxpb.SparseTensorProto{{
		Values:  ext("sparse", "sparse.bin"),
		Indices: &onnxpb.TensorProto{Name: proto.String("sparse_idx"), DataType: proto.Int32(int32(tensor.Int64)), Dims: []int64{4}, Int64Data: []int64{0, 1, 2, 3}},
		Dims:    []int64{8},
	}}
	thenBranch := &onnxpb.GraphProto{Name: proto.String("then"), Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo("t", tensor.Float, 4)},
		Node: []*onnxpb.NodeProto{{OpType: proto.String("Constant"), Output: []string{"t"}, Attribute: []*onnxpb.AttributeProto{{
			Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: ext("t", "then.bin")}}}}}
	elseBranch := proto.Clone(thenBranch).(*onnxpb.GraphProto)
	elseBranch.Node[0].Attribute[0].T = ext("t", "else.bin")
	c := b.Input("c", tensor.Bool)
	b.NodeOut("Constant", nil, []string{"k"}, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: ext("k", "attr.bin")})
	b.NodeOut("If", []string{c}, []string{"y"},
		&onnxpb.AttributeProto{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: thenBranch},
		&onnxpb.AttributeProto{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: elseBranch})
	b.Output("y", tensor.Float, 4)
	b.Output("k", tensor.Float, 4)
	path := writeModel(t, dir, b.Proto())
	files, err := graph.ExternalDataFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Location)
	}
	want := "sparse.bin attr.bin then.bin else.bin"
	if strings.Join(got, " ") != want {
		t.Errorf("external files %v, want %s", got, want)
	}
}
