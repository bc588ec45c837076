package main

// Sharded batches as deploy/ runs them: several fcconv processes, each given --shard K/N, writing
// into one output folder at the same time, their reports merged by deploy/merge-reports.sh.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

const (
	shardZooSize = 16 // models in the generated zoo
	shardCount   = 3  // N of --shard K/N
)

// TestShardProcessesShareOneOutputFolder runs N shard processes at once into one folder and checks
// the result against a single process's: the same files, byte for byte, no temporary file left,
// and the merged reports equal to the single report (outcomes and figures; timings aside).
func TestShardProcessesShareOneOutputFolder(t *testing.T) {
	requireEngine(t)
	bin, zoo := buildPlainFcconv(t), writeShardZoo(t)
	ref := singleProcessRun(t, bin, zoo)

	out, reports := t.TempDir(), t.TempDir()
	var shards []*exec.Cmd
	for k := 1; k <= shardCount; k++ {
		shards = append(shards, startShard(t, bin, zoo, out, fmt.Sprintf("%d/%d", k, shardCount), filepath.Join(reports, fmt.Sprintf("shard-%d.jsonl", k))))
	}
	for _, cmd := range shards {
		waitShard(t, cmd)
	}

	compareOutputFolders(t, ref.out, out)
	compareReports(t, ref, mergeReports(t, reports), out)
}

// TestResumeAfterAKilledShardWritesEachModelOnce kills one shard process mid-run, then reruns every
// shard with --skip-existing: only the models the killed shard had not finished are written again,
// nothing already written is replaced, and the merged reports of both runs equal a single run's.
func TestResumeAfterAKilledShardWritesEachModelOnce(t *testing.T) {
	requireEngine(t)
	bin, zoo := buildPlainFcconv(t), writeShardZoo(t)
	ref := singleProcessRun(t, bin, zoo)

	out, reports := t.TempDir(), t.TempDir()
	const victim = 2
	var shards []*exec.Cmd
	for k := 1; k <= shardCount; k++ {
		shards = append(shards, startShard(t, bin, zoo, out, fmt.Sprintf("%d/%d", k, shardCount), filepath.Join(reports, fmt.Sprintf("shard-%d.first.jsonl", k))))
	}
	// Killed once it has reported its first model, i.e. while it converts its second one.
	killAfterFirstRecord(t, shards[victim-1], filepath.Join(reports, fmt.Sprintf("shard-%d.first.jsonl", victim)))
	for k, cmd := range shards {
		if k+1 != victim {
			waitShard(t, cmd)
		}
	}
	writtenBefore := len(readReportLines(t, filepath.Join(reports, fmt.Sprintf("shard-%d.first.jsonl", victim))))
	if victimModels := (shardZooSize - victim + shardCount) / shardCount; writtenBefore >= victimModels {
		t.Fatalf("the killed shard had already finished all its %d models; the test needs a slower model", victimModels)
	}

	for k := 1; k <= shardCount; k++ {
		retry := startShard(t, bin, zoo, out, fmt.Sprintf("%d/%d", k, shardCount), filepath.Join(reports, fmt.Sprintf("shard-%d.retry.jsonl", k)), "--skip-existing")
		waitShard(t, retry)
	}
	written := 0
	for k := 1; k <= shardCount; k++ {
		for _, rec := range parseReport(t, filepath.Join(reports, fmt.Sprintf("shard-%d.retry.jsonl", k))) {
			if rec["outcome"] != "skipped" {
				written++
			}
			if rec["replaced"] == true {
				t.Errorf("the rerun replaced %v, which an earlier run had written", rec["path"])
			}
		}
	}
	if want := (shardZooSize-victim+shardCount)/shardCount - writtenBefore; written != want {
		t.Errorf("the rerun wrote %d models, want the %d the killed shard had not reported", written, want)
	}

	compareOutputFolders(t, ref.out, out)
	compareReports(t, ref, mergeReports(t, reports), out)
}

