package graph

import (
	"path/filepath"
	"testing"
)

func TestSaveReportsAReplacedFile(t *testing.T) {
	m, err := Load("../testdata/sample/classifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "model.onnx")
	for i, want := range []bool{false, true} {
		replaced := !want
		if err := m.Save(out, SaveOptions{Replaced: &replaced}); err != nil {
			t.Fatal(err)
		}
		if replaced != want {
			t.Errorf("save %d: replaced = %v, want %v", i+1, replaced, want)
		}
	}
}
