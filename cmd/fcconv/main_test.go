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

func TestBadInputExitsWithTwo(t *testing.T) {
	dir := t.TempDir()
	random := filepath.Join(dir, "random.onnx")
	junk := make([]byte, 2048)
	for i := range junk {
		junk[i] = byte(i * 131)
	}
	os.WriteFile(random, junk, 0o644)
	sample, _ := os.ReadFile("../../testdata/sample/classifier.onnx")
	truncated := filepath.Join(dir, "truncated.onnx")
	os.WriteFile(truncated, sample[:len(sample)/3], 0o644)

	cases := [][]string{
		{"inspect", filepath.Join(dir, "missing.onnx")},
		{"inspect", random},
		{"inspect", truncated},
		{"convert", truncated},
		{"verify", random, random},
		{"convert", "../../testdata/sample/classifier.onnx", "--scope", "everything"},
		{"convert", "../../testdata/sample/classifier.onnx", "--dim", "batch"},
		{"convert", "../../testdata/sample/classifier.onnx", "--passes", "no-such-pass"},
		{"verify", "../../testdata/sample/classifier.onnx"},
		{"no-such-command"},
	}
	for _, args := range cases {
		if code := run(args); code != exitBadInput {
			t.Errorf("fcconv %v exited %d, want %d", args, code, exitBadInput)
		}
	}
}

func TestConvertNeverOverwritesTheInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "model.onnx")
	data, err := os.ReadFile("../../testdata/sample/classifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(in, data, 0o644)
	if code := run([]string{"convert", in, "-o", in, "-q"}); code != exitBadInput {
		t.Fatalf("convert -o INPUT exited %d, want %d", code, exitBadInput)
	}
	after, _ := os.ReadFile(in)
	if string(after) != string(data) {
		t.Fatal("the input file changed")
	}
}

// writeBuilt writes a model built in code and returns its path.
func writeBuilt(t *testing.T, b *onnxbuild.Builder) string {
	t.Helper()
	data, err := proto.Marshal(b.Proto())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captureStderr runs fn and returns what it wrote to stderr.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, _ := os.Pipe()
	saved := os.Stderr
	os.Stderr = w
	fn()
	w.Close()
	os.Stderr = saved
	out, _ := io.ReadAll(r)
	return string(out)
}

func TestUnsupportedOpIsNamed(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4)
	w := b.Init("w", onnxbuild.Random(1, 3, 4))
	h := b.Node("FooBar", []string{x})
	b.NodeOut("Gemm", []string{h, w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 3)
	path := writeBuilt(t, b)
	before, _ := os.ReadFile(path)
	var code int
	msg := captureStderr(t, func() { code = run([]string{"convert", path, "-q"}) })
	if code != exitBadInput {
		t.Fatalf("exit %d, want %d", code, exitBadInput)
	}
	for _, want := range []string{"FooBar", "FooBar_node_", "--no-verify"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
	if strings.Count(strings.TrimSpace(msg), "\n") > 0 {
		t.Errorf("message is not one line: %q", msg)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatal("the input changed")
	}
	if _, err := os.Stat(strings.TrimSuffix(path, ".onnx") + ".fcconv.onnx"); err == nil {
		t.Fatal("an output was written for a model that failed")
	}
}

func TestImpossibleShapeIsNamed(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 5) // the weight expects 4 features
	w := b.Init("w", onnxbuild.Random(1, 3, 4))
	b.NodeOut("Gemm", []string{x, w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 3)
	path := writeBuilt(t, b)
	var code int
	msg := captureStderr(t, func() { code = run([]string{"inspect", path}) })
	_ = msg
	if code != exitOK && code != exitBadInput {
		t.Fatalf("inspect exit %d", code)
	}
	msg = captureStderr(t, func() { code = run([]string{"convert", path, "-q"}) })
	if code != exitBadInput || !strings.Contains(msg, "Gemm") {
		t.Fatalf("convert exit %d, message %q: want exit 2 naming the Gemm node", code, msg)
	}
}
