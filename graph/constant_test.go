package graph_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/tensor"
)

// TestResolveConstant: the resolver the passes share finds constants behind the chains exporters
// leave when they skip constant folding, and says why a value is not one.
func TestResolveConstant(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 2, 3)
	w := b.Init("w", onnxbuild.Random(1, 3, 4))
	identity := b.Node("Identity", []string{w})
	transposed := b.Node("Transpose", []string{identity}, graph.IntsAttr("perm", 1, 0))
	half := b.Init("half", tensor.New(tensor.Float16, 3, 4))
	cast := b.Node("Cast", []string{half}, graph.IntAttr("to", int64(tensor.Float)))
	computed := b.Node("Relu", []string{x})
	folded := b.Node("Neg", []string{w})
	b.Output(b.Node("Sum", []string{computed, identity, transposed, cast, folded}), tensor.Float, 2, 3)
	g := b.Model().Graph

	for _, c := range []struct {
		name       string
		transposed bool
		dtype      tensor.DType
	}{{w, false, tensor.Float}, {identity, false, tensor.Float}, {transposed, true, tensor.Float}, {cast, false, tensor.Float}} {
		got, err := g.ResolveConstant(c.name, nil)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.Transposed != c.transposed || got.T.DType != c.dtype || !tensor.SameShape(got.T.Shape, []int{3, 4}) {
			t.Errorf("%s: transposed %v, %v%v; want transposed %v, %v[3 4]", c.name, got.Transposed, got.T.DType, got.T.Shape, c.transposed, c.dtype)
		}
	}
	var notConstant *graph.NotConstantError
	for name, reason := range map[string]string{x: "is a graph input, fed at run time", computed: "computed at run time by", folded: "computed at run time by"} {
		got, err := g.ResolveConstant(name, nil)
		if got != nil || !errors.As(err, &notConstant) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, %v; want it declined because it %s", name, got, err, reason)
		}
	}
	// A value the engine folds counts when the caller hands the folded values in.
	neg := onnxbuild.Random(2, 3, 4)
	got, err := g.ResolveConstant(folded, func(name string) *tensor.Tensor {
		if name == folded {
			return neg
		}
		return nil
	})
	if err != nil || got.T != neg {
		t.Errorf("folded value: %v, %v", got, err)
	}
}
