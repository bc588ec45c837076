package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// The model zoo (FCCONV_ZOO, e.g. ../shared/zoo) holds one folder per model with model.onnx and
// test_data_set_0/{input_0,output_0}.pb computed by the exporting framework.

// zooTolerance is the largest error allowed relative to the largest reference magnitude.
const zooTolerance = 1e-4

// zooDirs lists the model folders of FCCONV_ZOO, skipping the test when it is not set.
func zooDirs(tb testing.TB) []string {
	tb.Helper()
	zoo := os.Getenv("FCCONV_ZOO")
	if zoo == "" {
		tb.Skip("FCCONV_ZOO is not set; set it to the model zoo folder (e.g. ../shared/zoo) to run the zoo models")
	}
	paths, _ := filepath.Glob(filepath.Join(zoo, "*", "model.onnx"))
	if len(paths) == 0 {
		tb.Fatalf("FCCONV_ZOO=%s holds no */model.onnx", zoo)
	}
	dirs := make([]string, len(paths))
	for i, p := range paths {
		dirs[i] = filepath.Dir(p)
	}
	return dirs
}

// zooModel is a compiled zoo model with its test data.
type zooModel struct {
	prog   *Program
	inputs map[string]*tensor.Tensor
	want   *tensor.Tensor
}

func loadZooModel(tb testing.TB, dir string) *zooModel {
	tb.Helper()
	m, err := graph.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	in, _, err := tensor.ReadProtoFile(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
	if err != nil {
		tb.Fatal(err)
	}
	want, _, err := tensor.ReadProtoFile(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
	if err != nil {
		tb.Fatal(err)
	}
	names := m.Graph.RequiredInputNames()
	if len(names) != 1 {
		tb.Fatalf("the model has %d inputs; the zoo test feeds one", len(names))
	}
	// The test input's shape binds any symbolic dims (a dynamic batch) of the declared one.
	prog, err := Compile(m.Graph, Options{InputShapes: map[string][]int{names[0]: in.Shape}})
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return &zooModel{prog: prog, inputs: map[string]*tensor.Tensor{names[0]: in}, want: want}
}

func TestZoo(t *testing.T) {
	for _, dir := range zooDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			zm := loadZooModel(t, dir)
			outs, err := zm.prog.Run(zm.inputs)
			if err != nil {
				t.Fatal(err)
			}
			got := outs[zm.prog.Outputs()[0]]
			if !tensor.SameShape(got.Shape, zm.want.Shape) {
				t.Fatalf("output shape %v, want %v", got.Shape, zm.want.Shape)
			}
			maxErr, scale := 0.0, 0.0
			for i := 0; i < got.Len(); i++ {
				w := zm.want.At(i)
				scale = math.Max(scale, math.Abs(w))
				d := math.Abs(got.At(i) - w)
				if math.IsNaN(d) {
					d = math.Inf(1)
				}
				maxErr = math.Max(maxErr, d)
			}
			t.Logf("max |got-want| = %.3g, max |want| = %.3g, relative %.3g", maxErr, scale, maxErr/scale)
			if maxErr > zooTolerance*scale {
				t.Errorf("error %.3g exceeds %g x %.3g", maxErr, zooTolerance, scale)
			}
		})
	}
}

// TestZooConcurrentRuns runs each zoo model from two goroutines at once, twice, and checks every
// run gives the sequential result bit for bit: kernels keep scratch per run, and buffers
// reused between runs never leak values into outputs.
func TestZooConcurrentRuns(t *testing.T) {
	for _, dir := range zooDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			zm := loadZooModel(t, dir)
			name := zm.prog.Outputs()[0]
			first, err := zm.prog.Run(zm.inputs)
			if err != nil {
				t.Fatal(err)
			}
			want := first[name].Clone()
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					outs, err := zm.prog.Run(zm.inputs)
					if err == nil {
						for i, v := range outs[name].F32 {
							if v != want.F32[i] {
								err = fmt.Errorf("value %d is %g in a concurrent run, %g alone", i, v, want.F32[i])
								break
							}
						}
					}
					errs <- err
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
