package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// captureStdout runs fn and returns what it wrote to stdout.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		out, _ := io.ReadAll(r)
		done <- out
	}()
	fn()
	w.Close()
	os.Stdout = saved
	return string(<-done)
}

// writeProto saves a built model at path.
func writeProto(t *testing.T, path string, b *onnxbuild.Builder) {
	t.Helper()
	data, err := proto.Marshal(b.Proto())
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, data)
}

// sequenceModel is an FC on [1,4,8] token activations, named after the model: fc-to-conv leaves it
// alone under the default scope, with the same reason whatever the names.
func sequenceModel(name string) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("tokens_"+name, tensor.Float, 1, 4, 8)
	w := b.Init(name+".weight", onnxbuild.Random(1, 8, 6))
	b.NodeOut("MatMul", []string{x, w}, []string{"logits"})
	b.Output("logits", tensor.Float, 1, 4, 6)
	return b
}

// flattenAxis2Model is a Gemm after a Flatten with axis=2 (two of them, chained).
func flattenAxis2Model() *onnxbuild.Builder {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 2, 8, 4, 4)
	f := b.Node("Flatten", []string{x}, graph.IntAttr("axis", 2))
	h := b.Node("Gemm", []string{f, b.Init("w1", onnxbuild.Random(2, 10, 16))}, graph.IntAttr("transB", 1))
	y := b.Node("Gemm", []string{h, b.Init("w2", onnxbuild.Random(3, 5, 10))}, graph.IntAttr("transB", 1))
	b.Output(y, tensor.Float, 16, 5)
	return b
}

func TestBatchSummaryIsALinePerModelGroupedByReason(t *testing.T) {
	requireEngine(t)
	zoo, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copySample(t, zoo, "good/classifier.onnx")
	for _, name := range []string{"a", "b", "c", "d"} {
		writeProto(t, filepath.Join(zoo, "seq", name, "model.onnx"), sequenceModel(name))
	}
	writeProto(t, filepath.Join(zoo, "flat/model.onnx"), flattenAxis2Model())
	writeTestFile(t, filepath.Join(zoo, "corrupt/model.onnx"), []byte("this is not a protobuf \xff\xff\xff\xff"))
	report := filepath.Join(t.TempDir(), "report.jsonl")

	var code int
	stdout := captureStdout(t, func() { code = run([]string{"convert", zoo, "-o", out, "--report", report}) })
	if code != exitMismatch {
		t.Fatalf("exit code %d, want %d (a model failed)", code, exitMismatch)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("summary too short:\n%s", stdout)
	}
	want := []string{
		"failed:",
		"  corrupt/model.onnx: " + readReport(t, report)["corrupt/model.onnx"].Reason,
		"declined (every reason in full: the --report file, or fcconv inspect MODEL):",
		"  flat/model.onnx: 2 FCs left: input comes from Flatten with axis=2; try --scope all",
		"  4 models (seq/a/model.onnx, seq/b/model.onnx, seq/c/model.onnx and 1 more): 1 FC left each: input is 3-D activations; try --scope all",
	}
	if got := lines[3:]; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("summary after the counts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, rel := range []string{"seq/a/model.onnx", "flat/model.onnx"} {
		if r := readReport(t, report)[rel]; r.Outcome != "declined" || !strings.Contains(r.Reason, `"`) {
			t.Errorf("%s: the report's reason %q should be the full one, with the names", rel, r.Reason)
		}
	}
}
