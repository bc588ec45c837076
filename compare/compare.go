// Package compare compares a run's outputs with reference outputs, element by element, under
// tolerances: it is the numeric judgement verify reports and the bottleneck pass measures with.
//
// Tolerances are relative to each output's scale: an element agrees when
//
//	|got - want| <= atol + rtol * max|want|
//
// where max|want| is the largest magnitude of that output over the sample. Output scales differ by
// three orders of magnitude between real models (logits with std 0.01 or 11), so an absolute
// tolerance alone either misses bugs on one or flags float reassociation on the other.
package compare

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fcconv/fcconv/tensor"
)

// Tolerance is the agreement rule for one output.
type Tolerance struct {
	Atol float64 `json:"atol"`
	Rtol float64 `json:"rtol"`
}

// DefaultTolerance accepts float32 reassociation (different summation orders, as a Conv and a Gemm
// have; measured differences are around 1e-6 of the output's scale) and rejects real rewrite bugs (a
// transposed weight, a dropped bias or an ignored alpha give errors of the order of the output
// itself).
var DefaultTolerance = Tolerance{Atol: 1e-6, Rtol: 1e-4}

// Tolerances holds a default and per-output overrides.
type Tolerances struct {
	Default   Tolerance            `json:"default"`
	PerOutput map[string]Tolerance `json:"per_output,omitempty"`
}

// For returns the tolerance of an output.
func (t Tolerances) For(output string) Tolerance {
	if tol, ok := t.PerOutput[output]; ok {
		return tol
	}
	return t.Default
}

// ParseTolerance parses a tolerance flag value: "1e-4" sets the default, "out:1e-4" the named
// output's (which starts from the default's other field). It updates tols in place.
func ParseTolerance(tols *Tolerances, value string, relative bool) error {
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		name, num := "", item
		if i := strings.LastIndex(item, ":"); i >= 0 {
			name, num = item[:i], item[i+1:]
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsNaN(v) {
			return fmt.Errorf("bad tolerance %q: want a non-negative number, or OUTPUT:number", item)
		}
		set := func(t *Tolerance) {
			if relative {
				t.Rtol = v
			} else {
				t.Atol = v
			}
		}
		if name == "" {
			set(&tols.Default)
			continue
		}
		if tols.PerOutput == nil {
			tols.PerOutput = map[string]Tolerance{}
		}
		t, ok := tols.PerOutput[name]
		if !ok {
			t = tols.Default
		}
		set(&t)
		tols.PerOutput[name] = t
	}
	return nil
}

// OutputReport is the comparison of one output over all samples.
type OutputReport struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// MaxAbsError is the largest |got - want|.
	MaxAbsError float64 `json:"max_abs_error"`
	// MaxRelError is MaxAbsError divided by the reference's largest magnitude.
	MaxRelError float64 `json:"max_rel_error"`
	// RefMaxAbs is the reference's largest magnitude.
	RefMaxAbs float64 `json:"ref_max_abs"`
	// Cosine is the cosine similarity of the flattened outputs (worst sample).
	Cosine float64 `json:"cosine"`
	// Top1Agreement is the share of rows whose argmax agrees, for outputs that look like class
	// scores ([N, K] or [N, K, 1, 1] with K >= 2); nil otherwise.
	Top1Agreement *float64 `json:"top1_agreement,omitempty"`
	// Worst locates the worst element: sample, multi-index, and the two values.
	WorstSample int     `json:"worst_sample"`
	WorstIndex  []int   `json:"worst_index"`
	WorstGot    float64 `json:"worst_got"`
	WorstWant   float64 `json:"worst_want"`
	// Mismatched counts elements outside the tolerance.
	Mismatched int       `json:"mismatched"`
	Elements   int       `json:"elements"`
	Tolerance  Tolerance `json:"tolerance"`
	Pass       bool      `json:"pass"`
	// Problem is set when the output could not be compared at all (shape or type mismatch).
	Problem string `json:"problem,omitempty"`
}

// outputStats accumulates one output's comparison over samples.
type outputStats struct {
	rep         OutputReport
	top1Match   int
	top1Rows    int
	diffs       [][]float64 // per sample, |got-want| per element
	cosineFirst bool
}

func newOutputStats(name string, tol Tolerance) *outputStats {
	return &outputStats{rep: OutputReport{Name: name, Tolerance: tol, Cosine: 1, Pass: true}, cosineFirst: true}
}

