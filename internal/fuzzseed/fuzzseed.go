// Package fuzzseed writes seed corpus files for go test -fuzz targets, in the format the fuzzing
// engine reads from testdata/fuzz/<FuzzName>/ ("go test fuzz v1" and one Go literal per argument).
// The seeds are generated from code (small models built with onnxbuild, encoded tensors), so the
// committed files can be regenerated after a format change: each fuzz test file has a test that
// rewrites its corpus when FCCONV_WRITE_FUZZ_SEEDS=1.
package fuzzseed

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Enabled reports whether the seed files should be (re)written in this run.
func Enabled() bool { return os.Getenv("FCCONV_WRITE_FUZZ_SEEDS") == "1" }

// Write stores one corpus entry for fuzzName under testdata/fuzz in the package's folder, named
// after its content. Each argument must be a []byte, string, int64 or int32, in the order of the
// fuzz function's parameters.
func Write(t *testing.T, fuzzName string, args ...any) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case string:
			fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
		case int64:
			fmt.Fprintf(&b, "int64(%d)\n", v)
		case int32:
			fmt.Fprintf(&b, "int32(%d)\n", v)
		default:
			t.Fatalf("fuzzseed: unsupported argument type %T", a)
		}
	}
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(b.String()))
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%x", sum[:8])), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
