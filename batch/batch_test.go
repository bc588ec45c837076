package batch

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
	"google.golang.org/protobuf/proto"
)

// fakeConvert stands in for convert.Convert: the model file's content says what happens to it.
func fakeConvert(path string, opts convert.Options) (*convert.Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	res := &convert.Result{Model: path, MACsBefore: 100, MACsAfter: 100}
	switch modelKind(data) {
	case "corrupt":
		err := errors.New("not an ONNX model: proto: cannot parse invalid wire-format data")
		res.Status, res.Error = convert.Failed, err.Error()
		return res, err
	case "panic":
		var m map[string]int
		m["boom"]++ // a nil-map write, as a bug would
	case "unchanged":
		res.Status, res.Rewrites = convert.Unchanged, &rewrite.Report{}
	case "declined":
		res.Status = convert.Unchanged
		res.Rewrites = &rewrite.Report{Declined: []rewrite.Decline{{Pass: "fc-to-conv", Node: "/fc/Gemm", Op: "Gemm", Reason: "the weight is not a constant"}}}
	case "noteq":
		res.Status = convert.NotEquivalent
		res.Verification = &verify.Report{Outputs: []verify.OutputReport{{Name: "logits", MaxAbsError: 0.5, MaxRelError: 0.1}}}
	case "convert":
		if !opts.DryRun {
			if opts.BeforeCommit != nil {
				if err := opts.BeforeCommit(); err != nil {
					return nil, err
				}
			}
			if err := os.WriteFile(opts.Output, []byte("converted "+opts.InputsDir), 0o644); err != nil {
				return nil, err
			}
		}
		res.Status, res.Output, res.MACsAfter = convert.Converted, opts.Output, 60
		res.Rewrites = &rewrite.Report{Applied: []rewrite.Application{{Pass: "fc-to-conv"}}}
		if opts.DryRun {
			res.Status, res.Output = convert.Unchanged, ""
		}
	}
	return res, nil
}

// modelKind is the producer name of a real model made by tinyModel, else the file's first word.
func modelKind(data []byte) string {
	if m, err := graph.LoadBytes(data, ""); err == nil {
		return m.Proto.GetProducerName()
	}
	return strings.Fields(string(data))[0]
}

// tinyModel is a valid one-node model whose producer name tells fakeConvert what to do with it:
// unchanged and declined models are copied, so they must load.
func tinyModel(kind string) string {
	b := onnxbuild.New(13)
	b.Proto().ProducerName = &kind
	x := b.Input("x", tensor.Float, 1, 4)
	b.NodeOut("Relu", []string{x}, []string{"y"})
	b.Output("y", tensor.Float, 1, 4)
	data, err := proto.Marshal(b.Proto())
	if err != nil {
		panic(err)
	}
	return string(data)
}

func outcomes(s *Summary) map[string]Outcome {
	out := map[string]Outcome{}
	for _, r := range s.Records {
		out[r.Path] = r.Outcome
	}
	return out
}

