package samples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
)

// writeSet writes a test_data_set folder: input_N.pb named as given ("" for unnamed tensors).
func writeSet(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		v := tensor.FromFloat32([]float32{float32(i)}, 1)
		if err := tensor.WriteProtoFile(filepath.Join(dir, "input_"+string(rune('0'+i))+".pb"), name, v); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadTestDataSetMatchesByNameThenPosition(t *testing.T) {
	dir := t.TempDir()
	writeSet(t, dir, "b", "")
	in, _, err := ReadTestDataSet(dir, []string{"b", "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// input_0 names "b"; input_1 has no name and is the second input by position, "a".
	if len(in) != 2 || in["b"].F32[0] != 0 || in["a"].F32[0] != 1 {
		t.Fatalf("inputs %v", in)
	}
	writeSet(t, filepath.Join(dir, "more"), "", "")
	in, _, err = ReadTestDataSet(filepath.Join(dir, "more"), []string{"a", "b"}, nil)
	if err != nil || in["a"].F32[0] != 0 || in["b"].F32[0] != 1 {
		t.Fatalf("by position: %v, %v", in, err)
	}
	if _, _, err := ReadTestDataSet(filepath.Join(dir, "more"), []string{"a"}, nil); err == nil || !strings.Contains(err.Error(), "the model has only 1 inputs") {
		t.Fatalf("a file beyond the model's inputs: %v", err)
	}
}

func TestReadSetsTakesFoldersOfFolders(t *testing.T) {
	root := t.TempDir()
	writeSet(t, filepath.Join(root, "set_1"), "x")
	writeSet(t, filepath.Join(root, "set_0"), "x")
	other := filepath.Join(t.TempDir(), "single")
	writeSet(t, other, "x")
	sets, err := ReadSets(root+", "+other, []string{"x"}, nil)
	if err != nil || len(sets) != 3 {
		t.Fatalf("%d sets, %v; want 3", len(sets), err)
	}
	if _, err := ReadSets(t.TempDir(), []string{"x"}, nil); err == nil {
		t.Fatal("an empty folder gave samples")
	}
}

func TestRandomIsSeededAndFollowsTheProgram(t *testing.T) {
	b := onnxbuild.New(13)
	b.Output(b.Node("Relu", []string{b.Input("x", tensor.Float, 2, 3)}), tensor.Float, 2, 3)
	p, err := engine.Compile(b.Model().Graph, engine.Options{ShapesOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Random(p, 4)
	c, _ := Random(p, 4)
	d, _ := Random(p, 5)
	if !tensor.SameShape(a["x"].Shape, []int{2, 3}) || a["x"].F32[0] != c["x"].F32[0] || a["x"].F32[0] == d["x"].F32[0] {
		t.Fatalf("seed 4 gave %v and %v, seed 5 %v", a["x"].F32, c["x"].F32, d["x"].F32)
	}
	sets, source, err := RandomSets(p, 4, 0)
	if err != nil || len(sets) != 1 || source != "random (seed 4)" || sets[0]["x"].F32[0] != a["x"].F32[0] {
		t.Fatalf("RandomSets: %d sets from %q, %v", len(sets), source, err)
	}
	if err := Check(p, Sample{"x": tensor.New(tensor.Float, 1, 3)}); err == nil || !strings.Contains(err.Error(), "--dim or --shape") {
		t.Fatalf("a wrong shape passed the check: %v", err)
	}
	if err := Check(p, Sample{"y": a["x"]}); err == nil || !strings.Contains(err.Error(), "has no input") {
		t.Fatalf("an unknown input passed the check: %v", err)
	}
}

func TestBindingsAndInputSpecs(t *testing.T) {
	eo, err := Bindings([]string{"batch=2"}, []string{"x=1, 3,8,8"})
	if err != nil || eo.Dims["batch"] != 2 || !tensor.SameShape(eo.InputShapes["x"], []int{1, 3, 8, 8}) {
		t.Fatalf("%+v, %v", eo, err)
	}
	for _, bad := range [][2][]string{{{"batch"}, nil}, {{"batch=0"}, nil}, {nil, {"x"}}, {nil, {"x=1,-3"}}} {
		if _, err := Bindings(bad[0], bad[1]); err == nil {
			t.Errorf("Bindings(%q, %q) accepted", bad[0], bad[1])
		}
	}
	dir := t.TempDir()
	npy := filepath.Join(dir, "x.npy")
	if err := tensor.WriteNpy(npy, tensor.FromFloat32([]float32{1, 2}, 2)); err != nil {
		t.Fatal(err)
	}
	in, err := ReadInputSpecs([]string{"x=" + npy})
	if err != nil || in["x"].F32[1] != 2 {
		t.Fatalf("%v, %v", in, err)
	}
	if _, err := ReadInputSpecs([]string{"x"}); err == nil || !strings.Contains(err.Error(), "want NAME=FILE") {
		t.Fatalf("a spec without a file: %v", err)
	}
}

// BindShapes sets the shapes of the given inputs over the base ones, without changing the base.
func TestBindShapes(t *testing.T) {
	base := map[string][]int{"x": {1, 3}, "y": {2}}
	got := BindShapes(base, Sample{"x": tensor.New(tensor.Float, 4, 3)})
	if !tensor.SameShape(got["x"], []int{4, 3}) || !tensor.SameShape(got["y"], []int{2}) || !tensor.SameShape(base["x"], []int{1, 3}) {
		t.Fatalf("got %v, base %v", got, base)
	}
}
