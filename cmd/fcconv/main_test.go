package main

import (
	"os"
	"path/filepath"
	"testing"
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
