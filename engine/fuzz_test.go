package engine_test

import (
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/fuzzseed"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/samples"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// Bounds of FuzzModel's runs, so that one input cannot take the fuzzer's time or memory: symbolic
// dims are bound to 2, the engine gets a small memory budget, and a program doing more work than
// fuzzMaxMACs is compiled but not run.
const (
	fuzzMaxMemory = 16 << 20
	fuzzMaxMACs   = 1 << 22
)

// FuzzModel loads arbitrary bytes as a model, compiles what loads for small shapes, and runs what
// compiles on random inputs. Every stage must end in a result or an error: no panic, no hang, no
// allocation beyond the budget.
func FuzzModel(f *testing.F) {
	for _, s := range modelSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exerciseModel(t, data) // an error is a fine outcome; a panic or a bad output is not
	})
}

// exerciseModel loads, compiles and runs a model within the fuzzing bounds. It returns the first
// error (nil also when the program is too big to run), and fails t on an output of the wrong shape.
func exerciseModel(t *testing.T, data []byte) error {
	m, err := graph.LoadBytes(data, "")
	if err != nil {
		return err
	}
	opts := engine.Options{MaxMemory: fuzzMaxMemory}
	engine.BindDefaultDims(m.Graph, &opts, 2)
	p, err := engine.Compile(m.Graph, opts)
	if err != nil {
		return err
	}
	var macs int64
	for _, n := range p.NodeMACs() {
		macs += n
	}
	if macs > fuzzMaxMACs {
		return nil
	}
	in, err := samples.Random(p, 1)
	if err != nil {
		return err
	}
	out, err := p.Run(in)
	if err != nil {
		return err
	}
	for _, name := range p.Outputs() {
		info, _ := p.Info(name)
		if got := out[name]; got == nil || !tensor.SameShape(got.Shape, info.Shape) {
			t.Fatalf("output %q is %v, compiled as %v", name, got, info.Shape)
		}
	}
	return nil
}

// TestFuzzModelSeedsRun checks that every seed goes all the way through (a seed failing early
// would leave the fuzzer's mutations of it exploring only the loader).
func TestFuzzModelSeedsRun(t *testing.T) {
	for i, s := range modelSeeds() {
		if err := exerciseModel(t, s); err != nil {
			t.Errorf("seed %d: %v", i, err)
		}
	}
}

// modelSeeds are small models covering the main op families: dense heads, convolutions and
// pooling, shape arithmetic, control flow.
func modelSeeds() [][]byte {
	var seeds [][]byte
	add := func(b *onnxbuild.Builder) {
		data, err := proto.Marshal(b.Proto())
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, data)
	}

	head := onnxbuild.New(13)
	x := head.Input("x", tensor.Float, -1, 8)
	w := head.Init("w", onnxbuild.Random(1, 4, 8))
	h := head.Node("Gemm", []string{x, w}, graph.IntAttr("transB", 1))
	head.NodeOut("Softmax", []string{h}, []string{"y"}, graph.IntAttr("axis", 1))
	head.Output("y", tensor.Float, -1, 4)
	add(head)

	conv := onnxbuild.New(13)
	img := conv.Input("img", tensor.Float, 1, 2, 6, 6)
	k := conv.Init("k", onnxbuild.Random(2, 3, 2, 3, 3))
	c := conv.Node("Conv", []string{img, k}, graph.IntsAttr("pads", 1, 1, 1, 1))
	r := conv.Node("Relu", []string{c})
	p := conv.Node("MaxPool", []string{r}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2))
	a := conv.Node("GlobalAveragePool", []string{p})
	conv.NodeOut("Flatten", []string{a}, []string{"y"})
	conv.Output("y", tensor.Float, 1, 3)
	add(conv)

	shapes := onnxbuild.New(13)
	s := shapes.Input("s", tensor.Float, 2, 3, 4)
	shp := shapes.Node("Shape", []string{s})
	two := shapes.Init("two", tensor.FromInt64([]int64{-1, 4}, 2))
	re := shapes.Node("Reshape", []string{s, two})
	tr := shapes.Node("Transpose", []string{re}, graph.IntsAttr("perm", 1, 0))
	shapes.NodeOut("Concat", []string{tr, tr}, []string{"y"}, graph.IntAttr("axis", 0))
	shapes.NodeOut("Identity", []string{shp}, []string{"shape"})
	shapes.Output("y", tensor.Float, 8, 6)
	shapes.Output("shape", tensor.Int64, 3)
	add(shapes)

	cond := onnxbuild.New(13)
	v := cond.Input("v", tensor.Float, 1, 4)
	flag := cond.Init("flag", &tensor.Tensor{DType: tensor.Bool, Shape: []int{}, B: []bool{true}})
	branch := func(name, op string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:   proto.String(name),
			Node:   []*onnxpb.NodeProto{{OpType: proto.String(op), Input: []string{v}, Output: []string{name + "_out"}}},
			Output: []*onnxpb.ValueInfoProto{onnxbuild.ValueInfo(name+"_out", tensor.Float, 1, 4)},
		}
	}
	cond.Proto().Graph.Node = append(cond.Proto().Graph.Node, &onnxpb.NodeProto{
		OpType: proto.String("If"), Input: []string{flag}, Output: []string{"y"},
		Attribute: []*onnxpb.AttributeProto{
			{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch("then", "Relu")},
			{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: branch("else", "Sigmoid")},
		},
	})
	cond.Output("y", tensor.Float, 1, 4)
	add(cond)
	return seeds
}

