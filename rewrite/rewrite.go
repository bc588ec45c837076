// Package rewrite holds fcconv's graph rewrites, one file per pass.
//
// A pass is one Pass value (see fctoconv.go, bottleneck.go), in the manner of go/analysis: a name,
// a doc string and a Run function. Run looks at every candidate site in the graph, checks it, and
// either rewrites it, reporting what it replaced and the MACs before and after (Context.Applied),
// or leaves it alone with the reason why (Context.Declined), so that `fcconv inspect` can say why a
// layer was not converted. In a dry run (Context.DryRun) a pass checks but does not edit.
package rewrite

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// Pass is one rewrite.
type Pass struct {
	// Name is the name used on the command line (--passes fc-to-conv).
	Name string
	// Doc says what the pass does, first sentence a summary.
	Doc string
	// Run checks and rewrites every candidate site of ctx.Graph.
	Run func(ctx *Context) error
}

// Passes lists every pass by name.
var Passes = map[string]*Pass{}

func registerPass(p *Pass) *Pass {
	Passes[p.Name] = p
	return p
}

// Lookup returns the passes named in a comma-separated list, in that order.
func Lookup(names string) ([]*Pass, error) {
	var out []*Pass
	for _, name := range strings.Split(names, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		p, ok := Passes[name]
		if !ok {
			return nil, fmt.Errorf("unknown pass %q (known: %s)", name, strings.Join(PassNames(), ", "))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pass named")
	}
	return out, nil
}

// PassNames lists the registered passes, sorted.
func PassNames() []string {
	var names []string
	for n := range Passes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options are the settings passes read. Each pass documents the fields it uses.
type Options struct {
	// Scope is "heads" (default: fully-connected layers of classifier heads) or "all" (every
	// fully-connected layer with constant weights).
	Scope string
	// Spatial makes converted heads fully convolutional: the trailing flatten is dropped and the
	// input's H and W become symbolic.
	Spatial bool
	// Bottleneck holds the settings of the bottleneck pass.
	Bottleneck BottleneckOptions
	// Engine holds the input shapes the passes infer shapes with.
	Engine engine.Options
}

// BottleneckOptions are the settings of the bottleneck pass (see bottleneck.go).
type BottleneckOptions struct {
	MinChannels int
	// Rank policy: exactly one of these is used, in this order of precedence.
	Rank       int     // fixed rank
	RankRatio  float64 // rank = ratio * min(C_in, C_out*K*K)
	RankEnergy float64 // keep this share of the squared singular values
	MaxError   float64 // smallest ranks whose measured output error stays within this
	// CalibrationInputs are the inputs for input-covariance weighting: a test_data_set folder, a
	// folder of such folders, a comma-separated list of them, or "random".
	CalibrationInputs string
	// Inputs are the samples the pass measures errors on (MaxError, reported layer errors): the
	// convert command passes its verification inputs. Empty: calibration inputs, else random.
	Inputs []map[string]*tensor.Tensor
}

// Application is one rewrite a pass made.
type Application struct {
	Pass string `json:"pass"`
	// Replaced are the nodes the rewrite removed or replaced, NewNodes the nodes it added.
	Replaced []string `json:"replaced"`
	NewNodes []string `json:"new_nodes"`
	// Op is the replaced layer's op type, e.g. "Gemm"; Detail says what became what.
	Op         string `json:"op"`
	Detail     string `json:"detail"`
	MACsBefore int64  `json:"macs_before"`
	MACsAfter  int64  `json:"macs_after"`
	// Extra holds pass-specific figures (e.g. the bottleneck's rank and error).
	Extra map[string]any `json:"extra,omitempty"`
}

// Decline is a candidate a pass left alone, and why.
type Decline struct {
	Pass   string `json:"pass"`
	Node   string `json:"node"`
	Op     string `json:"op"`
	Reason string `json:"reason"`
}

// Report collects what passes did.
type Report struct {
	Applied  []Application `json:"applied"`
	Declined []Decline     `json:"declined"`
}

// Context is what a pass works on.
type Context struct {
	Model   *graph.Model
	Graph   *graph.Graph
	Options Options
	// DryRun: check every candidate and report, but do not edit the graph. Candidates that would be
	// converted are reported through Applied with the figures the rewrite would give.
	DryRun bool
	Report *Report

	pass   *Pass
	shapes *engine.Program
	// macs is shapes.NodeMACs(), built once per compile: building it per query made a pass over
	// n layers quadratic.
	macs map[*graph.Node]int64
}

// Shape returns the static shape of a value of the main graph, as inferred for the configured input
// shapes.
func (ctx *Context) Shape(name string) ([]int, bool) {
	if ctx.shapes == nil {
		return nil, false
	}
	info, ok := ctx.shapes.Info(name)
	if !ok {
		return nil, false
	}
	return info.Shape, true
}

// MACs returns the multiply-accumulates the engine counts for a node (0 if unknown).
func (ctx *Context) MACs(n *graph.Node) int64 {
	if ctx.shapes == nil {
		return 0
	}
	if ctx.macs == nil {
		ctx.macs = ctx.shapes.NodeMACs()
	}
	return ctx.macs[n]
}

// Applied records a rewrite.
func (ctx *Context) Applied(a Application) {
	a.Pass = ctx.pass.Name
	ctx.Report.Applied = append(ctx.Report.Applied, a)
}

// Declined records a candidate left alone.
func (ctx *Context) Declined(n *graph.Node, format string, args ...any) {
	ctx.Report.Declined = append(ctx.Report.Declined, Decline{
		Pass: ctx.pass.Name, Node: n.DisplayName(), Op: n.OpType(), Reason: fmt.Sprintf(format, args...),
	})
}

// RefreshShapes re-runs shape inference after an edit.
func (ctx *Context) RefreshShapes() error {
	opts := ctx.Options.Engine
	opts.ShapesOnly = true
	p, err := engine.Compile(ctx.Graph, opts)
	if err != nil {
		return fmt.Errorf("shape inference: %w", err)
	}
	ctx.shapes, ctx.macs = p, nil
	return nil
}

// Run applies the passes in order to the model's main graph (each pass sees the previous one's
// result) and returns what they did.
func Run(m *graph.Model, passes []*Pass, opts Options, dryRun bool) (*Report, error) {
	report := &Report{}
	for _, p := range passes {
		ctx := &Context{Model: m, Graph: m.Graph, Options: opts, DryRun: dryRun, Report: report, pass: p}
		if err := ctx.RefreshShapes(); err != nil {
			return report, err
		}
		if err := p.Run(ctx); err != nil {
			return report, fmt.Errorf("pass %s: %w", p.Name, err)
		}
		opts = ctx.Options // a pass may bind dims it made symbolic (fc-to-conv --spatial)
	}
	return report, nil
}

// MACsSaved sums the MACs before and after over all applications.
func (r *Report) MACsSaved() (before, after int64) {
	for _, a := range r.Applied {
		before += a.MACsBefore
		after += a.MACsAfter
	}
	return before, after
}
