package fctoconv

import (
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/rewrite/rewritetest"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
	"google.golang.org/protobuf/proto"
)

// TestFCToConvSpatialOtherSize runs a spatial GAP head at another input size: it still matches
// the original model, which GAP makes size-independent too.
func TestFCToConvSpatialOtherSize(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	y := gemmB(b, "fc", f, 16, 10, true, []int{10})
	b.Output(y, tensor.Float, 1, 10)
	orig, m := b.Model(), b.Model()
	if _, err := runFC(m, Options{Spatial: true}, engine.Options{}, false); err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*tensor.Tensor{"x": onnxbuild.Random(3, 1, 3, 20, 12)}
	rep, err := compareModels(orig, m, verify.Options{
		Engine: engine.Options{InputShapes: map[string][]int{"x": {1, 3, 20, 12}}}, Inputs: []map[string]*tensor.Tensor{feeds}})
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	expectEquivalent(t, rep)
}

// TestFCToConvDryRun: a dry run reports the same applications and figures and leaves the graph alone.
func TestFCToConvDryRun(t *testing.T) {
	for _, c := range fcCases() {
		if c.name != "vgg" && c.name != "matmul-nhwc-all" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			b := c.build()
			dry, wet := b.Model(), b.Model()
			before := proto.Clone(dry.Proto)
			dryOut, err := runFC(dry, c.opts, c.engine, true)
			if err != nil {
				t.Fatal(err)
			}
			rd := dryOut.Report
			if !proto.Equal(before, dry.Proto) {
				t.Error("the dry run edited the model")
			}
			wetOut, err := runFC(wet, c.opts, c.engine, false)
			if err != nil {
				t.Fatal(err)
			}
			rw := wetOut.Report
			if len(rd.Applied) != len(rw.Applied) || len(rd.Applied) == 0 {
				t.Fatalf("dry run applied %d, real run %d", len(rd.Applied), len(rw.Applied))
			}
			for i := range rd.Applied {
				d, w := rd.Applied[i], rw.Applied[i]
				if d.MACsBefore != w.MACsBefore || d.MACsAfter != w.MACsAfter || d.Detail != w.Detail {
					t.Errorf("dry %+v\nreal %+v", d, w)
				}
			}
		})
	}
}

// TestFCToConvCatchesCorruptWeights: the numeric comparison is what proves a rewrite right, so
// check that it catches a wrong one: transpose a converted weight's input features.
func TestFCToConvCatchesCorruptWeights(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	y := gemmB(b, "fc", f, 16, 16, true, []int{16})
	b.Output(y, tensor.Float, 1, 16)
	orig, m := b.Model(), b.Model()
	if _, err := runFC(m, Options{}, engine.Options{}, false); err != nil {
		t.Fatal(err)
	}
	init := m.Graph.Initializer("fc.weight_conv_w")
	if init == nil {
		t.Fatal("no converted weight fc.weight_conv_w")
	}
	w, err := tensor.FromProto(init, nil)
	if err != nil {
		t.Fatal(err)
	}
	w = w.Clone()
	bad := w.Clone()
	for o := 0; o < 16; o++ {
		for c := 0; c < 16; c++ {
			bad.F32[o*16+c] = w.F32[c*16+o]
		}
	}
	rep, err := compareModels(orig, m, verify.Options{Seed: 11})
	skipIfUnsupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equivalent {
		t.Fatalf("the correct rewrite already differs by %g", rep.Outputs[0].MaxAbsError)
	}
	*init = *bad.ToProto(init.GetName())
	m2, err := graph.NewModel(m.Proto, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err = compareModels(orig, m2, verify.Options{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	worst := rep.Outputs[0]
	if rep.Equivalent {
		t.Fatalf("a transposed weight went unnoticed (difference %g, magnitude %g)", worst.MaxAbsError, worst.RefMaxAbs)
	}
	t.Logf("a transposed weight shows as a difference of %g (magnitude %g)", worst.MaxAbsError, worst.RefMaxAbs)
}

// TestFCToConvThenAnotherPass: after --spatial makes the input size symbolic, a later pass still
// infers shapes (the pass binds "height" and "width" for the passes after it).
func TestFCToConvThenAnotherPass(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	y := gemmB(b, "fc", f, 16, 10, true, []int{10})
	b.Output(y, tensor.Float, 1, 10)
	m := b.Model()
	spatial := rewrite.Step{Pass: Pass, Options: Options{Spatial: true}}
	out, err := rewrite.Run(m, []rewrite.Step{spatial, spatial}, rewrite.Input{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Report.Applied) != 1 {
		t.Errorf("%d applications, want 1 (the second run has nothing left to convert)", len(out.Report.Applied))
	}
}

// named gives the last node built its own name, so that a fixture's expectations read clearly.
func named(b *onnxbuild.Builder, name string) {
	nodes := b.Proto().Graph.Node
	nodes[len(nodes)-1].Name = &name
}

// TestFCToConvFixture: one model, every verdict, in the manner of analysistest: a head whose
// second FC's weight sits behind Identity of a Constant node (a constant for the resolver all
// passes share), and an FC whose weight is fed at run time.
func TestFCToConvFixture(t *testing.T) {
	b := onnxbuild.New(13)
	f := gapFlatten(b, trunk(b, 1, 16))
	h := gemmB(b, "fc1", f, 16, 32, true, []int{32})
	named(b, "fc1")
	h = b.Node("Relu", []string{h})
	w2 := b.Node("Identity", []string{constNode(b, rnd(b, 32, 10))})
	y := b.Node("MatMul", []string{h, w2})
	named(b, "fc2")
	b.Output(y, tensor.Float, 1, 10)
	z := b.Node("Gemm", []string{h, b.Input("w_fed", tensor.Float, 32, 4)})
	named(b, "fc_fed")
	b.Output(z, tensor.Float, 1, 4)
	orig, m := b.Model(), b.Model()
	out := rewritetest.Run(t, m, rewrite.Step{Pass: Pass}, rewrite.Input{}, rewritetest.Want{
		Applied:  []string{"fc1", "fc2"},
		Declined: map[string]string{"fc_fed": `weight "w_fed" is not a constant: "w_fed" is a graph input, fed at run time`},
	})
	checkOutputShapes(t, orig, m, engine.Options{}, out)
	rep, err := compareModels(orig, m, verify.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	expectEquivalent(t, rep)
}
