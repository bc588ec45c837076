// Package bottleneck is the bottleneck pass: a wide conv whose weight is (close to) low rank over its input channels
// becomes a narrow 1x1 conv followed by the original conv on fewer channels.
//
// Before:
//
//	X [N, C_in, H, W] -> Conv(W [C_out, C_in, kh, kw], B, strides, pads, dilations) -> Y
//
// After:
//
//	X -> Conv(W1 [r, C_in, 1, 1], no bias, stride 1, no pad, group 1) -> Z [N, r, H, W]
//	  -> Conv(W2 [C_out, r, kh, kw], B, the original strides, pads, dilations, auto_pad) -> Y
//
// with W seen as the matrix A [(C_out*kh*kw) x C_in] (rows: output channel and kernel tap, columns:
// input channel) and A ≈ Left_r · Right_r, W2 = Left_r reshaped, W1 = Right_r (see internal/lowrank).
// MACs per image go from C_out*C_in*K*P_out to r*C_in*P_in + C_out*r*K*P_out (K kernel taps, P_in
// and P_out the input and output pixels: the 1x1 runs at the input resolution). A 1x1 conv with
// strides and no padding moves its strides to the 1x1 reducing conv instead, so that it computes
// only the pixels the second conv reads.
//
// Cases handled exactly:
//   - Conv of the default domain, group 1, 1-D, 2-D or 3-D (any kernel size), in the main graph;
//   - float32 weight from an initializer or a Constant node; optional bias; any strides, pads,
//     dilations and auto_pad (kept on the second conv);
//   - C_in >= MinChannels (default 128) and a rank that saves MACs at the inferred shapes.
//
// Declined, with the reason: other group counts, narrow inputs, non-constant or non-float32
// weights, unknown shapes, full numerical rank ("full rank"), ranks too high to save MACs, and under
// MaxError the layers the error budget did not reach.
//
// Rank policies (Options, first set wins): Rank (fixed), RankRatio (share of the full rank
// min(C_in, C_out*K)), RankEnergy (share of the squared singular values), MaxError (measured; see
// maxerror.go), else exact: the numerical rank (lowrank.NumericalRank), the count of
// singular values above max(rows, cols)·ε_float32·σ_max, raised until the dropped ones' Frobenius
// norm is at most 1e-5·σ_max, so that the rewrite stays within float32 verification tolerance
// (1e-4 of the output's scale) with an order of magnitude to spare.
//
// Errors reported per layer (Application.Extra): layer_rel_error, the layer's own output change
// (max |Δy| / max |y|) measured on the verification samples (rewrite.Samples), the calibration inputs or (MaxError
// without inputs) a seeded random sample, as measured_on says; else weight_rel_error,
// ||W - W_r||_F / ||W||_F. MaxError also reports model_rel_error, the end-to-end figure.
//
// Factorisation: truncated SVD of A by default. With CalibrationInputs (and a lossy policy) each
// layer's input activations give the channel covariance Σ and the factors minimise the layer's
// output error instead (lowrank.Weighted). The exact policy always uses the plain SVD: a rank
// decided from a covariance would only be exact on the calibration data.
package bottleneck

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/lowrank"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
	"gonum.org/v1/gonum/mat"
)

// Options are the bottleneck pass's settings.
type Options struct {
	MinChannels int
	// Rank policy: exactly one of these is used, in this order of precedence.
	Rank       int     // fixed rank
	RankRatio  float64 // rank = ratio * min(C_in, C_out*K*K)
	RankEnergy float64 // keep this share of the squared singular values
	MaxError   float64 // smallest ranks whose measured output error stays within this
	// CalibrationInputs are the inputs for input-covariance weighting: a test_data_set folder, a
	// folder of such folders, a comma-separated list of them, or "random".
	CalibrationInputs string
}

// Lossy reports whether the options ask for an approximate rewrite.
func (o Options) Lossy() bool {
	return o.Rank > 0 || o.RankRatio > 0 || o.RankEnergy > 0 || o.MaxError > 0
}

// Pass factorises wide convs over their input channels. Its Step options are Options; it measures
// errors on the verification samples (rewrite.Samples) when it has them.
var Pass = &rewrite.Pass{
	Name: "bottleneck",
	Doc: "Bottleneck splits a wide KxK conv whose weight is (close to) low rank over its input channels " +
		"into a 1x1 conv to r channels and the KxK conv from r channels; exact (numerical rank) by default, " +
		"lossy with --rank, --rank-ratio, --rank-energy or --max-error, optionally calibrated on inputs.",
	Requires: []rewrite.Requirement{rewrite.Shapes, rewrite.Samples},
	Run:      run,
}

