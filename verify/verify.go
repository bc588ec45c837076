// Package verify proves two models (or a model and reference outputs) numerically equivalent: it
// takes or makes inputs (package samples), runs both on fcconv's engine, compares the outputs
// under tolerances (package compare) and builds a report.
package verify

import (
	"fmt"
	"time"

	"github.com/fcconv/fcconv/compare"
	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/samples"
	"github.com/fcconv/fcconv/tensor"
)

// The comparison rules are package compare's; verify names them for its callers.
type (
	Tolerance    = compare.Tolerance
	Tolerances   = compare.Tolerances
	OutputReport = compare.OutputReport
)

// DefaultTolerance is compare.DefaultTolerance.
var DefaultTolerance = compare.DefaultTolerance

// ParseTolerance parses a tolerance flag value (see compare.ParseTolerance).
func ParseTolerance(tols *Tolerances, value string, relative bool) error {
	return compare.ParseTolerance(tols, value, relative)
}

// Options control a comparison.
type Options struct {
	Tolerances Tolerances
	// Inputs are explicit samples (input name -> tensor). When empty, Samples random samples are made.
	Inputs []map[string]*tensor.Tensor
	// InputSource describes where Inputs came from, for the report (default "given").
	InputSource string
	// Samples is the number of random samples (default 1) and Seed their seed.
	Samples int
	Seed    int64
	// Engine sets input shapes and symbolic dims for compiling both models.
	Engine engine.Options
	// FlattenOutputs compares outputs of different shapes but equal size element by element (for
	// a --spatial conversion, whose outputs are [N, K, 1, 1] where the original's are [N, K]).
	FlattenOutputs bool
	// Approximate marks a comparison of a deliberately lossy rewrite, for the report.
	Approximate bool
}

// Report is the outcome of a comparison.
type Report struct {
	Equivalent  bool           `json:"equivalent"`
	Approximate bool           `json:"approximate,omitempty"`
	Samples     int            `json:"samples"`
	InputSource string         `json:"input_source"`
	Outputs     []OutputReport `json:"outputs"`
	// RunSeconds are the engine run times of the first and second model, summed over samples.
	RunSecondsA float64 `json:"run_seconds_a"`
	RunSecondsB float64 `json:"run_seconds_b"`
}

// Worst is the failing output with the largest relative error, or nil when all pass.
func (r *Report) Worst() *OutputReport {
	var worst *OutputReport
	for i := range r.Outputs {
		o := &r.Outputs[i]
		if !o.Pass && (worst == nil || o.MaxRelError > worst.MaxRelError) {
			worst = o
		}
	}
	return worst
}

// Models runs a and b on the same inputs and compares every output of a with b's output of the same
// name. It is the Go API behind `fcconv verify A B`: use it in tests to assert that a rewrite kept a
// model's meaning.
func Models(a, b *graph.Model, opts Options) (*Report, error) {
	pa, err := engine.Compile(a.Graph, opts.Engine)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelName(a), err)
	}
	pb, err := engine.Compile(b.Graph, opts.Engine)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelName(b), err)
	}
	return Programs(pa, pb, opts)
}

// Programs is Models for already compiled programs.
func Programs(pa, pb *engine.Program, opts Options) (*Report, error) {
	inputs, source, err := inputsFor(pa, opts)
	if err != nil {
		return nil, err
	}
	wantOuts, secsA, err := runAll(pa, inputs)
	if err != nil {
		return nil, fmt.Errorf("running the original: %w", err)
	}
	gotOuts, secsB, err := runAll(pb, inputs)
	if err != nil {
		return nil, fmt.Errorf("running the rewritten model: %w", err)
	}
	rep := &Report{Samples: len(inputs), InputSource: source, Approximate: opts.Approximate, RunSecondsA: secsA, RunSecondsB: secsB}
	rep.Outputs = compare.Outputs(pa.Outputs(), gotOuts, wantOuts, opts.Tolerances, opts.FlattenOutputs)
	rep.Equivalent = allPass(rep.Outputs)
	return rep, nil
}

// AgainstReference runs a model on inputs and compares with stored reference outputs (a model-zoo
// test_data_set folder's output_N.pb).
func AgainstReference(m *graph.Model, inputs, want []map[string]*tensor.Tensor, opts Options) (*Report, error) {
	p, err := engine.Compile(m.Graph, opts.Engine)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelName(m), err)
	}
	got, secs, err := runAll(p, inputs)
	if err != nil {
		return nil, err
	}
	rep := &Report{Samples: len(inputs), InputSource: "files", RunSecondsA: secs}
	rep.Outputs = compare.Outputs(p.Outputs(), got, want, opts.Tolerances, opts.FlattenOutputs)
	rep.Equivalent = allPass(rep.Outputs)
	return rep, nil
}

func allPass(outs []OutputReport) bool {
	for _, o := range outs {
		if !o.Pass {
			return false
		}
	}
	return len(outs) > 0
}

func runAll(p *engine.Program, inputs []map[string]*tensor.Tensor) ([]map[string]*tensor.Tensor, float64, error) {
	var outs []map[string]*tensor.Tensor
	start := time.Now()
	for _, in := range inputs {
		o, err := p.Run(in)
		if err != nil {
			return nil, 0, err
		}
		outs = append(outs, o)
	}
	return outs, time.Since(start).Seconds(), nil
}

// inputsFor returns the samples to run: the given ones, else Samples random ones with Seed.
func inputsFor(p *engine.Program, opts Options) ([]map[string]*tensor.Tensor, string, error) {
	if len(opts.Inputs) > 0 {
		if opts.InputSource != "" {
			return opts.Inputs, opts.InputSource, nil
		}
		return opts.Inputs, "given", nil
	}
	return samples.RandomSets(p, opts.Seed, opts.Samples)
}

func modelName(m *graph.Model) string {
	if m.Path != "" {
		return m.Path
	}
	return "model"
}
