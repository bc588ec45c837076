package convert

import (
	"path/filepath"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/rewrite/fctoconv"
	"github.com/fcconv/fcconv/verify"
)

const sample = "../testdata/sample/classifier.onnx"

// compilesOf converts the sample classifier and returns how many times the engine compiled a
// graph for it.
func compilesOf(t *testing.T, opts Options) int64 {
	t.Helper()
	opts.Output = filepath.Join(t.TempDir(), "out.onnx")
	opts.Tolerances = verify.Tolerances{Default: verify.DefaultTolerance}
	before := engine.Compiles()
	res, err := Convert(sample, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Converted {
		t.Fatalf("status %s, want converted", res.Status)
	}
	return engine.Compiles() - before
}

// TestCompileCount holds the pipeline to its one-way data flow: shapes are inferred once (the
// passes receive them), and each model is compiled once to be verified.
func TestCompileCount(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want int64
	}{
		// Shape inference, then the original and the rewritten model.
		{"default", Options{}, 3},
		// Shape inference, then the rewritten model's shapes for its MACs.
		{"no-verify", Options{NoVerify: true}, 2},
		// Also --spatial's check that the graph infers at twice the input size, and the run of the
		// result at that size.
		{"spatial", Options{FCToConv: fctoconv.Options{Spatial: true}}, 5},
		// The test-data folder is read once; it costs no compile.
		{"inputs-dir", Options{InputsDir: "auto"}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := compilesOf(t, c.opts); got != c.want {
				t.Errorf("%d compiles, want %d", got, c.want)
			}
		})
	}
}