func optionsOf(ctx *rewrite.Context) Options {
	if o, ok := ctx.Options.(Options); ok {
		return o
	}
	return Options{}
}

// defaultMinChannels is the narrowest C_in considered when MinChannels is not set.
const defaultMinChannels = 128

// convSite is one candidate conv and everything the pass learns about it.
type convSite struct {
	node          *graph.Node
	weightName    string
	weight        *tensor.Tensor // float32 [C_out, C_in, k...]
	cout, cin     int
	kernel        []int // spatial kernel dims
	taps          int   // product of kernel
	batch         int
	inShape       []int
	reducePixels  int // pixels per image the 1x1 conv computes
	outPixels     int // pixels per image of the output
	strideReduced bool

	matrix    *mat.Dense
	values    []float64 // singular values of the matrix (of matrix·L when calibrated)
	fact      *lowrank.Factorisation
	breakEven int                 // largest rank that still saves MACs
	cov       *lowrank.Covariance // input channel statistics, when calibrating
	samples   []layerSample       // the layer's input and output on the measurement inputs
}

// layerSample is a conv's input and reference output on one measurement input.
type layerSample struct{ in, out *tensor.Tensor }

func (s *convSite) name() string { return s.node.DisplayName() }

func (s *convSite) fullRank() int { return min(s.cin, s.cout*s.taps) }

func (s *convSite) macsBefore() int64 {
	return int64(s.batch) * int64(s.cout) * int64(s.cin) * int64(s.taps) * int64(s.outPixels)
}

func (s *convSite) macsAt(r int) int64 {
	return int64(s.batch) * int64(r) * (int64(s.cin)*int64(s.reducePixels) + int64(s.cout)*int64(s.taps)*int64(s.outPixels))
}

// kernelText is "3x3" for a 2-D 3x3 kernel.
func (s *convSite) kernelText() string {
	parts := make([]string, len(s.kernel))
	for i, k := range s.kernel {
		parts[i] = fmt.Sprint(k)
	}
	return strings.Join(parts, "x")
}

func run(ctx *rewrite.Context) (rewrite.Result, error) {
	applied := len(ctx.Report.Applied)
	err := factoriseSites(ctx)
	return rewrite.Result{Edited: !ctx.DryRun && len(ctx.Report.Applied) > applied}, err
}

func factoriseSites(ctx *rewrite.Context) error {
	policy := choosePolicy(optionsOf(ctx))
	sites := findConvSites(ctx)
	if len(sites) == 0 {
		return nil
	}
	// Calibration and MaxError need every candidate's activations before factorising; a fixed
	// policy only measures the layers it picked, for the report.
	env := &measureEnv{ctx: ctx}
	if policy.calibrated || policy.kind == policyMaxError {
		var err error
		if env, err = prepareMeasurements(ctx, sites, policy); err != nil {
			return err
		}
	}
	weighted := policy.calibrated && env.calibrationSource != ""
	// The exact policy declines most layers (trained and random weights alike are full rank), and
	// deciding that needs only the singular values.
	valuesOnly := policy.kind == policyExact
	if err := forEachSite(sites, func(s *convSite) error { return factoriseSite(s, weighted, valuesOnly) }); err != nil {
		return err
	}
	if policy.kind == policyMaxError {
		return applyChoices(ctx, selectWithinMaxError(ctx, sites, env, policy), env, policy)
	}
	choices := selectByPolicy(ctx, sites, policy)
	if len(choices) > 0 && !policy.calibrated && hasInputs(ctx) {
		var err error
		if env, err = prepareMeasurements(ctx, sitesOf(choices), policy); err != nil {
			return err
		}
	}
	if err := reportErrors(choices, env); err != nil {
		return err
	}
	return applyChoices(ctx, choices, env, policy)
}

func sitesOf(choices []rankChoice) []*convSite {
	out := make([]*convSite, len(choices))
	for i, c := range choices {
		out[i] = c.site
	}
	return out
}

// findConvSites lists the candidate convs, declining the others with their reason.
func findConvSites(ctx *rewrite.Context) []*convSite {
	minChannels := optionsOf(ctx).MinChannels
	if minChannels <= 0 {
		minChannels = defaultMinChannels
	}
	var sites []*convSite
	for _, n := range ctx.Graph.Nodes {
		if n.OpType() != "Conv" || n.Domain() != "" {
			continue
		}
		site, reason := inspectConv(ctx, n, minChannels)
		if reason != "" {
			ctx.Declined(n, "%s", reason)
			continue
		}
		sites = append(sites, site)
	}
	return sites
}