// TestWriteEngineFuzzSeeds rewrites the committed seed corpus (FCCONV_WRITE_FUZZ_SEEDS=1).
func TestWriteEngineFuzzSeeds(t *testing.T) {
	if !fuzzseed.Enabled() {
		t.Skip("set FCCONV_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz")
	}
	for _, s := range modelSeeds() {
		fuzzseed.Write(t, "FuzzModel", s)
	}
}

// TestOmittedOutputsRun: nodes that leave out outputs their kernel writes (MaxPool keeping only
// its indices, DynamicQuantizeLinear only its scale and zero point, or only y), and nodes with no
// output at all, compile and run (each of these panicked; FuzzModel found the Softmax).
func TestOmittedOutputsRun(t *testing.T) {
	models := map[string]func(b *onnxbuild.Builder, x string){
		"MaxPool indices only": func(b *onnxbuild.Builder, x string) {
			b.NodeOut("MaxPool", []string{x}, []string{"", "y"}, graph.IntsAttr("kernel_shape", 2, 2))
		},
		"DynamicQuantizeLinear without y": func(b *onnxbuild.Builder, x string) {
			flat := b.Node("Flatten", []string{x})
			b.NodeOut("DynamicQuantizeLinear", []string{flat}, []string{"", "y", "zero"})
		},
		"DynamicQuantizeLinear listing only y": func(b *onnxbuild.Builder, x string) {
			flat := b.Node("Flatten", []string{x})
			b.NodeOut("DynamicQuantizeLinear", []string{flat}, []string{"y"})
		},
		"a Softmax with no outputs": func(b *onnxbuild.Builder, x string) {
			b.NodeOut("Softmax", []string{x}, nil)
			b.NodeOut("Relu", []string{x}, []string{"y"})
		},
		"a Relu whose output is omitted": func(b *onnxbuild.Builder, x string) {
			b.NodeOut("Relu", []string{x}, []string{""})
			b.NodeOut("Relu", []string{x}, []string{"y"})
		},
	}
	for name, build := range models {
		b := onnxbuild.New(13)
		x := b.Input("x", tensor.Float, 1, 1, 4, 4)
		build(b, x)
		b.Output("y", tensor.Undefined)
		data, err := proto.Marshal(b.Proto())
		if err != nil {
			t.Fatal(err)
		}
		if err := exerciseModel(t, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