// TestTwoProcessesOnTheSameShardReportTheReplacement gives two processes the same shard by mistake:
// every output must still be whole (each is renamed into place), and for each converted model
// exactly one of the two reports must say it replaced the other's file.
func TestTwoProcessesOnTheSameShardReportTheReplacement(t *testing.T) {
	requireEngine(t)
	bin, zoo := buildPlainFcconv(t), writeShardZoo(t)
	ref := singleProcessRun(t, bin, zoo)

	out, reports := t.TempDir(), t.TempDir()
	a := startShard(t, bin, zoo, out, "1/1", filepath.Join(reports, "a.jsonl"))
	b := startShard(t, bin, zoo, out, "1/1", filepath.Join(reports, "b.jsonl"))
	waitShard(t, a)
	waitShard(t, b)
	compareOutputFolders(t, ref.out, out)

	recsA, recsB := parseReport(t, filepath.Join(reports, "a.jsonl")), parseReport(t, filepath.Join(reports, "b.jsonl"))
	if len(recsA) != shardZooSize || len(recsB) != shardZooSize {
		t.Fatalf("the reports have %d and %d records, want %d each", len(recsA), len(recsB), shardZooSize)
	}
	converted := 0
	for i := range recsA {
		ra, rb := recsA[i], recsB[i]
		if ra["outcome"] != "converted" || rb["outcome"] != "converted" {
			continue // a copied model is checked by a look before the copy, not at its rename
		}
		converted++
		if (ra["replaced"] == true) == (rb["replaced"] == true) {
			t.Errorf("%v: replaced is %v in one report and %v in the other; exactly one process replaced the other's output",
				ra["path"], ra["replaced"], rb["replaced"])
		}
	}
	if converted == 0 {
		t.Fatal("no model was converted by both processes")
	}
}

// buildPlainFcconv builds the command into a temporary folder.
func buildPlainFcconv(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fcconv")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeShardZoo writes a zoo of small classifiers, each with a test_data_set_0, of growing width so
// that their figures differ; every fourth model has no fully-connected layer and is copied as is.
func writeShardZoo(t *testing.T) string {
	t.Helper()
	zoo := t.TempDir()
	for i := 0; i < shardZooSize; i++ {
		dir := filepath.Join(zoo, fmt.Sprintf("m%02d", i))
		data, err := proto.Marshal(shardModel(i).Proto())
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, "model.onnx"), data)
		image := onnxbuild.Random(int64(1000+i), 1, 3, 16, 16)
		if err := os.MkdirAll(filepath.Join(dir, "test_data_set_0"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tensor.WriteProtoFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"), "x", image); err != nil {
			t.Fatal(err)
		}
	}
	return zoo
}

// shardModel is Conv 3x3 + Relu over a 16x16 image, then (but for every fourth model) a classifier
// head: Flatten, Gemm to a hidden width that grows with i, Relu, Gemm to 10 classes.
func shardModel(i int) *onnxbuild.Builder {
	const channels, side = 8, 16
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, side, side)
	w := b.Init("conv_w", onnxbuild.Random(int64(i), channels, 3, 3, 3))
	h := b.Node("Relu", []string{b.Node("Conv", []string{x, w}, graph.IntsAttr("pads", 1, 1, 1, 1))})
	if i%4 == 3 {
		b.Output(h, tensor.Float, 1, channels, side, side)
		return b
	}
	hidden := 64 + 16*i
	flat := b.Node("Flatten", []string{h}, graph.IntAttr("axis", 1))
	w1 := b.Init("fc1_w", onnxbuild.Random(int64(100+i), hidden, channels*side*side))
	b1 := b.Init("fc1_b", onnxbuild.Random(int64(200+i), hidden))
	h1 := b.Node("Relu", []string{b.Node("Gemm", []string{flat, w1, b1}, graph.IntAttr("transB", 1))})
	w2 := b.Init("fc2_w", onnxbuild.Random(int64(300+i), 10, hidden))
	b2 := b.Init("fc2_b", onnxbuild.Random(int64(400+i), 10))
	y := b.Node("Gemm", []string{h1, w2, b2}, graph.IntAttr("transB", 1))
	b.Output(y, tensor.Float, 1, 10)
	return b
}

// referenceRun is one process converting the whole zoo.
type referenceRun struct {
	out    string
	report []string
}

