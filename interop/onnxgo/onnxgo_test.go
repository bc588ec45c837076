package onnxgo

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// maxRelDiff is how far gorgonnx's outputs may be from fcconv's engine's, as a share of the
// output's largest magnitude: both compute in float32 and differ only in summation order, which
// measured at most 4e-7 here (see the README).
const maxRelDiff = 1e-5

// interopCase is one model, run on gorgonnx before and after `fcconv convert ARGS`. An empty want*
// means the model must run there with outputs equal to the engine's; otherwise gorgonnx must fail
// with an error containing that text, which the README explains.
type interopCase struct {
	name          string
	model         func(t *testing.T) []byte
	convertArgs   []string
	wantOriginal  string
	wantConverted string
}

var interopCases = []interopCase{
	// Run on gorgonnx before and after conversion.
	{name: "sample classifier", model: sampleClassifier},
	{name: "sample classifier --spatial", model: sampleClassifier, convertArgs: []string{"--spatial"}},
	{name: "small CNN", model: smallCNN},
	{name: "MLP head (MatMul+Add)", model: mlpHead},
	{name: "global-average-pool head", model: gapHead},
	{name: "Reshape head", model: reshapeHead},
	{name: "low-rank conv, bottleneck and fc-to-conv", model: lowRankConv, convertArgs: []string{"--passes", "bottleneck,fc-to-conv"}},

	// gorgonnx cannot run the original, and runs the converted model.
	{name: "BatchNormalization after a Gemm", model: batchNormHead,
		wantOriginal: "Only CxBxHxW tensors are supported"},
	{name: "Gemm without a bias", model: gemmWithoutBias,
		wantOriginal: "bad arity for operation (have 2, want 3)"},

	// gorgonnx cannot run the converted model.
	{name: "2-D MLP, --scope all", model: mlp2D, convertArgs: []string{"--scope", "all"},
		wantConverted: "unsqueeze: axes in not an []int64"},

	// gorgonnx cannot run either: the layer gorgonnx lacks is one fcconv leaves as it is.
	{name: "depthwise conv", model: depthwiseConv,
		wantOriginal: "must be 36, got 9", wantConverted: "must be 36, got 9"},
	{name: "Conv without kernel_shape", model: convWithoutKernelShape,
		wantOriginal: "kernel shape is supposed to have a dim of 2", wantConverted: "kernel shape is supposed to have a dim of 2"},
}

func TestModelsFcconvWritesRunOnGorgonnx(t *testing.T) {
	bin := buildFcconv(t)
	for _, tc := range interopCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			original := filepath.Join(dir, "model.onnx")
			if err := os.WriteFile(original, tc.model(t), 0o644); err != nil {
				t.Fatal(err)
			}
			converted := filepath.Join(dir, "model.conv.onnx")
			args := append([]string{"convert", original, "-o", converted, "-q"}, tc.convertArgs...)
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("fcconv %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			requireRewritten(t, original, converted)

			inputs := randomInputs(t, original)
			checkOnGorgonnx(t, "original", original, inputs, tc.wantOriginal)
			checkOnGorgonnx(t, "converted", converted, inputs, tc.wantConverted)
		})
	}
}

// checkOnGorgonnx runs a model on gorgonnx and on fcconv's engine: it must either agree with the
// engine, or (wantErr set) fail with that error.
func checkOnGorgonnx(t *testing.T, label, path string, inputs []*tensor.Tensor, wantErr string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(data, inputs...)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: gorgonnx gave error %v, want one containing %q", label, err, wantErr)
		} else {
			t.Logf("%s: gorgonnx fails as expected: %v", label, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	want := runEngine(t, path, inputs)
	if len(got) != len(want) {
		t.Fatalf("%s: gorgonnx gave %d outputs, the engine %d", label, len(got), len(want))
	}
	for i := range want {
		if !tensor.SameShape(got[i].Shape, want[i].Shape) {
			t.Fatalf("%s: output %d is %v on gorgonnx, %v on the engine", label, i, got[i].Shape, want[i].Shape)
		}
		abs, scale := maxAbsDiff(got[i].F32, want[i].F32), maxMagnitude(want[i].F32)
		t.Logf("%s: output %d %v: max abs difference %.3g, %.3g of the largest magnitude %.3g", label, i, want[i].Shape, abs, abs/scale, scale)
		if abs > maxRelDiff*scale {
			t.Errorf("%s: output %d differs by %.3g, more than %.0e of its largest magnitude %.3g", label, i, abs, maxRelDiff, scale)
		}
	}
}

// buildFcconv builds the fcconv command of the enclosing module, which converts the models as a
// user would.
func buildFcconv(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fcconv")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(goTool, "build", "-C", "../..", "-o", bin, "./cmd/fcconv").CombinedOutput(); err != nil {
		t.Fatalf("building fcconv: %v\n%s", err, out)
	}
	return bin
}

