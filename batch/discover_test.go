package batch

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles creates files (with parent folders) below dir; content defaults to the path.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "" {
			content = rel
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func rels(jobs []Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Rel)
	}
	return out
}

func TestDiscoverMirrorsTheLayoutAndLeavesOutOutputs(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"resnet/model.onnx":                   "",
		"resnet/model.fcconv.onnx":            "", // an output of an earlier single convert
		"resnet/test_data_set_0/input_0.pb":   "",
		"family/small/Model.ONNX":             "",
		".cache/model.onnx":                   "",
		"converted/resnet/model.onnx":         "", // inside the output folder
		"notes.txt":                           "",
		"family/small/test_data_set_1/a.onnx": "", // a model is a model wherever it is
	})
	jobs, err := Discover([]string{root}, nil, filepath.Join(root, "converted"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"family/small/Model.ONNX", "family/small/test_data_set_1/a.onnx", "resnet/model.onnx"}
	if got := rels(jobs); !reflect.DeepEqual(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	if jobs[2].Source != filepath.Join(root, "resnet", "model.onnx") || jobs[2].Size != int64(len("resnet/model.onnx")) {
		t.Errorf("job %+v", jobs[2])
	}
	if got := jobs[2].OutputPath("/out"); got != filepath.FromSlash("/out/resnet/model.onnx") {
		t.Errorf("output path %s", got)
	}
}

func TestDiscoverListedFilesMirrorRelativeToTheirCommonFolder(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"zoo/a/model.onnx": "", "zoo/a/model.fcconv.onnx": "", "zoo/b/c/model.onnx": "", "other/x.onnx": ""})
	files := []string{filepath.Join(root, "zoo/b/c/model.onnx"), filepath.Join(root, "zoo/a/model.onnx"), filepath.Join(root, "zoo/a/model.fcconv.onnx")}
	jobs, err := Discover(nil, files, filepath.Join(root, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rels(jobs), []string{"a/model.onnx", "b/c/model.onnx"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	// A folder in the list counts as a root; a file reached twice is converted once.
	jobs, err = Discover(nil, []string{filepath.Join(root, "zoo"), filepath.Join(root, "zoo/a/model.onnx")}, filepath.Join(root, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rels(jobs), []string{"a/model.onnx", "b/c/model.onnx"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
}

func TestDiscoverRefusesCollisionsAndOverwritingTheInput(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"one/m/model.onnx": "", "two/m/model.onnx": ""})
	_, err := Discover([]string{filepath.Join(root, "one"), filepath.Join(root, "two")}, nil, filepath.Join(root, "out"))
	if err == nil || !strings.Contains(err.Error(), "m/model.onnx") {
		t.Errorf("two folders mapping to the same output: err = %v", err)
	}
	_, err = Discover([]string{filepath.Join(root, "one")}, nil, filepath.Join(root, "one"))
	if err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("output folder = input folder: err = %v", err)
	}
	if _, err := Discover([]string{filepath.Join(root, "one", "m")}, nil, filepath.Join(root, "one")); err != nil {
		t.Errorf("an input folder inside the output folder is fine: %v", err)
	}
	empty := t.TempDir()
	if _, err := Discover([]string{empty}, nil, filepath.Join(root, "out")); err != ErrNoModels {
		t.Errorf("empty folder: err = %v, want ErrNoModels", err)
	}
}

func TestShardsCoverEveryModelExactlyOnce(t *testing.T) {
	var jobs []Job
	for _, name := range strings.Fields("a b c d e f g h i j k") {
		jobs = append(jobs, Job{Rel: name + "/model.onnx"})
	}
	for n := 1; n <= 13; n++ {
		seen := map[string]int{}
		for k := 1; k <= n; k++ {
			s, err := ParseShard(fmt.Sprintf("%d/%d", k, n))
			if err != nil {
				t.Fatal(err)
			}
			part := s.Select(jobs)
			if len(part) > (len(jobs)+n-1)/n {
				t.Errorf("shard %v has %d models, more than its share", s, len(part))
			}
			for _, j := range part {
				seen[j.Rel]++
			}
		}
		for _, j := range jobs {
			if seen[j.Rel] != 1 {
				t.Errorf("N=%d: %s is in %d shards", n, j.Rel, seen[j.Rel])
			}
		}
	}
	for _, bad := range []string{"0/3", "4/3", "3", "a/b", "1/0", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

func TestReadListSkipsBlanksAndComments(t *testing.T) {
	got, err := ReadList(strings.NewReader("# models\n a/model.onnx \n\nb.onnx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/model.onnx", "b.onnx"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestMatchGlob(t *testing.T) {
	for _, c := range []struct {
		glob, rel string
		want      bool
	}{
		{"silero*/model.onnx", "silero_vad/model.onnx", true},
		{"silero*/model.onnx", "silero_vad/sub/model.onnx", false},
		{"*.onnx", "a/model.onnx", false},
		{"**/model.onnx", "model.onnx", true},
		{"**/model.onnx", "a/b/model.onnx", true},
		{"a/**", "a/b/c.onnx", true},
		{"a/**/c.onnx", "a/c.onnx", true},
		{"a/**/c.onnx", "b/x/c.onnx", false},
		{"m?.onnx", "m1.onnx", true},
		{"m?.onnx", "m12.onnx", false},
	} {
		if got := MatchGlob(c.glob, c.rel); got != c.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", c.glob, c.rel, got, c.want)
		}
	}
}

func TestReadModelFlags(t *testing.T) {
	lines, err := ReadModelFlags(strings.NewReader("# tuning\n\nsilero*/model.onnx --shape input=1,512\n  **/big.onnx   --no-verify --seed 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []FlagLine{{3, "silero*/model.onnx", []string{"--shape", "input=1,512"}}, {4, "**/big.onnx", []string{"--no-verify", "--seed", "3"}}}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("got %+v, want %+v", lines, want)
	}
	if _, err := ReadModelFlags(strings.NewReader("a.onnx --seed 1\nlonely.onnx\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a line without flags: %v, want an error naming line 2", err)
	}
}
