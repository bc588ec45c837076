package bottleneck

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/onnxbuild"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/rewrite/rewritetest"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
)

// Synthetic models: one or two convs with weights of known rank, built with onnxbuild.

// lowRankConvWeight makes a float32 weight [cout, cin, kernel...] whose matrix over input channels
// has exactly rank r.
func lowRankConvWeight(seed int64, cout, cin, r int, kernel ...int) *tensor.Tensor {
	rng := rand.New(rand.NewSource(seed))
	taps := tensor.NumElements(kernel)
	left := make([]float64, cout*taps*r)
	right := make([]float64, r*cin)
	for i := range left {
		left[i] = rng.NormFloat64()
	}
	for i := range right {
		right[i] = rng.NormFloat64() / math.Sqrt(float64(r*cin*taps))
	}
	w := tensor.New(tensor.Float, append([]int{cout, cin}, kernel...)...)
	for o := 0; o < cout; o++ {
		for c := 0; c < cin; c++ {
			for s := 0; s < taps; s++ {
				sum := 0.0
				for j := 0; j < r; j++ {
					sum += left[(o*taps+s)*r+j] * right[j*cin+c]
				}
				w.F32[(o*cin+c)*taps+s] = float32(sum)
			}
		}
	}
	return w
}

// spectrumConvWeight makes a weight whose singular values over input channels are the given ones
// (orthonormal singular vectors from a seeded QR-free Gram-Schmidt).
func spectrumConvWeight(seed int64, cout, cin int, values []float64, kernel ...int) *tensor.Tensor {
	rng := rand.New(rand.NewSource(seed))
	taps := tensor.NumElements(kernel)
	u := orthonormalColumns(rng, cout*taps, len(values))
	v := orthonormalColumns(rng, cin, len(values))
	w := tensor.New(tensor.Float, append([]int{cout, cin}, kernel...)...)
	for o := 0; o < cout; o++ {
		for c := 0; c < cin; c++ {
			for s := 0; s < taps; s++ {
				sum := 0.0
				for j, sv := range values {
					sum += u[j][o*taps+s] * sv * v[j][c]
				}
				w.F32[(o*cin+c)*taps+s] = float32(sum)
			}
		}
	}
	return w
}

func orthonormalColumns(rng *rand.Rand, n, k int) [][]float64 {
	cols := make([][]float64, k)
	for j := range cols {
		c := make([]float64, n)
		for i := range c {
			c[i] = rng.NormFloat64()
		}
		for _, prev := range cols[:j] {
			dot := 0.0
			for i := range c {
				dot += c[i] * prev[i]
			}
			for i := range c {
				c[i] -= dot * prev[i]
			}
		}
		norm := 0.0
		for _, x := range c {
			norm += x * x
		}
		for i := range c {
			c[i] /= math.Sqrt(norm)
		}
		cols[j] = c
	}
	return cols
}

// convSpec is one conv of a test model.
type convSpec struct {
	weight *tensor.Tensor
	bias   bool
	attrs  []*onnxpb.AttributeProto
	// constantNode puts the weight in a Constant node instead of an initializer.
	constantNode bool
}

// convChain builds x [1, C, spatial...] -> conv -> conv ... -> y, every conv with pads that keep
// the spatial size unless attrs say otherwise.
func convChain(t *testing.T, spatial []int, convs ...convSpec) *graph.Model {
	t.Helper()
	b := onnxbuild.New(13)
	cur := b.Input("x", tensor.Float, append([]int{1, convs[0].weight.Shape[1]}, spatial...)...)
	for i, c := range convs {
		w := fmt.Sprintf("w%d", i)
		if c.constantNode {
			b.NodeOut("Constant", nil, []string{w}, graph.TensorAttr("value", c.weight))
		} else {
			b.Init(w, c.weight)
		}
		inputs := []string{cur, w}
		if c.bias {
			inputs = append(inputs, b.Init(fmt.Sprintf("b%d", i), onnxbuild.Random(int64(100+i), c.weight.Shape[0])))
		}
		cur = b.Node("Conv", inputs, c.attrs...)
	}
	b.Output(cur, tensor.Float)
	return b.Model()
}

