// Package e2e checks fcconv from the outside: converted models against the originals on fcconv's
// engine, on ONNX Runtime (a second, independent runtime) and through onnx.checker.
package e2e

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/internal/zoo"
	"github.com/fcconv/fcconv/onnxpb"
	"google.golang.org/protobuf/proto"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/ortrun"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
)

const sample = "../testdata/sample/classifier.onnx"

func defaultOptions(out string) convert.Options {
	return convert.Options{Output: out, Tolerances: verify.Tolerances{Default: verify.DefaultTolerance}}
}

// fcLeft counts Gemm/MatMul nodes whose weight (input 1) is a constant.
func fcLeft(t *testing.T, path string) int {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, node := range m.Graph.Nodes {
		if (node.OpType() == "Gemm" || node.OpType() == "MatMul") && m.Graph.IsConstant(node.Input(1)) {
			n++
		}
	}
	return n
}

func TestSampleConvertsAndVerifies(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sample.conv.onnx")
	res, err := convert.Convert(sample, defaultOptions(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != convert.Converted || !res.Verified {
		t.Fatalf("status %s, verified %v", res.Status, res.Verified)
	}
	if n := fcLeft(t, out); n != 0 {
		t.Fatalf("%d FC layers left after conversion", n)
	}
	a, _ := graph.Load(sample)
	b, _ := graph.Load(out)
	rep, err := verify.Models(a, b, verify.Options{Tolerances: verify.Tolerances{Default: verify.DefaultTolerance}, Samples: 3, Seed: 7})
	if err != nil || !rep.Equivalent {
		t.Fatalf("verify.Models: %v, %+v", err, rep)
	}
}

// TestVerifierCatchesBrokenRewrite corrupts a converted model's conv weight layout and checks that
// the comparison rejects it.
func TestVerifierCatchesBrokenRewrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sample.conv.onnx")
	if _, err := convert.Convert(sample, defaultOptions(out)); err != nil {
		t.Fatal(err)
	}
	b, err := graph.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	var broken bool
	for _, n := range b.Graph.Nodes {
		if n.OpType() != "Conv" || !b.Graph.IsConstant(n.Input(1)) {
			continue
		}
		w, _ := b.Graph.Constant(n.Input(1))
		if w.Shape[2]*w.Shape[3] <= 1 {
			continue
		}
		// Swap H and W of the kernel: the layout mistake a hand-written converter makes.
		name := b.Graph.AddInitializer(n.Input(1)+"_broken", transposeHW(w))
		if err := b.Graph.SetInput(n, 1, name); err != nil {
			t.Fatal(err)
		}
		broken = true
		break
	}
	if !broken {
		t.Fatal("no spatial conv weight to break in the converted sample")
	}
	a, _ := graph.Load(sample)
	rep, err := verify.Models(a, b, verify.Options{Tolerances: verify.Tolerances{Default: verify.DefaultTolerance}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Equivalent {
		t.Fatalf("a transposed weight passed verification: %+v", rep.Outputs)
	}
}

// transposeHW swaps the kernel's H and W axes (for a square kernel: a real layout bug, same shape).
func transposeHW(w *tensor.Tensor) *tensor.Tensor {
	o, i, h, ww := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	c := tensor.New(tensor.Float, w.Shape...)
	for a := 0; a < o*i; a++ {
		for y := 0; y < h; y++ {
			for x := 0; x < ww; x++ {
				c.F32[a*h*ww+y*ww+x] = w.F32[a*h*ww+(x%h)*ww+y%ww]
			}
		}
	}
	return c
}

// TestZooConversionsAgreeOnONNXRuntime converts every zoo model, verified with its own test data,
// then runs original and result on ONNX Runtime with the same inputs and checks onnx.checker.
func TestZooConversionsAgreeOnONNXRuntime(t *testing.T) {
	paths := zoo.Models(t)
	if testing.Short() {
		t.Skip("slow: converts the whole zoo")
	}
	_, ortErr := ortrun.Script()
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name+".onnx")
			opts := defaultOptions(out)
			opts.InputsDir = filepath.Join(filepath.Dir(path), "test_data_set_0")
			res, err := convert.Convert(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status == convert.Unchanged {
				t.Logf("%s: nothing to convert", name)
				return
			}
			if res.Status != convert.Converted {
				t.Fatalf("status %s: %+v", res.Status, res.Verification)
			}
			t.Logf("%s: %d rewrites, MACs %d -> %d, max rel error %.2g", name, len(res.Rewrites.Applied), res.MACsBefore, res.MACsAfter, maxRel(res.Verification))
			checkONNX(t, out)
			if ortErr != nil {
				t.Skipf("ONNX Runtime not available: %v", ortErr)
			}
			compareOnORT(t, path, out)
		})
	}
}