// requireRewritten checks that the conversion did something: fewer fully-connected layers, or
// more convolutions.
func requireRewritten(t *testing.T, original, converted string) {
	t.Helper()
	before, after := opCounts(t, original), opCounts(t, converted)
	fcBefore, fcAfter := before["Gemm"]+before["MatMul"], after["Gemm"]+after["MatMul"]
	if fcAfter >= fcBefore && after["Conv"] <= before["Conv"] {
		t.Fatalf("fcconv changed nothing: %v before, %v after", before, after)
	}
	t.Logf("ops before %v, after %v", before, after)
}

func opCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, n := range m.Graph.Nodes {
		counts[n.OpType()]++
	}
	return counts
}

// randomInputs makes one random tensor per graph input, of its declared shape.
func randomInputs(t *testing.T, path string) []*tensor.Tensor {
	t.Helper()
	p := compile(t, path, nil)
	var inputs []*tensor.Tensor
	for i, name := range p.Inputs() {
		info, _ := p.Info(name)
		inputs = append(inputs, onnxbuild.Random(int64(42+i), info.Shape...))
	}
	return inputs
}

// runEngine runs a model on fcconv's engine, compiled for the inputs' shapes (a --spatial model
// declares symbolic H and W).
func runEngine(t *testing.T, path string, inputs []*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	feeds := map[string]*tensor.Tensor{}
	for i, name := range m.Graph.InputNames() {
		shapes[name], feeds[name] = inputs[i].Shape, inputs[i]
	}
	p := compile(t, path, shapes)
	outs, err := p.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	var result []*tensor.Tensor
	for _, name := range p.Outputs() {
		result = append(result, outs[name])
	}
	return result
}

func compile(t *testing.T, path string, shapes map[string][]int) *engine.Program {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(m.Graph, engine.Options{InputShapes: shapes})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func maxAbsDiff(a, b []float32) float64 {
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	return worst
}

func maxMagnitude(a []float32) float64 {
	worst := 0.0
	for _, v := range a {
		worst = math.Max(worst, math.Abs(float64(v)))
	}
	return worst
}

// The models. Weights are random normal values scaled by 1/sqrt(fan-in), so that activations keep
// a moderate scale through the layers.

func sampleClassifier(t *testing.T) []byte {
	data, err := os.ReadFile("../../testdata/sample/classifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// smallCNN: Conv, Relu, MaxPool, Conv, Relu, MaxPool, Flatten, Gemm, Relu, Gemm.
func smallCNN(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, 16, 16)
	h := maxPool(b, b.Node("Relu", []string{conv3x3(b, "c1", x, 3, 8, 1)}))
	h = maxPool(b, b.Node("Relu", []string{conv3x3(b, "c2", h, 8, 16, 1)}))
	flat := b.Node("Flatten", []string{h}, graph.IntAttr("axis", 1))
	h = b.Node("Relu", []string{gemm(b, "fc1", flat, 16*4*4, 32, true)})
	b.Output(gemm(b, "fc2", h, 32, 10, true), tensor.Float, 1, 10)
	return marshal(t, b)
}

// mlpHead: Conv, Relu, Flatten, then MatMul+Add, Relu, MatMul+Add.
func mlpHead(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4, 6, 6)
	h := b.Node("Relu", []string{conv3x3(b, "c1", x, 4, 8, 1)})
	h = b.Node("Flatten", []string{h}, graph.IntAttr("axis", 1))
	h = b.Node("Relu", []string{matMulAdd(b, "fc1", h, 8*6*6, 48)})
	b.Output(matMulAdd(b, "fc2", h, 48, 10), tensor.Float, 1, 10)
	return marshal(t, b)
}

// gapHead: Conv, Relu, GlobalAveragePool, Flatten, Gemm, Softmax.
func gapHead(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, 8, 8)
	h := b.Node("Relu", []string{conv3x3(b, "c1", x, 3, 16, 1)})
	h = b.Node("Flatten", []string{b.Node("GlobalAveragePool", []string{h})}, graph.IntAttr("axis", 1))
	y := gemm(b, "fc", h, 16, 10, true)
	b.Output(b.Node("Softmax", []string{y}, graph.IntAttr("axis", 1)), tensor.Float, 1, 10)
	return marshal(t, b)
}

