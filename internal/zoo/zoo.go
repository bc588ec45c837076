// Package zoo finds the shared model zoo for tests: FCCONV_ZOO names its folder (.ci/run sets it to
// ../shared/zoo). Without it, tests that need the zoo skip and say why; `go test ./...` passes
// without the zoo.
package zoo

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the zoo folder, skipping the test when FCCONV_ZOO is not set.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("FCCONV_ZOO")
	if dir == "" {
		tb.Skip("FCCONV_ZOO is not set; set it to the model zoo folder (e.g. ../shared/zoo) to run the zoo tests")
	}
	return dir
}

// Models returns every <zoo>/*/model.onnx, skipping without the zoo and failing on an empty one.
func Models(tb testing.TB) []string {
	tb.Helper()
	dir := Dir(tb)
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "model.onnx"))
	if len(paths) == 0 {
		tb.Fatalf("FCCONV_ZOO=%s holds no */model.onnx", dir)
	}
	return paths
}

// Model returns the path of one zoo model by folder name, skipping when it is absent.
func Model(tb testing.TB, name string) string {
	tb.Helper()
	path := filepath.Join(Dir(tb), name, "model.onnx")
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("%s is not in the zoo at %s", name, filepath.Dir(filepath.Dir(path)))
	}
	return path
}
