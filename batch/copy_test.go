package batch

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/internal/atomicfile"
)

func TestSkipExistingRedoesAModelWhoseTestDataIsIncomplete(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{
		"done/model.onnx": "convert", "done/test_data_set_0/input_0.pb": "input",
		"lost/model.onnx": "convert", "lost/test_data_set_0/input_0.pb": "input",
		"short/model.onnx": "convert", "short/test_data_set_0/input_0.pb": "input",
	})
	// Outputs of an earlier run, newer than the models: one complete, one whose test data never
	// arrived, one with a test file cut short.
	writeFiles(t, out, map[string]string{
		"done/model.onnx": "earlier output", "done/test_data_set_0/input_0.pb": "input",
		"lost/model.onnx":  "earlier output",
		"short/model.onnx": "earlier output", "short/test_data_set_0/input_0.pb": "in",
	})
	jobs, _ := Discover([]string{root}, nil, out)
	s := Run(jobs, Options{OutDir: out, Jobs: 1, SkipExisting: true, ConvertFunc: fakeConvert})
	want := map[string]Outcome{"done/model.onnx": Skipped, "lost/model.onnx": Converted, "short/model.onnx": Converted}
	if got := outcomes(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for _, m := range []string{"lost", "short"} {
		if data, _ := os.ReadFile(filepath.Join(out, m, "test_data_set_0", "input_0.pb")); string(data) != "input" {
			t.Errorf("%s: test data %q after the rerun", m, data)
		}
	}
}

func TestAModelIsNotWrittenWhenItsTestDataCannotBe(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{
		"conv/model.onnx": "convert", "conv/test_data_set_0/input_0.pb": "input",
		"same/model.onnx": tinyModel("unchanged"), "same/test_data_set_0/input_0.pb": "input",
	})
	// A file where the test data folder should go: copying the test data fails.
	writeFiles(t, out, map[string]string{"conv/test_data_set_0": "in the way", "same/test_data_set_0": "in the way"})
	jobs, _ := Discover([]string{root}, nil, out)
	s := Run(jobs, Options{OutDir: out, Jobs: 1, ConvertFunc: fakeConvert})
	for _, r := range s.Records {
		if r.Outcome != Failed || !strings.Contains(r.Reason, "test data") {
			t.Errorf("%s: %s (%s), want failed copying the test data", r.Path, r.Outcome, r.Reason)
		}
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(r.Path))); err == nil {
			t.Errorf("%s was written without its test data", r.Path)
		}
	}
}

func TestAConvertedModelsTestDataIsInPlaceBeforeTheModel(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	sample := filepath.Join("..", "testdata", "sample")
	data, err := os.ReadFile(filepath.Join(sample, "classifier.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	input, _ := os.ReadFile(filepath.Join(sample, "test_data_set_0", "input_0.pb"))
	writeFiles(t, root, map[string]string{"m/model.onnx": string(data), "m/test_data_set_0/input_0.pb": string(input)})
	outModel := filepath.Join(out, "m", "model.onnx")
	checked := false
	watch := func(path string, opts convert.Options) (*convert.Result, error) {
		copyTestData := opts.BeforeCommit
		opts.BeforeCommit = func() error {
			err := copyTestData()
			_, modelErr := os.Stat(outModel)
			copied, _ := os.ReadFile(filepath.Join(out, "m", "test_data_set_0", "input_0.pb"))
			if modelErr == nil || string(copied) != string(input) {
				t.Errorf("before the model's rename: model present %v, test data complete %v", modelErr == nil, string(copied) == string(input))
			}
			checked = true
			return err
		}
		return convert.Convert(path, opts)
	}
	jobs, _ := Discover([]string{root}, nil, out)
	s := Run(jobs, Options{OutDir: out, Jobs: 1, AutoInputs: true, ConvertFunc: watch})
	if s.Records[0].Outcome != Converted {
		t.Skipf("the sample did not convert here: %s (%s)", s.Records[0].Outcome, s.Records[0].Reason)
	}
	if !checked {
		t.Fatal("the conversion did not run BeforeCommit")
	}
}

func TestSkipExistingCleansWhatKilledRunsLeft(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"m/model.onnx": "convert", "m/test_data_set_0/input_0.pb": "input"})
	writeFiles(t, out, map[string]string{"m/model.onnx": "earlier output", "m/test_data_set_0/input_0.pb": "input"})
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	deadTemp := func(path string) string {
		parts := strings.Split(atomicfile.TempPath(path), "-")
		parts[len(parts)-2] = strconv.Itoa(cmd.Process.Pid)
		return strings.Join(parts, "-")
	}
	left := []string{
		deadTemp(filepath.Join(out, "m", "model.onnx")),
		deadTemp(filepath.Join(out, "m", "test_data_set_1")),
		deadTemp(filepath.Join(out, "m", "test_data_set_0", "output_0.pb")),
	}
	for _, p := range left {
		os.WriteFile(p, []byte("partial"), 0o644)
	}
	jobs, _ := Discover([]string{root}, nil, out)
	if s := Run(jobs, Options{OutDir: out, Jobs: 1, SkipExisting: true, ConvertFunc: fakeConvert}); s.Records[0].Outcome != Skipped {
		t.Fatalf("outcome %s", s.Records[0].Outcome)
	}
	for _, p := range left {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was left", p)
		}
	}
}

// reportPaths reads the paths of a report's lines.
func reportPaths(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out = append(out, rec.Path)
	}
	return out
}

func TestReportStartsAfreshUnlessAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.jsonl")
	write := func(appendOnly bool, paths ...string) {
		r, err := OpenReport(path, appendOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if err := r.Write(&Record{Path: p, Outcome: Converted, Result: &convert.Result{}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write(false, "a", "b")
	write(false, "c")
	if got := reportPaths(t, path); !reflect.DeepEqual(got, []string{"c"}) {
		t.Errorf("a second run's report %v, want [c]", got)
	}
	write(true, "d")
	if got := reportPaths(t, path); !reflect.DeepEqual(got, []string{"c", "d"}) {
		t.Errorf("an appending run's report %v, want [c d]", got)
	}
}
