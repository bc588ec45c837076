package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/atomicfile"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
)

// The kill test: fcconv is killed with SIGKILL at random moments of a conversion, and whatever the
// moment, the input must be unchanged, the output absent or complete and correct (byte for byte
// what an uninterrupted run writes, or the complete earlier output), and the next run must leave
// no temporary file behind. Kills land anywhere in a run, in its second half, or right at the
// moment the output's first file is renamed into place. FCCONV_KILL_SEED replays a run's delays.

// killPause is how long the kill test's build of fcconv waits before a save's first rename and
// between the data file's rename and the model's (graph.commitPause): the watched kills land there.
const killPause = "5ms"

// buildFcconv builds the fcconv binary into a temporary folder, with graph.commitPause set.
func buildFcconv(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fcconv")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/fcconv/fcconv/graph.commitPause="+killPause, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// killModel is a classifier head over a 256x16x16 map, GlobalAveragePool -> Flatten -> Gemm
// hidden -> Relu -> Gemm 1000, with weights from seed (5 MB with 1024 hidden units): big enough that
// a save takes some milliseconds, so kills land inside it.
func killModel(seed int64, hidden int) *graph.Model {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 256, 16, 16)
	p := b.Node("GlobalAveragePool", []string{x})
	f := b.Node("Flatten", []string{p}, graph.IntAttr("axis", 1))
	w1 := b.Init("w1", onnxbuild.Random(seed, hidden, 256))
	h := b.Node("Gemm", []string{f, w1}, graph.IntAttr("transB", 1))
	h = b.Node("Relu", []string{h})
	w2 := b.Init("w2", onnxbuild.Random(seed+1, 1000, hidden))
	b.NodeOut("Gemm", []string{h, w2}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 1000)
	return b.Model()
}

// convOnlyModel has nothing to convert (a batch copies it as is) and 4.7 MB of weights.
func convOnlyModel() *graph.Model {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 256, 16, 16)
	w := b.Init("w", onnxbuild.Random(9, 512, 256, 3, 3))
	b.NodeOut("Conv", []string{x, w}, []string{"y"}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
	b.Output("y", tensor.Float, 1, 512, 16, 16)
	return b.Model()
}

