package compare

import (
	"math"
	"testing"

	"github.com/fcconv/fcconv/tensor"
)

func outputs(name string, t *tensor.Tensor) []map[string]*tensor.Tensor {
	return []map[string]*tensor.Tensor{{name: t}}
}

func TestToleranceFollowsTheOutputScale(t *testing.T) {
	want := tensor.FromFloat32([]float32{100, -50, 0.001, 3}, 1, 4)
	// 5e-3 off on an output of scale 100: 5e-5 relative, within the default 1e-4.
	close := tensor.FromFloat32([]float32{100.005, -50, 0.001, 3}, 1, 4)
	rep := Outputs([]string{"y"}, outputs("y", close), outputs("y", want), Tolerances{Default: DefaultTolerance}, false)
	if !rep[0].Pass {
		t.Fatalf("float noise rejected: %+v", rep[0])
	}
	// A wrong element: rejected, and located.
	wrong := tensor.FromFloat32([]float32{100, -50, 0.001, 4}, 1, 4)
	rep = Outputs([]string{"y"}, outputs("y", wrong), outputs("y", want), Tolerances{Default: DefaultTolerance}, false)
	r := rep[0]
	if r.Pass || r.Mismatched != 1 || r.WorstIndex[1] != 3 || r.WorstGot != 4 || r.WorstWant != 3 {
		t.Fatalf("wrong element not caught: %+v", r)
	}
	if math.Abs(r.MaxRelError-0.01) > 1e-9 || r.Top1Agreement == nil || *r.Top1Agreement != 1 {
		t.Fatalf("max rel %v, top1 %v", r.MaxRelError, r.Top1Agreement)
	}
}

func TestShapeMismatchAndFlatten(t *testing.T) {
	want := tensor.FromFloat32([]float32{1, 2, 3}, 1, 3)
	got := tensor.FromFloat32([]float32{1, 2, 3}, 1, 3, 1, 1)
	if rep := Outputs([]string{"y"}, outputs("y", got), outputs("y", want), Tolerances{Default: DefaultTolerance}, false); rep[0].Pass || rep[0].Problem == "" {
		t.Fatalf("shape mismatch passed: %+v", rep[0])
	}
	if rep := Outputs([]string{"y"}, outputs("y", got), outputs("y", want), Tolerances{Default: DefaultTolerance}, true); !rep[0].Pass {
		t.Fatalf("flattened comparison failed: %+v", rep[0])
	}
}

func TestNaNHandling(t *testing.T) {
	nan := float32(math.NaN())
	want := tensor.FromFloat32([]float32{nan, 1}, 2)
	same := tensor.FromFloat32([]float32{nan, 1}, 2)
	if rep := Outputs([]string{"y"}, outputs("y", same), outputs("y", want), Tolerances{Default: DefaultTolerance}, false); !rep[0].Pass {
		t.Fatalf("NaN == NaN rejected: %+v", rep[0])
	}
	diff := tensor.FromFloat32([]float32{0, 1}, 2)
	if rep := Outputs([]string{"y"}, outputs("y", diff), outputs("y", want), Tolerances{Default: DefaultTolerance}, false); rep[0].Pass {
		t.Fatalf("a number where the reference has NaN passed")
	}
}

func TestParseTolerance(t *testing.T) {
	tols := Tolerances{Default: DefaultTolerance}
	if err := ParseTolerance(&tols, "1e-3", true); err != nil || tols.Default.Rtol != 1e-3 {
		t.Fatalf("default rtol: %v %+v", err, tols)
	}
	if err := ParseTolerance(&tols, "probs:0.5,/head/out:2e-2", false); err != nil {
		t.Fatal(err)
	}
	if tols.For("probs").Atol != 0.5 || tols.For("/head/out").Atol != 2e-2 || tols.For("probs").Rtol != 1e-3 || tols.For("other").Atol != DefaultTolerance.Atol {
		t.Fatalf("per-output tolerances: %+v", tols)
	}
	for _, bad := range []string{"x", "-1", "out:", "NaN"} {
		if err := ParseTolerance(&tols, bad, true); err == nil {
			t.Errorf("ParseTolerance(%q) accepted", bad)
		}
	}
}