// inspectConv checks one Conv; it returns the site or why it is not a candidate.
func inspectConv(ctx *rewrite.Context, n *graph.Node, minChannels int) (*convSite, string) {
	if g := n.AttrInt("group", 1); g != 1 {
		return nil, fmt.Sprintf("group %d: only group-1 convs are factorised", g)
	}
	wName := n.Input(1)
	c, err := ctx.Constant(wName)
	var notConstant *graph.NotConstantError
	if errors.As(err, &notConstant) {
		return nil, fmt.Sprintf("weight %q is not a constant", wName)
	}
	if err != nil {
		return nil, fmt.Sprintf("weight %q cannot be decoded: %v", wName, err)
	}
	w := c.T
	if w.DType != tensor.Float {
		return nil, fmt.Sprintf("weight %q is %v; only float32 weights are factorised", wName, w.DType)
	}
	if w.Rank() < 3 {
		return nil, fmt.Sprintf("weight %q has shape %v; a conv weight is [C_out, C_in, k...]", wName, w.Shape)
	}
	site := &convSite{node: n, weightName: wName, weight: w, cout: w.Shape[0], cin: w.Shape[1], kernel: w.Shape[2:]}
	site.taps = tensor.NumElements(site.kernel)
	if site.cin < minChannels {
		return nil, fmt.Sprintf("C_in %d is below the minimum %d", site.cin, minChannels)
	}
	inShape, ok1 := ctx.Shape(n.Input(0))
	outShape, ok2 := ctx.Shape(n.Output(0))
	if !ok1 || !ok2 || len(inShape) != w.Rank() || len(outShape) != w.Rank() {
		return nil, "the input or output shape is unknown"
	}
	site.batch, site.inShape = inShape[0], inShape
	site.outPixels = tensor.NumElements(outShape[2:])
	site.reducePixels = tensor.NumElements(inShape[2:])
	if canStrideReduce(n, site.kernel) {
		site.strideReduced, site.reducePixels = true, site.outPixels
	}
	site.breakEven = breakEvenRank(site)
	if site.breakEven < 1 {
		return nil, fmt.Sprintf("no rank saves MACs (%d -> %d channels, %s kernel)", site.cin, site.cout, site.kernelText())
	}
	return site, ""
}

// canStrideReduce: a strided 1x1 conv without padding reads only every stride-th pixel, so the
// reducing conv can take the strides and compute only those.
func canStrideReduce(n *graph.Node, kernel []int) bool {
	for _, k := range kernel {
		if k != 1 {
			return false
		}
	}
	for _, p := range n.AttrInts("pads", nil) {
		if p != 0 {
			return false
		}
	}
	if pad := n.AttrString("auto_pad", "NOTSET"); pad != "NOTSET" && pad != "VALID" && pad != "" {
		return false
	}
	for _, s := range n.AttrInts("strides", nil) {
		if s != 1 {
			return true
		}
	}
	return false
}

// breakEvenRank is the largest rank whose two convs cost fewer MACs than the original.
func breakEvenRank(s *convSite) int {
	perRank := s.macsAt(1)
	if perRank == 0 {
		return 0
	}
	r := int((s.macsBefore() - 1) / perRank)
	return min(r, s.fullRank())
}

// forEachSite runs fn on every site, on all cores (one SVD of a 4608x512 matrix takes about a
// second).
func forEachSite(sites []*convSite, fn func(*convSite) error) error {
	jobs := make(chan int)
	errs := make([]error, len(sites))
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(sites)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				errs[i] = fn(sites[i])
			}
		}()
	}
	for i := range sites {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("%v: %w", sites[i].node, err)
		}
	}
	return nil
}

// factoriseSite computes a site's singular values, and unless valuesOnly its factorisation
// (weighted by its input covariance when calibrating).
func factoriseSite(s *convSite, weighted, valuesOnly bool) error {
	s.matrix = lowrank.WeightMatrix(s.weight.Float64s(), s.cout, s.cin, s.taps)
	var err error
	switch {
	case valuesOnly:
		s.values, err = lowrank.SingularValues(s.matrix)
		return err
	case weighted && s.cov != nil:
		cov, cerr := s.cov.Regularised()
		if cerr != nil {
			return cerr
		}
		s.fact, err = lowrank.Weighted(s.matrix, cov)
	default:
		s.fact, err = lowrank.Plain(s.matrix)
	}
	if err == nil {
		s.values = s.fact.Values
	}
	return err
}