func TestRunRecordsEveryOutcomeAndGoesOn(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{
		"a/model.onnx":                 "convert",
		"a/test_data_set_0/input_0.pb": "input",
		"b/model.onnx":                 "corrupt",
		"c/model.onnx":                 "panic",
		"d/model.onnx":                 tinyModel("unchanged"),
		"d/test_data_set_0/input_0.pb": "input",
		"e/model.onnx":                 tinyModel("declined"),
		"f/model.onnx":                 "noteq",
		"g/h/model.onnx":               "convert",
	})
	jobs, err := Discover([]string{root}, nil, out)
	if err != nil {
		t.Fatal(err)
	}
	var emitted []string
	s := Run(jobs, Options{OutDir: out, Jobs: 2, ConvertFunc: fakeConvert, Emit: func(r *Record) { emitted = append(emitted, r.Path) }})

	want := map[string]Outcome{
		"a/model.onnx": Converted, "b/model.onnx": Failed, "c/model.onnx": Failed, "d/model.onnx": Unchanged,
		"e/model.onnx": Declined, "f/model.onnx": NotEquivalent, "g/h/model.onnx": Converted,
	}
	if got := outcomes(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if !reflect.DeepEqual(emitted, rels(jobs)) {
		t.Errorf("emitted in order %v, want list order %v", emitted, rels(jobs))
	}
	reasons := map[string]string{}
	for _, r := range s.Records {
		reasons[r.Path] = r.Reason
	}
	for path, want := range map[string]string{
		"b/model.onnx": "not an ONNX model", "c/model.onnx": "internal error", "e/model.onnx": "the weight is not a constant",
		"f/model.onnx": `output "logits" differs by 0.5`,
	} {
		if !strings.Contains(reasons[path], want) {
			t.Errorf("%s: reason %q does not say %q", path, reasons[path], want)
		}
	}
	if !s.Bad() || s.Counts[Failed] != 2 || s.Counts[Converted] != 2 {
		t.Errorf("summary counts %v, bad %v", s.Counts, s.Bad())
	}
	// Written models: 2 converted (100 -> 60), unchanged and declined copied (100 -> 100).
	if s.MACsBefore != 400 || s.MACsAfter != 320 {
		t.Errorf("MACs %d -> %d, want 400 -> 320", s.MACsBefore, s.MACsAfter)
	}
	for _, p := range []string{"a/model.onnx", "a/test_data_set_0/input_0.pb", "g/h/model.onnx", "d/model.onnx", "d/test_data_set_0/input_0.pb", "e/model.onnx"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("missing in the output folder: %v", err)
		}
	}
	for _, p := range []string{"b", "c", "f"} {
		if _, err := os.Stat(filepath.Join(out, p, "model.onnx")); err == nil {
			t.Errorf("%s/model.onnx was written though it did not convert", p)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(out, "d/model.onnx")); string(data) != tinyModel("unchanged") {
		t.Errorf("the unchanged model was not copied as is: %q", data)
	}
	var buf bytes.Buffer
	s.Write(&buf)
	for _, want := range []string{"models", "declined", "c/model.onnx: internal error", "e/model.onnx: 1 FC left: the weight is not a constant", "MACs 400 -> 320"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestRunAutoInputsUsesEachModelsOwnTestData(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{
		"with/model.onnx": "convert", "with/test_data_set_0/input_0.pb": "x",
		"without/model.onnx": "convert",
	})
	jobs, _ := Discover([]string{root}, nil, out)
	Run(jobs, Options{OutDir: out, Jobs: 1, AutoInputs: true, ConvertFunc: fakeConvert})
	with, _ := os.ReadFile(filepath.Join(out, "with/model.onnx"))
	without, _ := os.ReadFile(filepath.Join(out, "without/model.onnx"))
	if string(with) != "converted "+filepath.Join(root, "with", "test_data_set_0") || string(without) != "converted " {
		t.Errorf("inputs: with test data %q, without %q", with, without)
	}
}

func TestRunSkipExistingLeavesUpToDateOutputs(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"old/model.onnx": "convert", "new/model.onnx": "convert", "stale/model.onnx": "convert"})
	writeFiles(t, out, map[string]string{"old/model.onnx": "earlier output", "stale/model.onnx": "earlier output"})
	past := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(out, "stale/model.onnx"), past, past) // older than its model: redo
	jobs, _ := Discover([]string{root}, nil, out)
	s := Run(jobs, Options{OutDir: out, Jobs: 2, SkipExisting: true, ConvertFunc: fakeConvert})
	want := map[string]Outcome{"old/model.onnx": Skipped, "new/model.onnx": Converted, "stale/model.onnx": Converted}
	if got := outcomes(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "old/model.onnx")); string(data) != "earlier output" {
		t.Errorf("a skipped output was rewritten: %q", data)
	}
	if s.Bad() {
		t.Error("skipping is not a failure")
	}
}

func TestRunDryRunWritesNothing(t *testing.T) {
	root, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	writeFiles(t, root, map[string]string{"a/model.onnx": "convert", "a/test_data_set_0/input_0.pb": "x", "b/model.onnx": tinyModel("unchanged")})
	jobs, _ := Discover([]string{root}, nil, out)
	s := Run(jobs, Options{OutDir: out, Jobs: 2, Convert: convert.Options{DryRun: true}, ConvertFunc: fakeConvert})
	if got := outcomes(s); got["a/model.onnx"] != WouldConvert || got["b/model.onnx"] != Unchanged {
		t.Errorf("outcomes %v", got)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a dry run created the output folder: %v", err)
	}
}

