package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fcconv/fcconv/internal/zoo"

	"github.com/fcconv/fcconv/batch"
	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite/passes"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

const sampleDir = "../../testdata/sample"

// batchRecord is the part of a report line the tests read.
type batchRecord struct {
	Path    string `json:"path"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Model   string `json:"model"`
	Output  string `json:"output"`
	Status  string `json:"status"`
}

// requireFCToConv skips a test when the fc-to-conv pass is not built in yet: batch conversion
// refuses an unknown pass before it starts.
func requireFCToConv(t *testing.T) {
	t.Helper()
	if _, err := passes.Lookup("fc-to-conv"); err != nil {
		t.Skip("the fc-to-conv pass is not registered yet")
	}
}

// requireEngine skips a test that needs models to convert when the engine cannot yet run the
// sample classifier (its ops are still being written).
func requireEngine(t *testing.T) {
	t.Helper()
	requireFCToConv(t)
	res, err := convert.Convert(filepath.Join(sampleDir, "classifier.onnx"), convert.Options{Output: filepath.Join(t.TempDir(), "c.onnx")})
	if err != nil || res.Status != convert.Converted {
		t.Skipf("the engine cannot convert the sample classifier yet: %v", err)
	}
}

// copySample puts the sample classifier, with its test_data_set_0, at dir/rel.
func copySample(t *testing.T, dir, rel string) {
	t.Helper()
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	copyTestFile(t, filepath.Join(sampleDir, "classifier.onnx"), dst)
	copyTestFile(t, filepath.Join(sampleDir, "test_data_set_0", "input_0.pb"), filepath.Join(filepath.Dir(dst), "test_data_set_0", "input_0.pb"))
}

func copyTestFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, dst, data)
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeModel saves a one-node model x[1,4] -> op -> y.
func writeModel(t *testing.T, path, op string) {
	t.Helper()
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4)
	b.NodeOut(op, []string{x}, []string{"y"})
	b.Output("y", tensor.Float, 1, 4)
	data, err := proto.Marshal(b.Proto())
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, data)
}

// readReport reads a JSON Lines report into records by path.
func readReport(t *testing.T, path string) map[string]batchRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]batchRecord{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r batchRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		if _, dup := out[r.Path]; dup {
			t.Errorf("%s is twice in the report", r.Path)
		}
		out[r.Path] = r
	}
	return out
}

func TestBatchConvertsAFolderAndMirrorsIt(t *testing.T) {
	requireEngine(t)
	zoo, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copySample(t, zoo, "vision/classifier.onnx")
	copySample(t, zoo, "more/deep/classifier.onnx")
	writeModel(t, filepath.Join(zoo, "plain/relu.onnx"), "Relu")
	writeTestFile(t, filepath.Join(zoo, "vision/classifier.fcconv.onnx"), []byte("an earlier output")) // left out
	report := filepath.Join(t.TempDir(), "report.jsonl")

	if code := run([]string{"convert", zoo, "-o", out, "-j", "2", "--inputs", "auto", "--report", report}); code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	recs := readReport(t, report)
	if len(recs) != 3 {
		t.Fatalf("report has %d models, want 3: %v", len(recs), recs)
	}
	for _, rel := range []string{"vision/classifier.onnx", "more/deep/classifier.onnx"} {
		if r := recs[rel]; r.Outcome != "converted" || r.Output != filepath.Join(out, filepath.FromSlash(rel)) {
			t.Errorf("%s: %+v", rel, r)
		}
		for _, f := range []string{rel, filepath.Join(filepath.Dir(rel), "test_data_set_0", "input_0.pb")} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("not mirrored: %v", err)
			}
		}
	}
	if r := recs["plain/relu.onnx"]; r.Outcome != "unchanged" {
		t.Errorf("plain/relu.onnx: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(out, "plain", "relu.onnx")); err != nil {
		t.Errorf("the unchanged model was not copied: %v", err)
	}
	if code := run([]string{"verify", filepath.Join(zoo, "vision/classifier.onnx"), filepath.Join(out, "vision/classifier.onnx")}); code != exitOK {
		t.Errorf("the converted model does not verify against its original: exit %d", code)
	}
}

func TestBatchRecordsEachFailureAndConvertsTheRest(t *testing.T) {
	requireEngine(t)
	zoo, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	copySample(t, zoo, "good/classifier.onnx")
	copySample(t, zoo, "good2/classifier.onnx")
	writeTestFile(t, filepath.Join(zoo, "corrupt/model.onnx"), []byte("this is not a protobuf \xff\xff\xff\xff"))
	writeModel(t, filepath.Join(zoo, "exotic/model.onnx"), "FooBar")
	report := filepath.Join(t.TempDir(), "report.jsonl")

	if code := run([]string{"convert", zoo, "-o", out, "-j", "2", "--report", report, "-q"}); code != exitMismatch {
		t.Fatalf("exit code %d, want %d", code, exitMismatch)
	}
	recs := readReport(t, report)
	for _, rel := range []string{"good/classifier.onnx", "good2/classifier.onnx"} {
		if recs[rel].Outcome != "converted" {
			t.Errorf("%s: %+v", rel, recs[rel])
		}
	}
	if r := recs["corrupt/model.onnx"]; r.Outcome != "failed" || r.Reason == "" {
		t.Errorf("corrupt model: %+v", r)
	}
	if r := recs["exotic/model.onnx"]; r.Outcome != "failed" || !strings.Contains(r.Reason, "FooBar") {
		t.Errorf("unsupported op: %+v, want a reason naming FooBar", r)
	}
	for _, rel := range []string{"corrupt/model.onnx", "exotic/model.onnx"} {
		if _, err := os.Stat(filepath.Join(out, rel)); err == nil {
			t.Errorf("%s was written to the output folder though it failed", rel)
		}
	}
}

// shardZoo makes a folder of n models that fail fast (garbage): sharding and listing do not care
// whether a model converts, so these tests run before the engine is complete.
func shardZoo(t *testing.T, n int) (string, []string) {
	t.Helper()
	zoo := t.TempDir()
	var rels []string
	for i := 0; i < n; i++ {
		rel := filepath.ToSlash(filepath.Join(string(rune('a'+i%5)), strings.Repeat("m", i+1)+".onnx"))
		writeTestFile(t, filepath.Join(zoo, rel), []byte("garbage"))
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	return zoo, rels
}

func TestBatchShardsCoverEveryModelExactlyOnce(t *testing.T) {
	requireFCToConv(t)
	zoo, all := shardZoo(t, 11)
	out := filepath.Join(t.TempDir(), "out")
	seen := map[string]int{}
	var concatenated []string
	for _, shard := range []string{"1/3", "2/3", "3/3"} {
		report := filepath.Join(t.TempDir(), "report.jsonl")
		run([]string{"convert", zoo, "-o", out, "--shard", shard, "--report", report, "-q"})
		recs := readReport(t, report)
		if len(recs) < 3 || len(recs) > 4 {
			t.Errorf("shard %s has %d of 11 models", shard, len(recs))
		}
		for p := range recs {
			seen[p]++
			concatenated = append(concatenated, p)
		}
	}
	for _, rel := range all {
		if seen[rel] != 1 {
			t.Errorf("%s converted by %d shards, want 1", rel, seen[rel])
		}
	}
	if len(concatenated) != len(all) {
		t.Errorf("the shard reports hold %d lines, want %d", len(concatenated), len(all))
	}
	if code := run([]string{"convert", zoo, "-o", out, "--shard", "4/3"}); code != exitBadInput {
		t.Errorf("--shard 4/3 exited %d, want %d", code, exitBadInput)
	}
}

func TestBatchSkipExisting(t *testing.T) {
	requireFCToConv(t)
	zoo, _ := shardZoo(t, 2) // a/m.onnx, b/mm.onnx
	out := t.TempDir()
	done := filepath.Join(out, "a", "m.onnx")
	writeTestFile(t, done, []byte("converted earlier"))
	later := time.Now().Add(time.Minute)
	os.Chtimes(done, later, later)
	report := filepath.Join(t.TempDir(), "report.jsonl")

	run([]string{"convert", zoo, "-o", out, "--skip-existing", "--report", report, "-q"})
	recs := readReport(t, report)
	if recs["a/m.onnx"].Outcome != "skipped" {
		t.Errorf("a/m.onnx: %+v, want skipped", recs["a/m.onnx"])
	}
	if recs["b/mm.onnx"].Outcome == "skipped" {
		t.Errorf("b/mm.onnx has no output yet but was skipped")
	}
	if data, _ := os.ReadFile(done); string(data) != "converted earlier" {
		t.Errorf("the existing output was touched: %q", data)
	}
}

func TestBatchFromListAndStdin(t *testing.T) {
	requireFCToConv(t)
	zoo, _ := shardZoo(t, 5)
	out := filepath.Join(t.TempDir(), "out")
	list := filepath.Join(t.TempDir(), "models.txt")
	listed := "# two models\n" + filepath.Join(zoo, "a", "m.onnx") + "\n\n" + filepath.Join(zoo, "c", "mmm.onnx") + "\n"
	writeTestFile(t, list, []byte(listed))
	want := []string{"a/m.onnx", "c/mmm.onnx"} // relative to zoo, the folder holding both

	report := filepath.Join(t.TempDir(), "report.jsonl")
	run([]string{"convert", "--from", list, "-o", out, "--report", report, "-q"})
	if got := sortedKeys(readReport(t, report)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("--from FILE converted %v, want %v", got, want)
	}

	stdin, err := os.Open(list)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	saved := os.Stdin
	os.Stdin = stdin
	defer func() { os.Stdin = saved }()
	report = filepath.Join(t.TempDir(), "report.jsonl")
	run([]string{"convert", "--from", "-", "-o", out, "--report", report, "-q"})
	if got := sortedKeys(readReport(t, report)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("--from - converted %v, want %v", got, want)
	}
}

func sortedKeys(m map[string]batchRecord) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestBatchUsageErrors(t *testing.T) {
	requireFCToConv(t)
	zoo, _ := shardZoo(t, 1)
	empty := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	cases := [][]string{
		{"convert", zoo},                            // no -o
		{"convert", zoo, "-o", out, "-j", "-1"},     // bad -j
		{"convert", zoo, "-o", out, "--shard", "2"}, // bad shard
		{"convert", empty, "-o", out},               // nothing to convert
		{"convert", zoo, "-o", zoo},                 // would overwrite the inputs
		{"convert", zoo, "-o", out, "--passes", "no-such-pass"},
		{"convert", "--from", filepath.Join(empty, "missing.txt"), "-o", out},
	}
	for _, args := range cases {
		if code := run(args); code != exitBadInput {
			t.Errorf("fcconv %v exited %d, want %d", args, code, exitBadInput)
		}
	}
}

// TestBatchConvertsTheZoo converts the shared model zoo with each model's own test data and checks
// that none failed.
func TestBatchConvertsTheZoo(t *testing.T) {
	zooDir := zoo.Dir(t)
	if testing.Short() {
		t.Skip("slow: converts the whole zoo")
	}
	requireFCToConv(t)
	out := filepath.Join(t.TempDir(), "out")
	report := filepath.Join(t.TempDir(), "report.jsonl")
	code := run([]string{"convert", zooDir, "-o", out, "-j", "2", "--inputs", "auto", "--report", report, "-q"})
	recs := readReport(t, report)
	for _, r := range recs {
		if batch.Outcome(r.Outcome).Bad() {
			t.Errorf("%s: %s: %s", r.Path, r.Outcome, r.Reason)
		}
	}
	if code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
	t.Logf("%d models", len(recs))
}