// reshapeHead: Conv, Relu, Reshape to [1, -1] (a constant shape), Gemm.
func reshapeHead(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, 8, 8)
	h := b.Node("Relu", []string{conv3x3(b, "c1", x, 3, 4, 1)})
	h = b.Node("Reshape", []string{h, b.Init("shape", tensor.FromInt64([]int64{1, -1}, 2))})
	b.Output(gemm(b, "fc", h, 4*8*8, 10, true), tensor.Float, 1, 10)
	return marshal(t, b)
}

// lowRankConv: a 128->128 3x3 conv whose weight has rank 8, which the bottleneck pass factors
// exactly into a 1x1 conv of width 8 and a 3x3 conv, then a Gemm head.
func lowRankConv(t *testing.T) []byte {
	const c, rank = 128, 8
	left, right := onnxbuild.Random(1, c, rank), onnxbuild.Random(2, rank, c*9)
	w := tensor.New(tensor.Float, c, c, 3, 3)
	for o := 0; o < c; o++ {
		for j := 0; j < c*9; j++ {
			var sum float32
			for r := 0; r < rank; r++ {
				sum += left.F32[o*rank+r] * right.F32[r*c*9+j]
			}
			w.F32[o*c*9+j] = sum / float32(math.Sqrt(c*9*rank))
		}
	}
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, c, 4, 4)
	h := b.Node("Conv", []string{x, b.Init("c1_w", w)}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1))
	h = b.Node("Flatten", []string{b.Node("Relu", []string{h})}, graph.IntAttr("axis", 1))
	b.Output(gemm(b, "fc", h, c*4*4, 10, true), tensor.Float, 1, 10)
	return marshal(t, b)
}

// batchNormHead: Gemm, BatchNormalization over [N, C], Relu, Gemm. gorgonnx normalises 4-D tensors
// only; after fc-to-conv the BatchNormalization sees [N, C, 1, 1].
func batchNormHead(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, 8, 8)
	h := b.Node("Flatten", []string{b.Node("Relu", []string{conv3x3(b, "c1", x, 3, 4, 1)})}, graph.IntAttr("axis", 1))
	h = gemm(b, "fc1", h, 4*8*8, 32, true)
	variance := onnxbuild.Random(7, 32)
	for i, v := range variance.F32 {
		variance.F32[i] = v*v + 0.5
	}
	h = b.Node("BatchNormalization", []string{h,
		b.Init("bn_scale", onnxbuild.Random(4, 32)), b.Init("bn_bias", onnxbuild.Random(5, 32)),
		b.Init("bn_mean", onnxbuild.Random(6, 32)), b.Init("bn_var", variance)})
	b.Output(gemm(b, "fc2", b.Node("Relu", []string{h}), 32, 10, true), tensor.Float, 1, 10)
	return marshal(t, b)
}

// gemmWithoutBias: the classifier's Gemm has no C input, which ONNX allows and gorgonnx does not.
func gemmWithoutBias(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, 8, 8)
	h := b.Node("Flatten", []string{b.Node("Relu", []string{conv3x3(b, "c1", x, 3, 4, 1)})}, graph.IntAttr("axis", 1))
	b.Output(gemm(b, "fc", h, 4*8*8, 10, false), tensor.Float, 1, 10)
	return marshal(t, b)
}