func maxRel(r *verify.Report) float64 {
	worst := 0.0
	for _, o := range r.Outputs {
		worst = math.Max(worst, o.MaxRelError)
	}
	return worst
}

// checkONNX runs onnx.checker (Debian's python3-onnx) on a model, skipping when it is absent.
func checkONNX(t *testing.T, path string) {
	t.Helper()
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import onnx").Run(); err != nil {
		t.Logf("onnx.checker not available (python3-onnx): skipped")
		return
	}
	out, err := exec.Command(python, "-c", "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))", path).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker rejects %s: %v\n%s", path, err, out)
	}
}

// compareOnORT runs both models on ONNX Runtime with the same seeded inputs.
func compareOnORT(t *testing.T, original, converted string) {
	t.Helper()
	a, err := ortrun.Run(original, ortrun.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ortrun.Run(converted, ortrun.Options{Seed: 5})
	if err != nil {
		t.Fatalf("the converted model does not run on ONNX Runtime: %v", err)
	}
	for name, want := range a.Outputs {
		got := b.Outputs[name]
		if got == nil || got.Len() != want.Len() {
			t.Fatalf("output %s missing or resized on ORT", name)
		}
		maxAbs, maxDiff := 0.0, 0.0
		for i := 0; i < want.Len(); i++ {
			maxAbs = math.Max(maxAbs, math.Abs(want.At(i)))
			maxDiff = math.Max(maxDiff, math.Abs(got.At(i)-want.At(i)))
		}
		if maxDiff > 1e-4*maxAbs+1e-6 {
			t.Fatalf("output %s differs on ONNX Runtime by %.3g (max |ref| %.3g)", name, maxDiff, maxAbs)
		}
	}
}

// TestLowRankBottleneckOnONNXRuntime: the exact bottleneck of custom_lowrank_conv runs on ONNX
// Runtime with the original's outputs and passes onnx.checker.
func TestLowRankBottleneckOnONNXRuntime(t *testing.T) {
	path := zoo.Model(t, "custom_lowrank_conv")
	out := filepath.Join(t.TempDir(), "lowrank.onnx")
	opts := defaultOptions(out)
	opts.Passes = "bottleneck"
	opts.InputsDir = "auto"
	res, err := convert.Convert(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != convert.Converted || len(res.Rewrites.Applied) != 1 {
		t.Fatalf("status %s, %d rewrites", res.Status, len(res.Rewrites.Applied))
	}
	a := res.Rewrites.Applied[0]
	if a.Extra["rank"] != 64 {
		t.Fatalf("rank %v, want 64", a.Extra["rank"])
	}
	if ratio := float64(a.MACsBefore) / float64(a.MACsAfter); ratio < 7 {
		t.Fatalf("MACs %d -> %d: only %.2fx", a.MACsBefore, a.MACsAfter, ratio)
	}
	checkONNX(t, out)
	if _, err := ortrun.Script(); err != nil {
		t.Skipf("ONNX Runtime not available: %v", err)
	}
	compareOnORT(t, path, out)
}

// TestSpatialHeadRunsLargerOnBothRuntimes converts a VGG-style head with --spatial and runs the
// result at twice the input size on ONNX Runtime and on fcconv's engine: both give the same map of
// class scores.
func TestSpatialHeadRunsLargerOnBothRuntimes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "spatial.onnx")
	opts := defaultOptions(out)
	opts.FCToConv.Spatial = true
	res, err := convert.Convert(sample, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Spatial == nil || len(res.Spatial.OutputShape) != 4 || res.Spatial.OutputShape[2] < 2 {
		t.Fatalf("no score map at a larger size: %+v", res.Spatial)
	}
	if _, err := ortrun.Script(); err != nil {
		t.Skipf("ONNX Runtime not available: %v", err)
	}
	ort, err := ortrun.Run(out, ortrun.Options{Seed: 2, Shapes: map[string][]int{"image": {1, 3, 64, 64}}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.AgainstReference(m, []map[string]*tensor.Tensor{ort.Inputs}, []map[string]*tensor.Tensor{ort.Outputs},
		verify.Options{Tolerances: verify.Tolerances{Default: verify.DefaultTolerance}, Engine: engineShapes(ort.Inputs)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equivalent || !tensor.SameShape(rep.Outputs[0].Shape, res.Spatial.OutputShape) {
		t.Fatalf("engine and ONNX Runtime disagree at 64x64: %+v (shape from convert %v)", rep.Outputs, res.Spatial.OutputShape)
	}
}

func engineShapes(in map[string]*tensor.Tensor) engine.Options {
	shapes := map[string][]int{}
	for k, v := range in {
		shapes[k] = v.Shape
	}
	return engine.Options{InputShapes: shapes}
}

// TestFieldNoteStructuresConvert builds the sample's head the way some exporters write it — nodes out
// of order, every weight in a Constant node (no initializers), an unused runtime-internal domain in
// opset_import — and checks that it converts, verifies and comes out sorted with the domain kept.
func TestFieldNoteStructuresConvert(t *testing.T) {
	b := onnxbuild.New(13)
	mp := b.Proto()
	mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("com.microsoft"), Version: proto.Int64(1)})
	x := b.Input("x", tensor.Float, 1, 8, 4, 4)
	b.NodeOut("Constant", nil, []string{"w1"}, graph.TensorAttr("value", onnxbuild.Random(1, 16, 8*4*4)))
	b.NodeOut("Constant", nil, []string{"b1"}, graph.TensorAttr("value", onnxbuild.Random(2, 16)))
	b.NodeOut("Constant", nil, []string{"w2"}, graph.TensorAttr("value", onnxbuild.Random(3, 5, 16)))
	f := b.Node("Flatten", []string{x}, graph.IntAttr("axis", 1))
	h := b.Node("Gemm", []string{f, "w1", "b1"}, graph.IntAttr("transB", 1))
	h = b.Node("Relu", []string{h})
	b.NodeOut("Gemm", []string{h, "w2"}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 5)
	nodes := mp.Graph.Node
	for i, j := 0, len(nodes)-1; i < j; i, j = i+1, j-1 { // reverse: not topologically sorted
		nodes[i], nodes[j] = nodes[j], nodes[i]
	}
	data, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "unsorted.onnx")
	os.WriteFile(in, data, 0o644)
	out := filepath.Join(dir, "out.onnx")
	res, err := convert.Convert(in, defaultOptions(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != convert.Converted || len(res.Rewrites.Applied) != 2 {
		t.Fatalf("status %s, rewrites %+v", res.Status, res.Rewrites)
	}
	m, err := graph.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Graph.IsSorted() {
		t.Error("the converted model is not topologically sorted")
	}
	if m.Opset("com.microsoft") != 1 {
		t.Error("the unused com.microsoft opset import was dropped")
	}
	if n := fcLeft(t, out); n != 0 {
		t.Errorf("%d FC layers left", n)
	}
	checkONNX(t, out)
}

// TestInputDefaultsAreLeftAloneUnlessFrozen: an IR-3 model lists its weight as a graph input too;
// fc-to-conv leaves that layer alone (the caller may override the weight) unless told to freeze it.
func TestInputDefaultsAreLeftAloneUnlessFrozen(t *testing.T) {
	b := onnxbuild.New(13)
	b.Proto().IrVersion = proto.Int64(3)
	x := b.Input("x", tensor.Float, 1, 8, 1, 1)
	w := b.Init("w", onnxbuild.Random(1, 4, 8))
	b.Input("w", tensor.Float, 4, 8)
	f := b.Node("Flatten", []string{x}, graph.IntAttr("axis", 1))
	b.NodeOut("Gemm", []string{f, w}, []string{"y"}, graph.IntAttr("transB", 1))
	b.Output("y", tensor.Float, 1, 4)
	data, _ := proto.Marshal(b.Proto())
	in := filepath.Join(t.TempDir(), "ir3.onnx")
	os.WriteFile(in, data, 0o644)

	res, err := convert.Convert(in, defaultOptions(filepath.Join(t.TempDir(), "a.onnx")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != convert.Unchanged || len(res.Rewrites.Declined) == 0 {
		t.Fatalf("an overridable weight was converted: %s %+v", res.Status, res.Rewrites)
	}
	opts := defaultOptions(filepath.Join(t.TempDir(), "b.onnx"))
	opts.FreezeInputDefaults = true
	if res, err = convert.Convert(in, opts); err != nil || res.Status != convert.Converted {
		t.Fatalf("frozen: %v %+v", err, res)
	}
}
