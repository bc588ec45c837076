package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
)

// sizedClassifier is Conv 3x3 -> Flatten -> Gemm whose weight fits one input size alone, side x
// side, while the input's dims are all unknown: the model converts only when told its shape.
func sizedClassifier(side int) *onnxbuild.Builder {
	b := onnxbuild.New(13)
	b.Input("x", tensor.Float, 1, 3, side, side)
	for _, d := range b.Proto().Graph.Input[0].Type.GetTensorType().Shape.Dim {
		d.Value = nil // unnamed and unknown
	}
	c := b.Node("Conv", []string{"x", b.Init("conv.weight", onnxbuild.Random(1, 4, 3, 3, 3))})
	r := b.Node("Relu", []string{c})
	f := b.Node("Flatten", []string{r})
	feats := 4 * (side - 2) * (side - 2)
	y := b.Node("Gemm", []string{f, b.Init("fc.weight", onnxbuild.Random(2, 10, feats))}, graph.IntAttr("transB", 1))
	b.Output(y, tensor.Float, 1, 10)
	return b
}

func TestModelFlagsGiveEachModelItsShape(t *testing.T) {
	requireEngine(t)
	zoo := t.TempDir()
	writeProto(t, filepath.Join(zoo, "small/model.onnx"), sizedClassifier(6))
	writeProto(t, filepath.Join(zoo, "large/deep/model.onnx"), sizedClassifier(10))

	// Without per-model shapes both fail, and the reason says which line would fix each.
	report := filepath.Join(t.TempDir(), "report.jsonl")
	if code := run([]string{"convert", zoo, "-o", filepath.Join(t.TempDir(), "out"), "--report", report, "-q"}); code != exitMismatch {
		t.Fatalf("exit code %d, want %d", code, exitMismatch)
	}
	recs := readReport(t, report)
	for rel, line := range map[string]string{"small/model.onnx": `"small/model.onnx --shape x=d1,d2,..."`, "large/deep/model.onnx": `"large/deep/model.onnx --shape x=d1,d2,..."`} {
		if r := recs[rel]; r.Outcome != "failed" || !strings.Contains(r.Reason, "add the line "+line+" to --model-flags FILE") {
			t.Errorf("%s: %+v, want a failure naming the line %s", rel, r, line)
		}
	}

	flags := filepath.Join(t.TempDir(), "flags.txt")
	writeTestFile(t, flags, []byte("# each model's input\nsmall/*.onnx --shape x=1,3,6,6\n\n**/deep/model.onnx --shape x=1,3,9,9 --seed 3\nlarge/** --shape x=1,3,10,10\n"))
	report = filepath.Join(t.TempDir(), "report.jsonl")
	if code := run([]string{"convert", zoo, "-o", filepath.Join(t.TempDir(), "out"), "--report", report, "--model-flags", flags, "-q"}); code != exitOK {
		t.Fatalf("with --model-flags: exit code %d, want 0 (report %v)", code, readReport(t, report))
	}
	for rel, r := range readReport(t, report) {
		if r.Outcome != "converted" {
			t.Errorf("%s: %+v, want converted", rel, r)
		}
	}
}

func TestModelFlagsMistakesAreUsageErrorsNamingTheLine(t *testing.T) {
	zoo := t.TempDir()
	writeProto(t, filepath.Join(zoo, "a/model.onnx"), sizedClassifier(6))
	for _, c := range []struct{ file, want string }{
		{"# fine\na/* --seed 2\na/* --jobs 2\n", "flags.txt:3: --jobs applies to the whole batch"},
		{"a/* --frobnicate\n", "flags.txt:1: unknown flag: --frobnicate"},
		{"a/* --scope everything\n", `flags.txt:1: --scope must be heads or all, not "everything"`},
		{"a/* --seed 2 stray\n", `flags.txt:1: "stray" is not a flag`},
		{"a/* --passes nosuch\n", "flags.txt:1: "},
		{"a/*\n", "flags.txt: line 1:"},
	} {
		flags := filepath.Join(t.TempDir(), "flags.txt")
		writeTestFile(t, flags, []byte(c.file))
		var code int
		stderr := captureStderr(t, func() {
			code = run([]string{"convert", zoo, "-o", filepath.Join(t.TempDir(), "out"), "--model-flags", flags})
		})
		if code != exitBadInput || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with %q", c.file, code, stderr, c.want)
		}
	}
}

func TestBatchVerifiesWithEachModelsOwnTestDataByDefault(t *testing.T) {
	requireEngine(t)
	zoo := t.TempDir()
	copySample(t, zoo, "with-data/classifier.onnx")
	copyTestFile(t, filepath.Join(sampleDir, "classifier.onnx"), filepath.Join(zoo, "without/classifier.onnx"))
	flags := filepath.Join(t.TempDir(), "flags.txt")
	writeTestFile(t, flags, []byte("with-data/* --seed 4\n")) // per-model flags keep the default
	report := filepath.Join(t.TempDir(), "report.jsonl")
	if code := run([]string{"convert", zoo, "-o", filepath.Join(t.TempDir(), "out"), "--report", report, "--model-flags", flags, "-q"}); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	sources := map[string]string{}
	for _, rec := range parseReport(t, report) {
		v, _ := rec["verification"].(map[string]any)
		sources[rec["path"].(string)], _ = v["input_source"].(string)
	}
	if want := filepath.Join(zoo, "with-data", "test_data_set_0"); sources["with-data/classifier.onnx"] != want {
		t.Errorf("with-data verified on %q, want its own %q", sources["with-data/classifier.onnx"], want)
	}
	if s := sources["without/classifier.onnx"]; !strings.Contains(s, "random") {
		t.Errorf("without verified on %q, want random inputs", s)
	}
}
