// Package rewrite is the framework fcconv's graph rewrites run in; the passes themselves live in
// its subpackages (rewrite/fctoconv, rewrite/bottleneck), one package each, and rewrite/passes
// lists them.
//
// A pass is one Pass value, in the manner of go/analysis: a name, a doc string, what it Requires
// from the pipeline (the inferred shapes of the graph it receives, the samples the result will be
// verified on) and a Run function. Run looks at every candidate site in the graph, checks it, and
// either rewrites it, reporting what it replaced and the MACs before and after (Context.Applied),
// or leaves it alone with the reason why (Context.Declined), so that `fcconv inspect` can say why
// a layer was not converted. It returns what it bound for the passes after it and the caller
// (Result). In a dry run (Context.DryRun) a pass checks but does not edit.
//
// Data flows one way: the caller hands Run the model, the shapes it already inferred and its
// samples; each pass gets what it requires and returns what it bound; Run returns the report and
// the engine options the rewritten graph compiles with. Shapes are inferred again only when a
// pass edited the graph and a later pass requires them.
package rewrite

import (
	"errors"
	"fmt"
	"maps"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// Requirement is something a pass needs from the pipeline before it runs.
type Requirement int

const (
	// Shapes: the inferred shapes and MACs of the graph as the pass receives it (Context.Shape,
	// Context.Info, Context.MACs, and the engine-folded values of Context.Constant).
	Shapes Requirement = iota
	// Samples: the inputs the rewritten model will be verified on (Context.Samples), so that a
	// pass measuring errors measures them on what verification runs.
	Samples
)

// Pass is one rewrite.
type Pass struct {
	// Name is the name used on the command line (--passes fc-to-conv).
	Name string
	// Doc says what the pass does, first sentence a summary.
	Doc string
	// Requires lists what the pass needs before it runs.
	Requires []Requirement
	// Run checks and rewrites every candidate site of ctx.Graph. ctx.Options holds the pass's own
	// options type (or nil for its defaults).
	Run func(ctx *Context) (Result, error)
}

func (p *Pass) requires(r Requirement) bool {
	for _, have := range p.Requires {
		if have == r {
			return true
		}
	}
	return false
}

// Result is what a pass hands on.
type Result struct {
	// Edited: the pass changed the graph.
	Edited bool
	// Dims are symbolic dims the pass introduced, bound to the sizes the graph had (fc-to-conv
	// --spatial makes the input's H and W "height" and "width"): later passes and the caller
	// compile the graph with them.
	Dims map[string]int
	// Reshaped are graph outputs whose shape the pass changed on purpose (--spatial heads); every
	// other output keeps its shape.
	Reshaped []string
}

// Step is a pass with its options, as the caller configures it.
type Step struct {
	Pass    *Pass
	Options any
}

// Input is what the pipeline hands the passes.
type Input struct {
	// Engine binds the input shapes and symbolic dims the graph is compiled with.
	Engine engine.Options
	// Shapes are the graph's inferred shapes when the caller already has them (compiled with
	// Engine); nil: Run infers them if a pass requires them.
	Shapes *engine.Program
	// Samples are the inputs the rewritten model will be verified on.
	Samples []map[string]*tensor.Tensor
	// DryRun: check every candidate and report, but do not edit the graph. Candidates that would
	// be converted are reported through Applied with the figures the rewrite would give.
	DryRun bool
}

// Outcome is what Run returns.
type Outcome struct {
	Report *Report
	// Engine is Input.Engine with the dims the passes bound: the options the rewritten graph
	// compiles with.
	Engine engine.Options
	// Edited: some pass changed the graph.
	Edited bool
	// Reshaped are the graph outputs a pass changed the shape of on purpose.
	Reshaped map[string]bool
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
	Model *graph.Model
	Graph *graph.Graph
	// Options are the pass's own options (Step.Options): each pass documents its type.
	Options any
	// Engine binds the input shapes and dims the graph is compiled with (with the dims earlier
	// passes bound).
	Engine engine.Options
	// Samples are the verification inputs, for a pass that requires Samples.
	Samples []map[string]*tensor.Tensor
	DryRun  bool
	Report  *Report

	pass   *Pass
	shapes *engine.Program
	// macs is shapes.NodeMACs(), built once per compile: building it per query made a pass over
	// n layers quadratic.
	macs map[*graph.Node]int64
}

// Shape returns the static shape of a value of the main graph, as inferred for the configured input
// shapes.
func (ctx *Context) Shape(name string) ([]int, bool) {
	info, ok := ctx.Info(name)
	if !ok {
		return nil, false
	}
	return info.Shape, true
}

// Info returns the engine's compile-time info of a value of the main graph (shape, type, and the
// value itself when the engine folds it).
func (ctx *Context) Info(name string) (engine.Info, bool) {
	if ctx.shapes == nil {
		return engine.Info{}, false
	}
	return ctx.shapes.Info(name)
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

// Constant resolves a value of the main graph to a constant with graph.ResolveConstant, the
// resolver every pass shares; values the engine folds count as constants too.
func (ctx *Context) Constant(name string) (*graph.ResolvedConstant, error) {
	return ctx.Graph.ResolveConstant(name, ctx.folded)
}

func (ctx *Context) folded(name string) *tensor.Tensor {
	info, ok := ctx.Info(name)
	if !ok {
		return nil
	}
	return info.Const
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

// InferShapes compiles g for shape inference and MAC counting only.
func InferShapes(g *graph.Graph, eo engine.Options) (*engine.Program, error) {
	eo.ShapesOnly = true
	p, err := engine.Compile(g, eo)
	if err != nil {
		return nil, fmt.Errorf("shape inference: %w", err)
	}
	return p, nil
}

// Run applies the passes in order to the model's main graph (each pass sees the previous one's
// result) and returns what they did. The outcome (and its report) is returned even with an error.
func Run(m *graph.Model, steps []Step, in Input) (*Outcome, error) {
	out := &Outcome{Report: &Report{}, Engine: in.Engine, Reshaped: map[string]bool{}}
	shapes := in.Shapes
	for _, s := range steps {
		if s.Pass == nil {
			return out, errors.New("rewrite: a step without a pass")
		}
		ctx := &Context{Model: m, Graph: m.Graph, Options: s.Options, Engine: out.Engine, DryRun: in.DryRun, Report: out.Report, pass: s.Pass}
		if s.Pass.requires(Shapes) {
			if shapes == nil {
				var err error
				if shapes, err = InferShapes(m.Graph, out.Engine); err != nil {
					return out, err
				}
			}
			ctx.shapes = shapes
		}
		if s.Pass.requires(Samples) {
			ctx.Samples = in.Samples
		}
		res, err := s.Pass.Run(ctx)
		if err != nil {
			return out, fmt.Errorf("pass %s: %w", s.Pass.Name, err)
		}
		if res.Edited {
			out.Edited, shapes = true, nil
		}
		if len(res.Dims) > 0 {
			out.Engine.Dims = maps.Clone(out.Engine.Dims)
			if out.Engine.Dims == nil {
				out.Engine.Dims = map[string]int{}
			}
			maps.Copy(out.Engine.Dims, res.Dims)
		}
		for _, o := range res.Reshaped {
			out.Reshaped[o] = true
		}
	}
	return out, nil
}

// CheckOutputShapes makes sure every graph output of the rewritten program kept the shape it had
// in the original, except those a pass reshaped on purpose: a pass that changes an output's
// shape has a bug, which is an error rather than a verification mismatch.
func CheckOutputShapes(original, rewritten *engine.Program, reshaped map[string]bool) error {
	for _, o := range original.Outputs() {
		if reshaped[o] {
			continue
		}
		want, _ := original.Info(o)
		got, ok := rewritten.Info(o)
		if !ok || !tensor.SameShape(got.Shape, want.Shape) {
			var gotShape []int
			if ok {
				gotShape = got.Shape
			}
			return fmt.Errorf("internal: graph output %q changed shape from %v to %v", o, want.Shape, gotShape)
		}
	}
	return nil
}

// MACsSaved sums the MACs before and after over all applications.
func (r *Report) MACsSaved() (before, after int64) {
	for _, a := range r.Applied {
		before += a.MACsBefore
		after += a.MACsAfter
	}
	return before, after
}