// writeKillModel saves a model into dir/model.onnx, with test_data_set_0 and _1 beside it.
func writeKillModel(t *testing.T, dir string, m *graph.Model, opts graph.SaveOptions) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := m.Save(path, opts); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 2; i++ {
		set := filepath.Join(dir, "test_data_set_"+strconv.FormatInt(i, 10))
		os.MkdirAll(set, 0o755)
		if err := tensor.WriteProtoFile(filepath.Join(set, "input_0.pb"), "x", onnxbuild.Random(20+i, 1, 256, 16, 16)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// tree maps every regular file below dir (slash paths relative to it) to the SHA-256 of its bytes.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		sum := sha256.Sum256(data)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// temporaries lists the temporary files and folders below dir.
func temporaries(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && atomicfile.IsTemp(d.Name()) {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// withoutTemporaries is a tree without its temporary files and the files in temporary folders.
func withoutTemporaries(files map[string]string) map[string]string {
	out := map[string]string{}
next:
	for rel, sum := range files {
		for _, part := range strings.Split(rel, "/") {
			if atomicfile.IsTemp(part) {
				continue next
			}
		}
		out[rel] = sum
	}
	return out
}

// diffTrees describes how got differs from want ("" when equal).
func diffTrees(got, want map[string]string) string {
	var diffs []string
	for rel, sum := range want {
		if g, ok := got[rel]; !ok {
			diffs = append(diffs, "missing "+rel)
		} else if g != sum {
			diffs = append(diffs, "different "+rel)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			diffs = append(diffs, "extra "+rel)
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, ", ")
}

// killer runs fcconv and kills it at random moments.
type killer struct {
	t    *testing.T
	bin  string
	rng  *rand.Rand
	runs map[string]int // outcomes, for the log
}

// runToEnd runs fcconv to the end and returns how long it took.
func (k *killer) runToEnd(args ...string) time.Duration {
	k.t.Helper()
	start := time.Now()
	out, err := exec.Command(k.bin, args...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("fcconv %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return time.Since(start)
}

// typical is the median time of three uninterrupted runs.
func (k *killer) typical(args ...string) time.Duration {
	var d []time.Duration
	for i := 0; i < 3; i++ {
		d = append(d, k.runToEnd(args...))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[1]
}

// moment says when to kill: a random delay of up to span after the start, from (after) on; or,
// when watch is set, as soon as watch sees the output folder reach the moment it looks for, plus a
// random delay of up to span.
type moment struct {
	name        string
	after, span time.Duration
	watch       func() bool
}

// pick chooses the moment of trial i: in turn anywhere in a typical run, in its second half (where
// the writing is), or the moment watch looks for.
func (k *killer) pick(i int, typical time.Duration, watched string, watch func() bool, watchSpan time.Duration) moment {
	span := typical * 11 / 10
	switch i % 3 {
	case 0:
		return moment{name: "anywhere", span: span}
	case 1:
		return moment{name: "second half", after: span / 2, span: span / 2}
	}
	return moment{name: watched, watch: watch, span: watchSpan}
}

// tally counts what the trials found, by moment and finding.
type tally map[string]int

func (t tally) add(when moment, killed bool, finding string) {
	if !killed {
		finding = "finished before the kill"
	}
	t[when.name+": "+finding]++
}

func (t tally) String() string {
	var keys []string
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %3d  %s", t[k], k)
	}
	return b.String()
}

// runAndKill starts fcconv and sends it SIGKILL at the moment. It reports whether the kill hit
// the process while it ran (false: it had finished first).
func (k *killer) runAndKill(when moment, args ...string) bool {
	k.t.Helper()
	cmd := exec.Command(k.bin, args...)
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for when.watch != nil && !when.watch() {
		select {
		case err := <-exited:
			return k.killed(err, args)
		case <-time.After(50 * time.Microsecond):
		}
	}
	select {
	case err := <-exited:
		return k.killed(err, args)
	case <-time.After(when.after + time.Duration(k.rng.Int63n(int64(when.span)))):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	return k.killed(<-exited, args)
}

// killed reports whether a run ended by SIGKILL; a run that failed on its own fails the test.
func (k *killer) killed(err error, args []string) bool {
	k.t.Helper()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		k.t.Fatalf("fcconv %s failed on its own: %v", strings.Join(args, " "), err)
	}
	return false
}

func TestKilledAtRandomMomentsNeverLosesData(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill test builds fcconv and runs it a few hundred times")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("FCCONV_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (FCCONV_KILL_SEED replays it)", seed)
	bin := os.Getenv("FCCONV_KILL_BIN") // another build to test (an older one fails)
	if bin == "" {
		bin = buildFcconv(t)
	}
	k := &killer{t: t, bin: bin, rng: rand.New(rand.NewSource(seed))}
	kills := map[string]int{}
	// Each phase runs until 18 runs were killed while running (runs often finish before their
	// kill), within a cap of trials.
	t.Run("convert", func(t *testing.T) { kills["convert"] = killSingleConvert(t, k, false, 18) })
	t.Run("external-data", func(t *testing.T) { kills["external-data"] = killSingleConvert(t, k, true, 18) })
	t.Run("batch", func(t *testing.T) { kills["batch"] = killBatch(t, k, 18) })
	total := kills["convert"] + kills["external-data"] + kills["batch"]
	t.Logf("kills: convert %d, --external-data %d, batch %d; %d in all", kills["convert"], kills["external-data"], kills["batch"], total)
	if total < 50 {
		t.Errorf("only %d runs were killed while running (the others finished first); want at least 50", total)
	}
}

// pair is a saved model and its data file ("" when inline), as bytes.
type pair struct {
	model, data []byte
	dataName    string
}

// readPair reads the model at path and the data file it names; ok is false when the model is absent.
func readPair(t *testing.T, path string) (p pair, ok bool) {
	t.Helper()
	model, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, false
	}
	if err != nil {
		t.Fatal(err)
	}
	p.model = model
	m, err := graph.Load(path)
	if err != nil {
		t.Fatalf("the output %s is there but does not load: %v", path, err)
	}
	defer m.Close()
	files, err := m.ExternalFiles()
	if err != nil {
		t.Fatalf("the output %s is there but its data is not: %v", path, err)
	}
	if len(files) > 1 {
		t.Fatalf("the output %s names %d data files", path, len(files))
	}
	if len(files) == 1 {
		p.dataName = files[0].Location
		if p.data, err = os.ReadFile(files[0].Path); err != nil {
			t.Fatal(err)
		}
	}
	return p, true
}

func (p pair) equal(q pair) bool {
	return bytes.Equal(p.model, q.model) && bytes.Equal(p.data, q.data) && p.dataName == q.dataName
}

// place writes a pair as the output at path.
func (p pair) place(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, p.model, 0o644); err != nil {
		t.Fatal(err)
	}
	if p.dataName != "" {
		if err := os.WriteFile(filepath.Join(filepath.Dir(path), p.dataName), p.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// maxTrials caps each phase's trials: a phase that cannot get its kills in fails.
const maxTrials = 80

// killSingleConvert kills `fcconv convert` of one model (with --external-data: weights in and out
// of side files) until it was killed while running wantKills times. Every other trial starts with
// the complete output of an earlier conversion of other weights in place, which a kill must leave
// whole or replace whole.
func killSingleConvert(t *testing.T, k *killer, external bool, wantKills int) int {
	root := t.TempDir()
	in, outDir := filepath.Join(root, "in"), filepath.Join(root, "out")
	os.MkdirAll(outDir, 0o755)
	inputOpts := graph.SaveOptions{ExternalData: external}
	model := writeKillModel(t, in, killModel(1, 1024), inputOpts)
	// The earlier output has other weights and shapes: its model beside the new data (or the
	// reverse) would not be either output.
	oldModel := writeKillModel(t, filepath.Join(root, "old"), killModel(3, 768), inputOpts)
	out := filepath.Join(outDir, "model.onnx")
	args := []string{"convert", model, "-o", out, "-q"}
	if external {
		args = append(args, "--external-data")
	}
	// The earlier output, from other weights, and this conversion's own output.
	k.runToEnd(append([]string{"convert", oldModel, "-o", out, "-q"}, args[4:]...)...)
	old, _ := readPair(t, out)
	typical := k.typical(args...)
	want, _ := readPair(t, out)
	if external && want.dataName == "" {
		t.Fatal("the --external-data output has no data file")
	}
	input := tree(t, in)
	seen := tally{}
	kills, trials := 0, 0
	for ; kills < wantKills && trials < maxTrials; trials++ {
		i := trials
		os.RemoveAll(outDir)
		os.MkdirAll(outDir, 0o755)
		withOld := i%2 == 0
		if withOld {
			old.place(t, out)
		}
		// The watched moment: with --external-data, the new data file renamed into place, and
		// the kill within 0.3 ms, inside the pause before the model's rename; otherwise the
		// model's temporary file appearing, and the kill within the 30 ms of writing it.
		newData := filepath.Join(outDir, want.dataName)
		before, _ := os.Stat(newData) // the earlier output's data file, if it has the same name
		watched, watch, within := "between the data's rename and the model's", func() bool {
			now, err := os.Stat(newData)
			return err == nil && (before == nil || !os.SameFile(before, now))
		}, 300*time.Microsecond
		if !external {
			watched, watch, within = "while saving", func() bool { return len(temporaries(outDir)) > 0 }, 30*time.Millisecond
		}
		when := k.pick(i, typical, watched, watch, within)
		killed := k.runAndKill(when, args...)
		if killed {
			kills++
		}
		if d := diffTrees(tree(t, in), input); d != "" {
			t.Fatalf("trial %d: the input changed: %s", i, d)
		}
		got, present := readPair(t, out)
		switch {
		case !present && !withOld:
			seen.add(when, killed, "output absent")
		case present && got.equal(want):
			seen.add(when, killed, "new output complete")
		case present && withOld && got.equal(old):
			seen.add(when, killed, "earlier output intact")
		default:
			t.Fatalf("trial %d: after the kill the output is neither absent, nor the earlier one, nor the new one (present %v)", i, present)
		}
		k.runToEnd(args...)
		if got, _ := readPair(t, out); !got.equal(want) {
			t.Fatalf("trial %d: the run after the kill wrote another output", i)
		}
		if left := temporaries(root); len(left) > 0 {
			t.Fatalf("trial %d: temporary files left after the next run: %v", i, left)
		}
		wantFiles := 1
		if want.dataName != "" {
			wantFiles = 2 // the model and its data; the earlier output's data is gone
		}
		if files := tree(t, outDir); len(files) != wantFiles {
			t.Fatalf("trial %d: files beside the output: %v", i, files)
		}
	}
	t.Logf("%d runs, %d killed while running; the output after each run, by moment of the kill:%v", trials, kills, seen)
	if kills < wantKills {
		t.Errorf("only %d of %d runs were killed while running; want %d", kills, trials, wantKills)
	}
	return kills
}

// killBatch kills a batch conversion of a small zoo (three models to convert, one copied as is
// with its external data; every model with two test data folders) twice per trial, the run and
// then its resumption with --skip-existing, until it was killed while running wantKills times; a
// last resumption must then give exactly the outputs of an uninterrupted batch.
func killBatch(t *testing.T, k *killer, wantKills int) int {
	root := t.TempDir()
	zoo := filepath.Join(root, "zoo")
	for i, name := range []string{"a", "b", "c"} {
		writeKillModel(t, filepath.Join(zoo, name), killModel(int64(10*i+1), 1024), graph.SaveOptions{})
	}
	writeKillModel(t, filepath.Join(zoo, "d"), convOnlyModel(), graph.SaveOptions{ExternalData: true})
	report := filepath.Join(root, "report.jsonl")
	args := func(out string, resume bool) []string {
		a := []string{"convert", zoo, "-o", out, "-q", "--inputs", "auto", "-j", "2", "--report", report}
		if resume {
			a = append(a, "--skip-existing")
		}
		return a
	}
	ref := filepath.Join(root, "ref")
	typical := k.typical(args(ref, false)...)
	want := tree(t, ref)
	input := tree(t, zoo)
	models := []string{"a", "b", "c", "d"}
	kills, trials := 0, 0
	modelsDone := tally{}
	for ; kills < wantKills && trials < maxTrials/2; trials++ {
		i := trials
		out := filepath.Join(root, fmt.Sprintf("out%d", i))
		for attempt := 0; attempt < 2; attempt++ {
			// The watched moment: a model's test data folder renamed into place, just before the
			// model's own rename; the kill follows within 2 ms.
			before := tree(t, out)
			testDataArrived := func() bool {
				for _, m := range models {
					if _, err := os.Stat(filepath.Join(out, m, "test_data_set_1", "input_0.pb")); err == nil && before[m+"/test_data_set_1/input_0.pb"] == "" {
						return true
					}
				}
				return false
			}
			when := k.pick(i+attempt, typical, "test data in place, model not yet", testDataArrived, 2*time.Millisecond)
			killed := k.runAndKill(when, args(out, attempt > 0)...)
			if killed {
				kills++
			}
			if d := diffTrees(tree(t, zoo), input); d != "" {
				t.Fatalf("trial %d: the zoo changed: %s", i, d)
			}
			got := withoutTemporaries(tree(t, out))
			done := 0
			for rel, sum := range got {
				if want[rel] != sum {
					t.Fatalf("trial %d: after a kill %s is there but not as an uninterrupted batch writes it", i, rel)
				}
			}
			for _, m := range models {
				if _, ok := got[m+"/model.onnx"]; !ok {
					continue
				}
				done++
				for rel := range want {
					if strings.HasPrefix(rel, m+"/") && got[rel] == "" {
						t.Fatalf("trial %d: %s/model.onnx is there without %s", i, m, rel)
					}
				}
			}
			modelsDone.add(when, killed, fmt.Sprintf("%d of 4 models complete", done))
		}
		k.runToEnd(args(out, true)...)
		if d := diffTrees(tree(t, out), want); d != "" {
			t.Fatalf("trial %d: the resumed batch differs from an uninterrupted one: %s", i, d)
		}
		if left := temporaries(out); len(left) > 0 {
			t.Fatalf("trial %d: temporary files left after the resumed batch: %v", i, left)
		}
		if lines := readReport(t, report); len(lines) != len(models) {
			t.Fatalf("trial %d: the resumed batch's report has %d models, want %d", i, len(lines), len(models))
		}
		os.RemoveAll(out)
	}
	t.Logf("%d runs, %d killed while running; the output after each run, by moment of the kill:%v", 2*trials, kills, modelsDone)
	if kills < wantKills {
		t.Errorf("only %d of %d runs were killed while running; want %d", kills, 2*trials, wantKills)
	}
	return kills
}