// mlp2D: MatMul+Add, Relu, MatMul+Add on a [1, 64] input. Only --scope all converts it: the input
// gets an Unsqueeze to [1, 64, 1, 1] in front of the first 1x1 conv.
func mlp2D(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 64)
	h := b.Node("Relu", []string{matMulAdd(b, "fc1", x, 64, 32)})
	b.Output(matMulAdd(b, "fc2", h, 32, 10), tensor.Float, 1, 10)
	return marshal(t, b)
}

// depthwiseConv: a depthwise 3x3 conv (group = channels), then a Gemm head.
func depthwiseConv(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 4, 8, 8)
	h := b.Node("Relu", []string{conv3x3(b, "dw", x, 4, 4, 4)})
	h = b.Node("Flatten", []string{h}, graph.IntAttr("axis", 1))
	b.Output(gemm(b, "fc", h, 4*8*8, 10, true), tensor.Float, 1, 10)
	return marshal(t, b)
}

// convWithoutKernelShape: a Conv that leaves kernel_shape out (ONNX infers it from the weight).
func convWithoutKernelShape(t *testing.T) []byte {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 3, 8, 8)
	w := b.Init("c1_w", scaled(onnxbuild.Random(1, 4, 3, 3, 3), 27))
	h := b.Node("Conv", []string{x, w}, graph.IntsAttr("pads", 1, 1, 1, 1))
	h = b.Node("Flatten", []string{b.Node("Relu", []string{h})}, graph.IntAttr("axis", 1))
	b.Output(gemm(b, "fc", h, 4*8*8, 10, true), tensor.Float, 1, 10)
	return marshal(t, b)
}

// conv3x3 adds a 3x3 conv with padding 1 and a bias.
func conv3x3(b *onnxbuild.Builder, name, x string, in, out, group int) string {
	w := b.Init(name+"_w", scaled(onnxbuild.Random(seedOf(name), out, in/group, 3, 3), in/group*9))
	bias := b.Init(name+"_b", scaled(onnxbuild.Random(seedOf(name)+1, out), 4))
	return b.Node("Conv", []string{x, w, bias}, graph.IntsAttr("kernel_shape", 3, 3),
		graph.IntsAttr("pads", 1, 1, 1, 1), graph.IntAttr("group", int64(group)))
}

func maxPool(b *onnxbuild.Builder, x string) string {
	return b.Node("MaxPool", []string{x}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2))
}

// gemm adds Gemm(x, W^T [+ bias]) from in to out features.
func gemm(b *onnxbuild.Builder, name, x string, in, out int, withBias bool) string {
	inputs := []string{x, b.Init(name+"_w", scaled(onnxbuild.Random(seedOf(name), out, in), in))}
	if withBias {
		inputs = append(inputs, b.Init(name+"_b", scaled(onnxbuild.Random(seedOf(name)+1, out), 4)))
	}
	return b.Node("Gemm", inputs, graph.IntAttr("transB", 1))
}

// matMulAdd adds MatMul(x, W) + bias from in to out features.
func matMulAdd(b *onnxbuild.Builder, name, x string, in, out int) string {
	w := b.Init(name+"_w", scaled(onnxbuild.Random(seedOf(name), in, out), in))
	bias := b.Init(name+"_b", scaled(onnxbuild.Random(seedOf(name)+1, out), 4))
	return b.Node("Add", []string{b.Node("MatMul", []string{x, w}), bias})
}

// scaled divides t by sqrt(fanIn) in place and returns it.
func scaled(t *tensor.Tensor, fanIn int) *tensor.Tensor {
	s := float32(1 / math.Sqrt(float64(fanIn)))
	for i := range t.F32 {
		t.F32[i] *= s
	}
	return t
}

// seedOf gives each layer name its own random weights.
func seedOf(name string) int64 {
	var h int64
	for _, c := range name {
		h = h*31 + int64(c)
	}
	return h
}

func marshal(t *testing.T, b *onnxbuild.Builder) []byte {
	t.Helper()
	data, err := proto.Marshal(b.Proto())
	if err != nil {
		t.Fatal(err)
	}
	return data
}
