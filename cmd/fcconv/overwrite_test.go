package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
)

// externalSample writes the sample classifier to dir/model.onnx with its weights in dir/dataFile
// and returns the model's path and the data file's path.
func externalSample(t *testing.T, dir, dataFile string) (model, data string) {
	t.Helper()
	m, err := graph.Load(filepath.Join(sampleDir, "classifier.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	model = filepath.Join(dir, "model.onnx")
	if err := m.Save(model, graph.SaveOptions{ExternalData: true, Threshold: 64, DataFile: dataFile}); err != nil {
		t.Fatal(err)
	}
	return model, filepath.Join(dir, dataFile)
}

// unchanged fails the test if any of the files differs from its content in before.
func unchanged(t *testing.T, before map[string][]byte) {
	t.Helper()
	for path, want := range before {
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed or went away (%v)", path, err)
		}
	}
}

func snapshot(t *testing.T, paths ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = data
	}
	return out
}

func TestConvertRefusesToWriteOverTheInputsFiles(t *testing.T) {
	requireEngine(t)
	dir := t.TempDir()
	model, data := externalSample(t, dir, "weights.bin")
	hardLink := filepath.Join(dir, "hard.onnx")
	if err := os.Link(data, hardLink); err != nil {
		t.Skip("no hard links here:", err)
	}
	symLink := filepath.Join(dir, "sym.onnx")
	if err := os.Symlink(model, symLink); err != nil {
		t.Skip("no symlinks here:", err)
	}
	before := snapshot(t, model, data)
	for _, c := range []struct{ out, names string }{
		{data, "weights.bin"},     // -o the input's data file
		{hardLink, "weights.bin"}, // a hard link to it
		{symLink, "model.onnx"},   // a symlink to the input model
	} {
		var code int
		msg := captureStderr(t, func() { code = run([]string{"convert", model, "-o", c.out, "-q", "--external-data"}) })
		if code != exitBadInput {
			t.Errorf("-o %s: exit %d, want %d", c.out, code, exitBadInput)
		}
		if !strings.Contains(msg, c.out) || !strings.Contains(msg, c.names) || strings.Count(strings.TrimSpace(msg), "\n") > 0 {
			t.Errorf("-o %s: message %q should be one line naming the output and %s", c.out, msg, c.names)
		}
		unchanged(t, before)
	}
}

func TestConvertLeavesAnInputDataFileNamedLikeTheOutputsAlone(t *testing.T) {
	requireEngine(t)
	// The input's data file has the name an output's data file had before (OUT.onnx.data), or one an
	// output's content-named data file has (OUT.onnx.<16 hex>.data): converting to OUT.onnx with
	// --external-data writes new data beside it and never over it, and does not clean it away.
	for _, dataFile := range []string{"out.onnx.data", "out.onnx.0123456789abcdef.data"} {
		dir := t.TempDir()
		model, data := externalSample(t, dir, dataFile)
		before := snapshot(t, model, data)
		out := filepath.Join(dir, "out.onnx")
		for i := 0; i < 2; i++ { // the second run replaces the first one's output
			if code := run([]string{"convert", model, "-o", out, "-q", "--external-data"}); code != exitOK {
				t.Fatalf("%s: convert exit %d", dataFile, code)
			}
		}
		unchanged(t, before)
		if code := run([]string{"verify", model, out}); code != exitOK {
			t.Errorf("%s: the output does not verify against the input (exit %d)", dataFile, code)
		}
	}
}