func singleProcessRun(t *testing.T, bin, zoo string) referenceRun {
	t.Helper()
	out, report := t.TempDir(), filepath.Join(t.TempDir(), "single.jsonl")
	waitShard(t, startShard(t, bin, zoo, out, "1/1", report))
	lines := readReportLines(t, report)
	if len(lines) != shardZooSize {
		t.Fatalf("the single run reported %d models, want %d", len(lines), shardZooSize)
	}
	return referenceRun{out: out, report: lines}
}

// startShard starts `fcconv convert ZOO -o OUT --shard K/N --report FILE` with the flags the deploy
// recipes use.
func startShard(t *testing.T, bin, zoo, out, shard, report string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"convert", zoo, "-o", out, "--inputs", "auto", "--shard", shard, "--report", report, "-q", "-j", "1"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &bytes.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func waitShard(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, cmd.Stderr)
	}
}

// killAfterFirstRecord kills the process (SIGKILL, no chance to tidy up) as soon as its report
// holds one line.
func killAfterFirstRecord(t *testing.T, cmd *exec.Cmd, report string) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("shard %v ended (%v) before it could be killed; the test needs a slower model", cmd.Args, err)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("shard %v reported nothing within 60 s", cmd.Args)
		case <-time.After(time.Millisecond):
		}
		if data, _ := os.ReadFile(report); bytes.Count(data, []byte("\n")) >= 1 {
			cmd.Process.Kill()
			<-exited
			return
		}
	}
}

// mergeReports runs the merge step of deploy/ on a folder of shard reports.
func mergeReports(t *testing.T, dir string) []string {
	t.Helper()
	out, err := exec.Command("bash", "../../deploy/merge-reports.sh", dir).Output()
	if err != nil {
		t.Fatalf("merge-reports.sh: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// compareReports checks that merged shard reports say what the single run's does, line by line:
// the same models in the same order, with the same outcomes, rewrites, MACs and verification
// figures. Timings differ from run to run and output paths by folder, so they are left out.
func compareReports(t *testing.T, ref referenceRun, merged []string, out string) {
	t.Helper()
	if len(merged) != len(ref.report) {
		t.Fatalf("the merged report has %d lines, the single run's %d:\n%s", len(merged), len(ref.report), strings.Join(merged, "\n"))
	}
	for i := range merged {
		want, got := comparableRecord(t, ref.report[i], ref.out), comparableRecord(t, merged[i], out)
		if want != got {
			t.Errorf("line %d differs from the single run's:\n got %s\nwant %s", i+1, got, want)
		}
	}
}

// comparableRecord is a report line without its timings, with the output folder replaced by "OUT".
func comparableRecord(t *testing.T, line, outDir string) string {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("bad report line %q: %v", line, err)
	}
	delete(rec, "seconds")
	if v, ok := rec["verification"].(map[string]any); ok {
		delete(v, "run_seconds_a")
		delete(v, "run_seconds_b")
	}
	if o, ok := rec["output"].(string); ok {
		rec["output"] = "OUT" + strings.TrimPrefix(o, outDir)
	}
	b, _ := json.Marshal(rec) // map keys come out sorted
	return string(b)
}

func readReportLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func parseReport(t *testing.T, path string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range readReportLines(t, path) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// compareOutputFolders checks that got holds exactly the files of want, with the same bytes, and
// no temporary file of an atomic write (".NAME.tmp*").
func compareOutputFolders(t *testing.T, want, got string) {
	t.Helper()
	wantFiles, gotFiles := listFiles(t, want), listFiles(t, got)
	for _, rel := range gotFiles {
		if strings.HasPrefix(filepath.Base(rel), ".") && strings.Contains(filepath.Base(rel), ".tmp") {
			t.Errorf("a temporary file is left: %s", rel)
		}
	}
	if strings.Join(wantFiles, "\n") != strings.Join(gotFiles, "\n") {
		t.Fatalf("the output folder holds\n  %s\nwant\n  %s", strings.Join(gotFiles, "\n  "), strings.Join(wantFiles, "\n  "))
	}
	for _, rel := range wantFiles {
		a, errA := os.ReadFile(filepath.Join(want, rel))
		b, errB := os.ReadFile(filepath.Join(got, rel))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from the single run's (%v, %v)", rel, errA, errB)
		}
	}
}

func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}
