package graph_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// smallModel is x -> Relu -> Gemm(w) -> y.
func smallModel() *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4)
	w := b.Init("w", onnxbuild.Random(1, 3, 4))
	h := b.Node("Relu", []string{x})
	b.NodeOut("Gemm", []string{h, w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 3)
	return b
}

func writeModel(t *testing.T, dir string, mp *onnxpb.ModelProto) string {
	t.Helper()
	data, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func expectLoadError(t *testing.T, path string, want ...string) {
	t.Helper()
	_, err := graph.Load(path)
	if err == nil {
		t.Fatalf("Load(%s) succeeded, want an error", path)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range append(want, path) {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestLoadRejectsMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeModel(t, dir, smallModel().Proto())
	data, _ := os.ReadFile(good)

	truncated := filepath.Join(dir, "truncated.onnx")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	expectLoadError(t, truncated, "truncated or corrupt")

	random := filepath.Join(dir, "random.onnx")
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*7919 + i/13)
	}
	os.WriteFile(random, junk, 0o644)
	expectLoadError(t, random)

	empty := filepath.Join(dir, "empty.onnx")
	os.WriteFile(empty, nil, 0o644)
	expectLoadError(t, empty, "empty")

	expectLoadError(t, filepath.Join(dir, "missing.onnx"), "no such file")
}

func TestLoadRejectsDanglingInput(t *testing.T) {
	b := smallModel()
	b.Proto().Graph.Node[1].Input[0] = "never_produced"
	path := writeModel(t, t.TempDir(), b.Proto())
	expectLoadError(t, path, "never_produced", "Gemm")
}

func TestLoadRejectsCycle(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4)
	b.NodeOut("Add", []string{x, "b"}, []string{"a"})
	b.NodeOut("Relu", []string{"a"}, []string{"b"})
	b.Output("a", tensor.Float, 1, 4)
	path := writeModel(t, t.TempDir(), b.Proto())
	expectLoadError(t, path, "cycle")
}

func TestLoadSortsUnsortedGraph(t *testing.T) {
	b := smallModel()
	nodes := b.Proto().Graph.Node
	nodes[0], nodes[1] = nodes[1], nodes[0]
	path := writeModel(t, t.TempDir(), b.Proto())
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Graph.IsSorted() {
		t.Fatal("IsSorted is true for an unsorted file")
	}
	order, err := m.Graph.TopoOrder()
	if err != nil || order[0].OpType() != "Relu" {
		t.Fatalf("TopoOrder = %v, %v; want Relu first", order, err)
	}
}

// externalModel writes a model whose weight lives in an external file at location.
func externalModel(t *testing.T, dir, location string) string {
	t.Helper()
	b := smallModel()
	w := b.Proto().Graph.Initializer[0]
	raw := w.RawData
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, location)), 0o755); err == nil {
		os.WriteFile(filepath.Join(dir, location), raw, 0o644)
	}
	loc := onnxpb.TensorProto_EXTERNAL
	w.RawData, w.DataLocation = nil, &loc
	w.ExternalData = []*onnxpb.StringStringEntryProto{
		{Key: proto.String("location"), Value: proto.String(location)},
		{Key: proto.String("offset"), Value: proto.String("0")},
		{Key: proto.String("length"), Value: proto.String("48")},
	}
	return writeModel(t, dir, b.Proto())
}

func TestExternalDataIsRead(t *testing.T) {
	dir := t.TempDir()
	path := externalModel(t, dir, "weights.bin")
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := m.Graph.ConstantErr("w")
	if err != nil || w == nil || w.Len() != 12 {
		t.Fatalf("external weight = %v, %v", w, err)
	}
	want, _ := tensor.FromProto(smallModel().Proto().Graph.Initializer[0], nil)
	for i := range want.F32 {
		if w.F32[i] != want.F32[i] {
			t.Fatalf("element %d = %v, want %v", i, w.F32[i], want.F32[i])
		}
	}
	// Saving inline puts the bytes back into the model; saving with external data writes a side file.
	inline := filepath.Join(dir, "inline.onnx")
	if err := m.Save(inline, graph.SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := graph.Load(inline)
	if err != nil || back.Graph.Initializer("w").GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		t.Fatalf("inline save kept external data: %v", err)
	}
	outDir := t.TempDir()
	ext := filepath.Join(outDir, "ext.onnx")
	if err := back.Save(ext, graph.SaveOptions{ExternalData: true, Threshold: 16}); err != nil {
		t.Fatal(err)
	}
	again, err := graph.Load(ext)
	if err != nil {
		t.Fatal(err)
	}
	if files, err := again.ExternalFiles(); err != nil || len(files) != 1 {
		t.Fatalf("side files %v, %v; want one", files, err)
	}
	if w2, err := again.Graph.ConstantErr("w"); err != nil || w2.F32[5] != want.F32[5] {
		t.Fatalf("external round trip lost the weight: %v", err)
	}
}

func TestExternalDataMayNotEscapeTheFolder(t *testing.T) {
	root := t.TempDir()
	modelDir := filepath.Join(root, "model")
	os.MkdirAll(modelDir, 0o755)
	os.WriteFile(filepath.Join(root, "secret.bin"), make([]byte, 48), 0o644)

	expectLoadError(t, externalModel(t, modelDir, "../secret.bin"), "escapes")
	expectLoadError(t, externalModel(t, modelDir, filepath.Join(root, "secret.bin")), "escapes")

	os.Symlink(filepath.Join(root, "secret.bin"), filepath.Join(modelDir, "link.bin"))
	expectLoadError(t, externalModel(t, modelDir, "link.bin"), "symlink")
}

func TestSaveNeverLeavesPartialFiles(t *testing.T) {
	dir := t.TempDir()
	m, err := graph.Load(writeModel(t, dir, smallModel().Proto()))
	if err != nil {
		t.Fatal(err)
	}
	// A folder that does not exist: the save fails and leaves nothing behind.
	if err := m.Save(filepath.Join(dir, "nope", "out.onnx"), graph.SaveOptions{}); err == nil {
		t.Fatal("save into a missing folder succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestNewerVersionsLoadWithAWarning(t *testing.T) {
	b := smallModel()
	b.Proto().IrVersion = proto.Int64(graph.NewestIRVersion + 2)
	b.Proto().OpsetImport[0].Version = proto.Int64(graph.NewestOpset + 5)
	path := writeModel(t, t.TempDir(), b.Proto())
	var warnings strings.Builder
	saved := graph.WarningOutput
	graph.WarningOutput = &warnings
	defer func() { graph.WarningOutput = saved }()
	if _, err := graph.Load(path); err != nil {
		t.Fatalf("a model with a newer IR version and opset does not load: %v", err)
	}
	for _, want := range []string{path, fmt.Sprintf("IR version %d", graph.NewestIRVersion+2), fmt.Sprintf("as IR version %d", graph.NewestIRVersion),
		fmt.Sprintf("opset %d", graph.NewestOpset+5), fmt.Sprintf("opset-%d definitions", graph.NewestOpset)} {
		if !strings.Contains(warnings.String(), want) {
			t.Errorf("warnings %q do not mention %q", warnings.String(), want)
		}
	}
}
