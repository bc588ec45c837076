package verify_test

import (
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
)

// unary is x [2, 3] -> op -> y.
func unary(op string) *graph.Model {
	b := onnxbuild.New(13)
	b.NodeOut(op, []string{b.Input("x", tensor.Float, 2, 3)}, []string{"y"})
	b.Output("y", tensor.Float, 2, 3)
	return b.Model()
}

// TestModelsRunsBothOnTheSameSamples: Relu and Identity agree only where the inputs are not
// negative, which random normal samples are about half the time.
func TestModelsRunsBothOnTheSameSamples(t *testing.T) {
	opts := verify.Options{Samples: 2, Seed: 4, Tolerances: verify.Tolerances{Default: verify.DefaultTolerance}}
	rep, err := verify.Models(unary("Relu"), unary("Relu"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equivalent || rep.Samples != 2 || rep.InputSource != "random (seed 4)" {
		t.Fatalf("a model against itself: %+v", rep)
	}
	rep, err = verify.Models(unary("Relu"), unary("Identity"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Equivalent || rep.Worst() == nil || rep.Worst().Mismatched == 0 {
		t.Fatalf("Relu passed for Identity: %+v", rep)
	}
	given := []map[string]*tensor.Tensor{{"x": tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)}}
	rep, err = verify.Models(unary("Relu"), unary("Identity"), verify.Options{Inputs: given, Tolerances: opts.Tolerances})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Equivalent || rep.Samples != 1 || rep.InputSource != "given" {
		t.Fatalf("on non-negative inputs Relu is Identity: %+v", rep)
	}
}
