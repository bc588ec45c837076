package rewrite_test

import (
	"strings"
	"testing"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
)

// reluModel is x [batch, 4] -> Relu -> y.
func reluModel() *graph.Model {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, -1, 4)
	b.Output(b.Node("Relu", []string{x}), tensor.Float, -1, 4)
	return b.Model()
}

// probe is a pass that records what it was handed and returns result.
type probe struct {
	shape   []int
	samples int
	options any
}

func (p *probe) pass(requires []rewrite.Requirement, result rewrite.Result) *rewrite.Pass {
	return &rewrite.Pass{Name: "probe", Requires: requires, Run: func(ctx *rewrite.Context) (rewrite.Result, error) {
		p.shape, _ = ctx.Shape("x")
		p.samples, p.options = len(ctx.Samples), ctx.Options
		return result, nil
	}}
}

// TestRunHandsEachPassWhatItRequires: shapes the caller inferred are handed on without a compile;
// a pass that requires nothing gets neither shapes nor samples; options reach their pass.
func TestRunHandsEachPassWhatItRequires(t *testing.T) {
	m := reluModel()
	eo := engine.Options{Dims: map[string]int{"d0": 3}}
	shapes, err := rewrite.InferShapes(m.Graph, eo)
	if err != nil {
		t.Fatal(err)
	}
	samples := []map[string]*tensor.Tensor{{"x": tensor.New(tensor.Float, 3, 4)}}
	var needy, plain probe
	steps := []rewrite.Step{
		{Pass: needy.pass([]rewrite.Requirement{rewrite.Shapes, rewrite.Samples}, rewrite.Result{}), Options: "needy's options"},
		{Pass: plain.pass(nil, rewrite.Result{})},
	}
	before := engine.Compiles()
	if _, err := rewrite.Run(m, steps, rewrite.Input{Engine: eo, Shapes: shapes, Samples: samples}); err != nil {
		t.Fatal(err)
	}
	if n := engine.Compiles() - before; n != 0 {
		t.Errorf("%d compiles; the caller's shapes should have been handed on", n)
	}
	if !tensor.SameShape(needy.shape, []int{3, 4}) || needy.samples != 1 || needy.options != "needy's options" {
		t.Errorf("the pass requiring shapes and samples got shape %v, %d samples, options %v", needy.shape, needy.samples, needy.options)
	}
	if plain.shape != nil || plain.samples != 0 || plain.options != nil {
		t.Errorf("the pass requiring nothing got shape %v, %d samples, options %v", plain.shape, plain.samples, plain.options)
	}
}

// TestRunInfersAgainAfterAnEdit: after a pass edits the graph and binds dims, the next pass that
// requires shapes gets them inferred once more with those dims, and the outcome returns them.
func TestRunInfersAgainAfterAnEdit(t *testing.T) {
	m := reluModel()
	var first, second probe
	edit := rewrite.Result{Edited: true, Dims: map[string]int{"d0": 5}, Reshaped: []string{"Relu_1"}}
	steps := []rewrite.Step{
		{Pass: first.pass([]rewrite.Requirement{rewrite.Shapes}, edit)},
		{Pass: second.pass([]rewrite.Requirement{rewrite.Shapes}, rewrite.Result{})},
	}
	before := engine.Compiles()
	out, err := rewrite.Run(m, steps, rewrite.Input{Engine: engine.Options{Dims: map[string]int{"d0": 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := engine.Compiles() - before; n != 2 {
		t.Errorf("%d compiles, want 2 (one per graph state a pass required shapes of)", n)
	}
	if !tensor.SameShape(first.shape, []int{2, 4}) || !tensor.SameShape(second.shape, []int{5, 4}) {
		t.Errorf("shapes %v then %v, want [2 4] then [5 4]", first.shape, second.shape)
	}
	if !out.Edited || out.Engine.Dims["d0"] != 5 || !out.Reshaped["Relu_1"] {
		t.Errorf("outcome %+v", out)
	}
}

func TestCheckOutputShapes(t *testing.T) {
	m := reluModel()
	small, _ := rewrite.InferShapes(m.Graph, engine.Options{Dims: map[string]int{"d0": 2}})
	large, _ := rewrite.InferShapes(m.Graph, engine.Options{Dims: map[string]int{"d0": 3}})
	out := m.Graph.OutputNames()[0]
	if err := rewrite.CheckOutputShapes(small, large, nil); err == nil || !strings.Contains(err.Error(), "changed shape from [2 4] to [3 4]") {
		t.Errorf("a changed output shape: %v", err)
	}
	if err := rewrite.CheckOutputShapes(small, large, map[string]bool{out: true}); err != nil {
		t.Errorf("an output reshaped on purpose: %v", err)
	}
}