func samePads(kernel ...int) *onnxpb.AttributeProto {
	pads := make([]int64, 2*len(kernel))
	for i, k := range kernel {
		pads[i], pads[i+len(kernel)] = int64(k/2), int64(k/2)
	}
	return graph.IntsAttr("pads", pads...)
}

func runBottleneckPass(t *testing.T, m *graph.Model, opts Options, dryRun bool) *rewrite.Report {
	t.Helper()
	return runBottleneckOn(t, m, opts, nil, dryRun)
}

// runBottleneckOn runs the pass with verification samples (what the pass measures errors on).
func runBottleneckOn(t *testing.T, m *graph.Model, opts Options, samples []map[string]*tensor.Tensor, dryRun bool) *rewrite.Report {
	t.Helper()
	out, err := rewrite.Run(m, []rewrite.Step{{Pass: Pass, Options: opts}}, rewrite.Input{Samples: samples, DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	rep := out.Report
	return rep
}

// modelRelError runs both models on seeded random inputs and returns verify's worst MaxRelError.
func modelRelError(t *testing.T, a, b *graph.Model, seed int64) float64 {
	t.Helper()
	rep, err := verify.Models(a, b, verify.Options{Seed: seed, Tolerances: verify.Tolerances{Default: verify.DefaultTolerance}})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, o := range rep.Outputs {
		worst = max(worst, o.MaxRelError)
	}
	return worst
}

func opTypes(m *graph.Model) string {
	var ops []string
	for _, n := range m.Graph.Nodes {
		if n.OpType() != "Constant" {
			ops = append(ops, n.OpType())
		}
	}
	return strings.Join(ops, ",")
}

func declineReasons(rep *rewrite.Report) string {
	var out []string
	for _, d := range rep.Declined {
		out = append(out, d.Node+": "+d.Reason)
	}
	return strings.Join(out, "\n")
}

func TestBottleneckExactLowRankConv(t *testing.T) {
	const cin, cout, rank = 128, 96, 16
	w := lowRankConvWeight(1, cout, cin, rank, 3, 3)
	original := convChain(t, []int{10, 12}, convSpec{weight: w, bias: true, attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
	m := convChain(t, []int{10, 12}, convSpec{weight: w, bias: true, attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
	rep := runBottleneckPass(t, m, Options{}, false)
	if len(rep.Applied) != 1 {
		t.Fatalf("applied %d rewrites, want 1; declined:\n%s", len(rep.Applied), declineReasons(rep))
	}
	a := rep.Applied[0]
	if a.Extra["rank"] != rank || a.Extra["full_rank"] != cin {
		t.Errorf("rank %v of %v, want %d of %d", a.Extra["rank"], a.Extra["full_rank"], rank, cin)
	}
	pixels := int64(10 * 12)
	if want := int64(cout*cin*9) * pixels; a.MACsBefore != want {
		t.Errorf("MACs before %d, want %d", a.MACsBefore, want)
	}
	if want := int64(rank*(cin+cout*9)) * pixels; a.MACsAfter != want {
		t.Errorf("MACs after %d, want %d", a.MACsAfter, want)
	}
	if _, ok := a.Extra["weight_rel_error"]; !ok {
		t.Errorf("without inputs the error should be the weight's: extra %v", a.Extra)
	}
	if got := opTypes(m); got != "Conv,Conv" {
		t.Fatalf("ops after the rewrite: %s", got)
	}
	reducer, expander := m.Graph.Nodes[0], m.Graph.Nodes[1]
	if w, _ := m.Graph.Constant(reducer.Input(1)); !tensor.SameShape(w.Shape, []int{rank, cin, 1, 1}) || reducer.Input(2) != "" {
		t.Errorf("reducing conv weight %v, inputs %v", w.Shape, reducer.Inputs())
	}
	if w, _ := m.Graph.Constant(expander.Input(1)); !tensor.SameShape(w.Shape, []int{cout, rank, 3, 3}) || expander.Input(2) == "" {
		t.Errorf("expanding conv weight %v, inputs %v (the bias must stay on it)", w.Shape, expander.Inputs())
	}
	if m.Graph.Initializer("w0") != nil {
		t.Error("the original weight was not removed")
	}
	if e := modelRelError(t, original, m, 7); e > 1e-4 {
		t.Errorf("max error %.3g of the output's scale, want <= 1e-4", e)
	}
}

func TestBottleneckConvShapes(t *testing.T) {
	cases := []struct {
		name    string
		spatial []int
		spec    convSpec
		rank    int
	}{
		{"1-D kernel 5", []int{20}, convSpec{weight: lowRankConvWeight(2, 64, 128, 8, 5), attrs: []*onnxpb.AttributeProto{samePads(5)}}, 8},
		{"3-D 3x3x3", []int{4, 5, 6}, convSpec{weight: lowRankConvWeight(3, 32, 128, 6, 3, 3, 3), bias: true, attrs: []*onnxpb.AttributeProto{samePads(3, 3, 3)}}, 6},
		{"asymmetric 3x1 strided dilated", []int{13, 9}, convSpec{weight: lowRankConvWeight(4, 64, 128, 10, 3, 1), attrs: []*onnxpb.AttributeProto{
			graph.IntsAttr("strides", 2, 1), graph.IntsAttr("dilations", 2, 1), graph.IntsAttr("pads", 1, 0, 2, 0)}}, 10},
		{"auto_pad SAME_UPPER", []int{7, 8}, convSpec{weight: lowRankConvWeight(5, 64, 128, 12, 3, 3), attrs: []*onnxpb.AttributeProto{
			graph.StringAttr("auto_pad", "SAME_UPPER"), graph.IntsAttr("strides", 2, 2)}}, 12},
		{"weight in a Constant node", []int{6, 6}, convSpec{weight: lowRankConvWeight(6, 64, 128, 4, 3, 3), constantNode: true, attrs: []*onnxpb.AttributeProto{samePads(3, 3)}}, 4},
		{"1x1", []int{6, 6}, convSpec{weight: lowRankConvWeight(7, 256, 128, 20, 1, 1), bias: true}, 20},
		{"strided 1x1", []int{9, 8}, convSpec{weight: lowRankConvWeight(8, 256, 128, 20, 1, 1), attrs: []*onnxpb.AttributeProto{graph.IntsAttr("strides", 2, 2)}}, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			original := convChain(t, c.spatial, c.spec)
			m := convChain(t, c.spatial, c.spec)
			rep := runBottleneckPass(t, m, Options{}, false)
			if len(rep.Applied) != 1 {
				t.Fatalf("applied %d, want 1; declined:\n%s", len(rep.Applied), declineReasons(rep))
			}
			if r := rep.Applied[0].Extra["rank"]; r != c.rank {
				t.Errorf("rank %v, want %d", r, c.rank)
			}
			if got := opTypes(m); got != "Conv,Conv" {
				t.Errorf("ops %s", got)
			}
			if m.Graph.Producer("w0") != nil || m.Graph.Initializer("w0") != nil {
				t.Error("the original weight is still in the graph")
			}
			if e := modelRelError(t, original, m, 1); e > 1e-4 {
				t.Errorf("max error %.3g of the output's scale, want <= 1e-4", e)
			}
		})
	}
}

func TestBottleneckStridedOneByOneMovesStrideToReducer(t *testing.T) {
	spec := convSpec{weight: lowRankConvWeight(9, 256, 128, 16, 1, 1), attrs: []*onnxpb.AttributeProto{graph.IntsAttr("strides", 2, 2)}}
	m := convChain(t, []int{8, 8}, spec)
	rep := runBottleneckPass(t, m, Options{}, false)
	if len(rep.Applied) != 1 {
		t.Fatalf("applied %d; declined:\n%s", len(rep.Applied), declineReasons(rep))
	}
	reducer, expander := m.Graph.Nodes[0], m.Graph.Nodes[1]
	if s := reducer.AttrInts("strides", nil); len(s) != 2 || s[0] != 2 {
		t.Errorf("reducer strides %v, want [2 2]", s)
	}
	if s := expander.AttrInts("strides", nil); s != nil {
		t.Errorf("expander keeps strides %v", s)
	}
	// The 1x1 reducer computes only the 4x4 output pixels.
	if want := int64(16 * (128 + 256) * 16); rep.Applied[0].MACsAfter != want {
		t.Errorf("MACs after %d, want %d", rep.Applied[0].MACsAfter, want)
	}
}

func TestBottleneckDeclines(t *testing.T) {
	rng := onnxbuild.Random
	cases := []struct {
		name   string
		model  func(t *testing.T) *graph.Model
		reason string
	}{
		{"group 2", func(t *testing.T) *graph.Model {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 256, 4, 4)
			w := b.Init("w", rng(1, 128, 128, 3, 3))
			b.Output(b.Node("Conv", []string{x, w}, graph.IntAttr("group", 2), samePads(3, 3)), tensor.Float)
			return b.Model()
		}, "group 2"},
		{"narrow", func(t *testing.T) *graph.Model {
			return convChain(t, []int{4, 4}, convSpec{weight: lowRankConvWeight(1, 64, 64, 4, 3, 3), attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
		}, "C_in 64 is below the minimum 128"},
		{"full rank", func(t *testing.T) *graph.Model {
			return convChain(t, []int{4, 4}, convSpec{weight: rng(2, 128, 128, 3, 3), attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
		}, "full rank: numerical rank 128 of 128"},
		{"rank too high to save", func(t *testing.T) *graph.Model {
			// 1x1 128 -> 128 saves only below rank 64.
			return convChain(t, []int{4, 4}, convSpec{weight: lowRankConvWeight(3, 128, 128, 100, 1, 1)})
		}, "numerical rank 100 of 128 is too high to save MACs (break-even rank 63)"},
		{"non-constant weight", func(t *testing.T) *graph.Model {
			b := onnxbuild.New(13)
			x := b.Input("x", tensor.Float, 1, 128, 4, 4)
			w := b.Input("w", tensor.Float, 64, 128, 3, 3)
			b.Output(b.Node("Conv", []string{x, w}, samePads(3, 3)), tensor.Float)
			return b.Model()
		}, `weight "w" is not a constant`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t)
			rep := runBottleneckPass(t, m, Options{}, false)
			if len(rep.Applied) != 0 || len(rep.Declined) != 1 {
				t.Fatalf("applied %d, declined %d; want one decline", len(rep.Applied), len(rep.Declined))
			}
			if !strings.Contains(rep.Declined[0].Reason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", rep.Declined[0].Reason, c.reason)
			}
			if got := opTypes(m); got != "Conv" {
				t.Errorf("a declined conv was edited: %s", got)
			}
		})
	}
}

func TestBottleneckMinChannelsOption(t *testing.T) {
	m := convChain(t, []int{5, 5}, convSpec{weight: lowRankConvWeight(1, 64, 64, 4, 3, 3), attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
	rep := runBottleneckPass(t, m, Options{MinChannels: 32}, false)
	if len(rep.Applied) != 1 || rep.Applied[0].Extra["rank"] != 4 {
		t.Fatalf("with MinChannels 32 the 64-channel conv should be factorised at rank 4; got %+v, declined:\n%s", rep.Applied, declineReasons(rep))
	}
}

func TestBottleneckDryRunReportsWithoutEditing(t *testing.T) {
	m := convChain(t, []int{6, 6}, convSpec{weight: lowRankConvWeight(1, 64, 128, 8, 3, 3), attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
	rep := runBottleneckPass(t, m, Options{}, true)
	if len(rep.Applied) != 1 || rep.Applied[0].MACsAfter >= rep.Applied[0].MACsBefore {
		t.Fatalf("dry run should report the rewrite: %+v", rep.Applied)
	}
	if got := opTypes(m); got != "Conv" || m.Graph.Initializer("w0") == nil || len(m.Graph.Proto.Initializer) != 1 {
		t.Errorf("a dry run edited the graph: ops %s, %d initializers", got, len(m.Graph.Proto.Initializer))
	}
}

// decaying is a spectrum 1, 0.9, 0.81, ... of n values.
func decaying(n int, ratio float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Pow(ratio, float64(i))
	}
	return out
}

func TestBottleneckFixedPolicies(t *testing.T) {
	values := decaying(128, 0.95) // squared: geometric with ratio 0.9025
	w := spectrumConvWeight(11, 64, 128, values, 3, 3)
	energyRank := 0
	for total, kept := sumSquares(values), 0.0; kept < 0.99*total; energyRank++ {
		kept += values[energyRank] * values[energyRank]
	}
	cases := []struct {
		name string
		opts Options
		rank int
	}{
		{"rank 20", Options{Rank: 20}, 20},
		{"ratio 0.25", Options{RankRatio: 0.25}, 32},
		{"energy 0.99", Options{RankEnergy: 0.99}, energyRank},
		{"rank beats ratio", Options{Rank: 7, RankRatio: 0.5}, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := convChain(t, []int{6, 6}, convSpec{weight: w, attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
			rep := runBottleneckPass(t, m, c.opts, false)
			if len(rep.Applied) != 1 {
				t.Fatalf("applied %d; declined:\n%s", len(rep.Applied), declineReasons(rep))
			}
			a := rep.Applied[0]
			if a.Extra["rank"] != c.rank {
				t.Errorf("rank %v, want %d", a.Extra["rank"], c.rank)
			}
			// The weight error of a truncated SVD is the tail's share of the spectrum.
			want := math.Sqrt(sumSquares(values[c.rank:]) / sumSquares(values))
			if got := a.Extra["weight_rel_error"].(float64); math.Abs(got-want) > 1e-3 {
				t.Errorf("weight error %.5f, want %.5f", got, want)
			}
		})
	}
}

func sumSquares(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return s
}

func TestBottleneckFixedRankTooHighDeclines(t *testing.T) {
	m := convChain(t, []int{6, 6}, convSpec{weight: onnxbuild.Random(1, 128, 128, 1, 1)})
	rep := runBottleneckPass(t, m, Options{RankRatio: 0.75}, false)
	if len(rep.Applied) != 0 || len(rep.Declined) != 1 || !strings.Contains(rep.Declined[0].Reason, "too high to save MACs") {
		t.Fatalf("want a 'too high to save MACs' decline, got applied %d, declined:\n%s", len(rep.Applied), declineReasons(rep))
	}
}

// correlatedModel is x [1, 8, H, W] -> 1x1 conv 8 -> 128 (declined: narrow) -> 3x3 conv 128 -> 128
// with a full-rank, slowly decaying spectrum. The second conv's inputs live in an 8-dimensional
// subspace of its 128 channels, as trained networks' activations concentrate in few directions.
func correlatedModel(t *testing.T) *graph.Model {
	mix := onnxbuild.Random(21, 128, 8, 1, 1)
	wide := spectrumConvWeight(22, 128, 128, decaying(128, 0.98), 3, 3)
	return convChain(t, []int{12, 12},
		convSpec{weight: mix},
		convSpec{weight: wide, bias: true, attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
}

func TestBottleneckCalibrationBeatsPlainSVD(t *testing.T) {
	const rank = 24
	errorWith := func(calibration string) (float64, map[string]any) {
		m := correlatedModel(t)
		rep := runBottleneckPass(t, m, Options{Rank: rank, CalibrationInputs: calibration}, false)
		if len(rep.Applied) != 1 {
			t.Fatalf("applied %d; declined:\n%s", len(rep.Applied), declineReasons(rep))
		}
		// Measured on seeds the calibration did not see.
		return modelRelError(t, correlatedModel(t), m, 77), rep.Applied[0].Extra
	}
	plain, plainExtra := errorWith("")
	calibrated, calExtra := errorWith("random")
	t.Logf("rank %d of 128: model error plain SVD %.4f, calibrated %.4f", rank, plain, calibrated)
	if calExtra["factorisation"] != "input-covariance weighted" || plainExtra["factorisation"] != "svd" {
		t.Errorf("factorisation reported as %v and %v", plainExtra["factorisation"], calExtra["factorisation"])
	}
	if _, ok := calExtra["layer_rel_error"]; !ok {
		t.Errorf("with calibration inputs the layer error should be measured: %v", calExtra)
	}
	if calibrated >= plain/2 {
		t.Errorf("calibrated error %.4f is not well below plain SVD's %.4f", calibrated, plain)
	}
}

func TestBottleneckCalibrationFromFolders(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("test_data_set_%d", i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tensor.WriteProtoFile(filepath.Join(sub, "input_0.pb"), "x", onnxbuild.Random(int64(40+i), 1, 8, 12, 12)); err != nil {
			t.Fatal(err)
		}
	}
	m := correlatedModel(t)
	rep := runBottleneckPass(t, m, Options{Rank: 24, CalibrationInputs: dir}, false)
	if len(rep.Applied) != 1 || rep.Applied[0].Extra["factorisation"] != "input-covariance weighted" {
		t.Fatalf("want one calibrated rewrite; got %+v, declined:\n%s", rep.Applied, declineReasons(rep))
	}
	if src := fmt.Sprint(rep.Applied[0].Extra["calibrated_on"]); !strings.Contains(src, "2 samples") {
		t.Errorf("calibration source %q, want 2 samples", src)
	}
	if _, err := rewrite.Run(correlatedModel(t), []rewrite.Step{{Pass: Pass, Options: Options{Rank: 24, CalibrationInputs: filepath.Join(dir, "missing")}}}, rewrite.Input{}); err == nil {
		t.Error("a missing calibration folder should be an error")
	}
}

func TestBottleneckMaxErrorSynthetic(t *testing.T) {
	const limit = 0.02
	pads := []*onnxpb.AttributeProto{samePads(3, 3)}
	build := func() *graph.Model {
		return convChain(t, []int{8, 8},
			convSpec{weight: spectrumConvWeight(31, 128, 128, decaying(128, 0.9), 3, 3), bias: true, attrs: pads},
			convSpec{weight: spectrumConvWeight(32, 128, 128, decaying(128, 0.94), 3, 3), attrs: pads},
			convSpec{weight: spectrumConvWeight(33, 128, 128, decaying(128, 0.99), 3, 3), attrs: pads})
	}
	m := build()
	rep := runBottleneckPass(t, m, Options{MaxError: limit}, false)
	if len(rep.Applied) < 2 {
		t.Fatalf("applied %d, want the two fast-decaying layers; declined:\n%s", len(rep.Applied), declineReasons(rep))
	}
	before, after := rep.MACsSaved()
	reported := rep.Applied[0].Extra["model_rel_error"].(float64)
	measured := modelRelError(t, build(), m, 0) // seed 0: the inputs the pass measured on
	t.Logf("MACs %d -> %d (%.2fx), model error reported %.4f, measured %.4f", before, after, float64(before)/float64(after), reported, measured)
	for _, a := range rep.Applied {
		t.Logf("  %s: layer error %.4f", a.Detail, a.Extra["layer_rel_error"])
	}
	if measured > limit || math.Abs(measured-reported) > 1e-4*measured+1e-6 {
		t.Errorf("measured error %.5f (reported %.5f), want <= %g and equal", measured, reported, limit)
	}
	ranks := map[string]int{}
	for _, a := range rep.Applied {
		ranks[a.Replaced[0]] = a.Extra["rank"].(int)
	}
	// The faster a layer's spectrum decays, the cheaper its cuts: it must get the lower rank.
	if r0, r1 := ranks["Conv_node_2"], ranks["Conv_node_4"]; r0 == 0 || r1 == 0 || r0 >= r1 {
		t.Errorf("ranks %v: want rank(Conv_node_2) < rank(Conv_node_4)", ranks)
	}
}

func TestBottleneckMeasuresLayerErrorOnGivenInputs(t *testing.T) {
	w := lowRankConvWeight(1, 64, 128, 8, 3, 3)
	m := convChain(t, []int{6, 6}, convSpec{weight: w, attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
	inputs := []map[string]*tensor.Tensor{{"x": onnxbuild.Random(5, 1, 128, 6, 6)}, {"x": onnxbuild.Random(6, 1, 128, 6, 6)}}
	rep := runBottleneckOn(t, m, Options{}, inputs, false)
	if len(rep.Applied) != 1 {
		t.Fatalf("applied %d; declined:\n%s", len(rep.Applied), declineReasons(rep))
	}
	extra := rep.Applied[0].Extra
	if e, ok := extra["layer_rel_error"].(float64); !ok || e > 1e-5 {
		t.Errorf("layer error %v, want a measured value near 0", extra["layer_rel_error"])
	}
	if extra["measured_on"] != "given inputs (2)" {
		t.Errorf("measured on %q", extra["measured_on"])
	}
}

func TestBottleneckMaxErrorWithoutInputsSaysRandom(t *testing.T) {
	m := convChain(t, []int{6, 6}, convSpec{weight: spectrumConvWeight(3, 64, 128, decaying(128, 0.8), 3, 3), attrs: []*onnxpb.AttributeProto{samePads(3, 3)}})
	rep := runBottleneckPass(t, m, Options{MaxError: 0.05}, false)
	if len(rep.Applied) != 1 {
		t.Fatalf("applied %d; declined:\n%s", len(rep.Applied), declineReasons(rep))
	}
	if src := fmt.Sprint(rep.Applied[0].Extra["measured_on"]); !strings.Contains(src, "random normal inputs") {
		t.Errorf("measured on %q, want it to say the inputs were random", src)
	}
}

// named gives the last node built its own name, so that a fixture's expectations read clearly.
func named(b *onnxbuild.Builder, name string) {
	nodes := b.Proto().Graph.Node
	nodes[len(nodes)-1].Name = &name
}

// TestBottleneckFixture: one model, every verdict, in the manner of analysistest. The pass finds its
// weights with the resolver fc-to-conv uses too, so a weight behind an Identity is a constant.
func TestBottleneckFixture(t *testing.T) {
	b := onnxbuild.New(13)
	x := b.Input("x", tensor.Float, 1, 128, 4, 4)
	pads := samePads(3, 3)
	y := b.Node("Conv", []string{x, b.Init("w_low", lowRankConvWeight(1, 128, 128, 8, 3, 3))}, pads)
	named(b, "low_rank")
	behindIdentity := b.Node("Identity", []string{b.Init("w_id", lowRankConvWeight(2, 128, 128, 8, 3, 3))})
	y = b.Node("Conv", []string{y, behindIdentity}, pads)
	named(b, "weight_behind_identity")
	y = b.Node("Conv", []string{y, b.Init("w_full", onnxbuild.Random(3, 64, 128, 3, 3))}, pads)
	named(b, "full_rank")
	y = b.Node("Conv", []string{y, b.Init("w_narrow", onnxbuild.Random(4, 64, 64, 3, 3))}, pads)
	named(b, "narrow")
	y = b.Node("Conv", []string{y, b.Input("w_fed", tensor.Float, 64, 64, 1, 1)})
	named(b, "weight_fed")
	b.Output(y, tensor.Float)
	orig, m := b.Model(), b.Model()
	rewritetest.Run(t, m, rewrite.Step{Pass: Pass, Options: Options{}}, rewrite.Input{}, rewritetest.Want{
		Applied: []string{"low_rank", "weight_behind_identity"},
		Declined: map[string]string{
			"full_rank":  "full rank: numerical rank 128 of 128",
			"narrow":     "C_in 64 is below the minimum 128",
			"weight_fed": `weight "w_fed" is not a constant`,
		},
	})
	if ops := opTypes(m); strings.Contains(ops, "Identity") {
		t.Errorf("the weight's Identity stayed behind: %s", ops)
	}
	if e := modelRelError(t, orig, m, 1); e > 1e-4 {
		t.Errorf("the rewrite changed the outputs by %g", e)
	}
}