// add compares one sample. When flatten is set, shapes may differ as long as the element counts
// agree (a --spatial conversion turns [N, K] into [N, K, 1, 1]).
func (s *outputStats) add(sample int, got, want *tensor.Tensor, flatten bool) {
	r := &s.rep
	if r.Problem != "" {
		return
	}
	r.Shape = want.Shape
	switch {
	case got == nil:
		r.Problem = "missing from the second model's outputs"
	case !isNumeric(got.DType) || !isNumeric(want.DType):
		r.Problem = fmt.Sprintf("cannot compare %v with %v", got.DType, want.DType)
	case !tensor.SameShape(got.Shape, want.Shape) && !(flatten && got.Len() == want.Len()):
		r.Problem = fmt.Sprintf("shape %v differs from the reference's %v", got.Shape, want.Shape)
	}
	if r.Problem != "" {
		r.Pass = false
		return
	}
	var dot, ng, nw float64
	n := want.Len()
	diff := make([]float64, n)
	for i := 0; i < n; i++ {
		a, b := got.At(i), want.At(i)
		d := math.Abs(a - b)
		if math.IsNaN(a) != math.IsNaN(b) || math.IsInf(a, 0) != math.IsInf(b, 0) {
			d = math.Inf(1)
		} else if math.IsNaN(a) || (math.IsInf(a, 0) && a == b) {
			d = 0
		}
		diff[i] = d
		if d > r.MaxAbsError || (d == r.MaxAbsError && r.WorstIndex == nil) {
			r.MaxAbsError, r.WorstSample, r.WorstIndex = d, sample, unravel(i, want.Shape)
			r.WorstGot, r.WorstWant = a, b
		}
		if m := math.Abs(b); m > r.RefMaxAbs && !math.IsInf(m, 0) && !math.IsNaN(m) {
			r.RefMaxAbs = m
		}
		dot += a * b
		ng += a * a
		nw += b * b
	}
	s.diffs = append(s.diffs, diff)
	r.Elements += n
	cos := 1.0
	if ng > 0 || nw > 0 {
		cos = dot / (math.Sqrt(ng) * math.Sqrt(nw))
		if ng == 0 || nw == 0 {
			cos = 0
		}
	}
	if cos < r.Cosine || s.cosineFirst {
		r.Cosine, s.cosineFirst = cos, false
	}
	s.addTop1(got, want)
}

// addTop1 counts argmax agreement per row for outputs shaped like class scores.
func (s *outputStats) addTop1(got, want *tensor.Tensor) {
	shape := want.Shape
	if len(shape) == 4 && shape[2] == 1 && shape[3] == 1 {
		shape = shape[:2]
	}
	if len(shape) != 2 || shape[1] < 2 || !isFloat(want.DType) {
		return
	}
	rows, k := shape[0], shape[1]
	for r := 0; r < rows; r++ {
		if argmax(got, r*k, k) == argmax(want, r*k, k) {
			s.top1Match++
		}
		s.top1Rows++
	}
}

func argmax(t *tensor.Tensor, off, k int) int {
	best, bi := math.Inf(-1), 0
	for i := 0; i < k; i++ {
		if v := t.At(off + i); v > best {
			best, bi = v, i
		}
	}
	return bi
}

// finish applies the tolerance once the reference's scale over all samples is known.
func (s *outputStats) finish() OutputReport {
	r := s.rep
	if r.Problem != "" {
		return r
	}
	if r.RefMaxAbs > 0 {
		r.MaxRelError = r.MaxAbsError / r.RefMaxAbs
	} else if r.MaxAbsError > 0 {
		r.MaxRelError = math.Inf(1)
	}
	limit := r.Tolerance.Atol + r.Tolerance.Rtol*r.RefMaxAbs
	for _, diff := range s.diffs {
		for _, d := range diff {
			if d > limit || math.IsNaN(d) {
				r.Mismatched++
			}
		}
	}
	r.Pass = r.Mismatched == 0
	if s.top1Rows > 0 {
		agree := float64(s.top1Match) / float64(s.top1Rows)
		r.Top1Agreement = &agree
	}
	return r
}

func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

func isNumeric(dt tensor.DType) bool { return dt != tensor.String && dt.Size() > 0 }

func isFloat(dt tensor.DType) bool {
	return dt == tensor.Float || dt == tensor.Double || dt == tensor.Float16 || dt == tensor.BFloat16
}

// Outputs compares sample-aligned outputs of a run (got) with references (want), for the
// named outputs, and returns one report per output.
func Outputs(names []string, got, want []map[string]*tensor.Tensor, tols Tolerances, flatten bool) []OutputReport {
	var reports []OutputReport
	for _, name := range names {
		s := newOutputStats(name, tols.For(name))
		for i := range want {
			w := want[i][name]
			if w == nil {
				continue
			}
			s.add(i, got[i][name], w, flatten)
		}
		reports = append(reports, s.finish())
	}
	return reports
}