// TestRunKeepsAtMostJobsModelsInFlight checks the pool: never more than -j conversions at once, and
// the engine's threads split among them.
func TestRunKeepsAtMostJobsModelsInFlight(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	files := map[string]string{}
	for _, name := range strings.Fields("a b c d e f g h i j") {
		files[name+"/model.onnx"] = "convert"
	}
	writeFiles(t, root, files)
	jobs, _ := Discover([]string{root}, nil, out)
	var inFlight, most atomic.Int32
	var mu sync.Mutex
	threadsSeen := map[int]bool{}
	slow := func(path string, opts convert.Options) (*convert.Result, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		threadsSeen[opts.Engine.Threads] = true
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		return fakeConvert(path, opts)
	}
	s := Run(jobs, Options{OutDir: out, Jobs: 3, ConvertFunc: slow})
	if most.Load() > 3 || most.Load() < 2 {
		t.Errorf("%d conversions ran at once with -j 3", most.Load())
	}
	if s.Counts[Converted] != len(jobs) {
		t.Errorf("counts %v", s.Counts)
	}
	want := max(1, runtime.GOMAXPROCS(0)/3)
	if len(threadsSeen) != 1 || !threadsSeen[want] {
		t.Errorf("engine threads during the run %v, want %d", threadsSeen, want)
	}
}

func TestCopyUnchangedCarriesExternalData(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 16)
	w := b.Init("w", onnxbuild.Random(1, 16, 16)) // 1 KiB: goes to the side file
	b.NodeOut("MatMul", []string{x, w}, []string{"y"})
	b.Output("y", tensor.Float, 1, 16)
	model := filepath.Join(src, "m", "model.onnx")
	os.MkdirAll(filepath.Join(filepath.Dir(model), "weights"), 0o755)
	if err := b.Model().Save(model, graph.SaveOptions{ExternalData: true, DataFile: "weights/model.bin"}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(out, "m", "model.onnx")
	if err := copyUnchanged(model, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "m", "weights", "model.bin")); err != nil {
		t.Fatalf("external data not copied: %v", err)
	}
	if _, err := graph.Load(dst); err != nil {
		t.Fatalf("the copy does not load: %v", err)
	}
}

func TestProgressLinesWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	jobs := []Job{{Rel: "a/model.onnx", Size: 10}, {Rel: "b/model.onnx", Size: 10}}
	p := NewProgress(&buf, jobs, false)
	p.Started(jobs[0])
	p.Finished(jobs[0], &Record{Path: "a/model.onnx", Outcome: Converted, Result: &convert.Result{MACsBefore: 2e9, MACsAfter: 1e9}})
	p.Finished(jobs[1], &Record{Path: "b/model.onnx", Outcome: Failed, Reason: "op FooBar is not supported\nmore"})
	p.Close()
	want := "[1/2] converted      a/model.onnx  MACs 2.00 G -> 1.00 G  0.00 s\n[2/2] failed         b/model.onnx: op FooBar is not supported\n"
	if buf.String() != want {
		t.Errorf("progress:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	q := NewProgress(&buf, jobs, true)
	q.Finished(jobs[0], &Record{Path: "a/model.onnx", Outcome: Converted, Result: &convert.Result{}})
	q.Finished(jobs[1], &Record{Path: "b/model.onnx", Outcome: Failed, Reason: "bad"})
	if buf.String() != "b/model.onnx: failed: bad\n" {
		t.Errorf("quiet progress: %q", buf.String())
	}
}

func TestProgressEstimateFitsCostPerModelAndPerByte(t *testing.T) {
	p := &Progress{total: 6, totalBytes: 1000 + 3000 + 4*100}
	// Finished: two small models (100 B, 1.5 s each) and a big one (1000 B, 6 s): 1 s per model plus
	// 5 ms per byte. Left: a 3000 B model (16 s) and two of 100 B (1.5 s each): 19 s of conversion.
	for _, m := range []struct {
		size int64
		secs float64
	}{{100, 1.5}, {100, 1.5}, {1000, 6}} {
		p.fit.add(m.size, m.secs)
		p.done++
		p.doneBytes += m.size
	}
	// 9 s of conversion took 4.5 s of wall time (-j 2): 19 s more take ~9.5 s.
	if got := p.estimate(4500 * time.Millisecond); got != "~10s" {
		t.Errorf("estimate %s, want ~10s", got)
	}
	if got := (&Progress{}).estimate(time.Second); got != "~?" {
		t.Errorf("estimate with nothing finished %s, want ~?", got)
	}
	if got := formatDuration(3725 * time.Second); got != "1h02m" {
		t.Errorf("formatDuration %s", got)
	}
}
