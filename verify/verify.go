package verify

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

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
	inputs, source, err := samples(pa, opts)
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
	rep.Outputs = CompareOutputs(pa.Outputs(), gotOuts, wantOuts, opts.Tolerances, opts.FlattenOutputs)
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
	rep.Outputs = CompareOutputs(p.Outputs(), got, want, opts.Tolerances, opts.FlattenOutputs)
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

func samples(p *engine.Program, opts Options) ([]map[string]*tensor.Tensor, string, error) {
	if len(opts.Inputs) > 0 {
		if opts.InputSource != "" {
			return opts.Inputs, opts.InputSource, nil
		}
		return opts.Inputs, "given", nil
	}
	n := opts.Samples
	if n <= 0 {
		n = 1
	}
	var out []map[string]*tensor.Tensor
	for i := 0; i < n; i++ {
		in, err := RandomInputs(p, opts.Seed+int64(i))
		if err != nil {
			return nil, "", err
		}
		out = append(out, in)
	}
	return out, fmt.Sprintf("random (seed %d)", opts.Seed), nil
}

// RandomInputs makes one seeded sample for a compiled program: standard normal floats, small
// non-negative integers, random booleans.
func RandomInputs(p *engine.Program, seed int64) (map[string]*tensor.Tensor, error) {
	r := rand.New(rand.NewSource(seed))
	in := map[string]*tensor.Tensor{}
	for _, name := range p.Inputs() {
		info, _ := p.Info(name)
		if !randomTypes[info.DType] {
			return nil, fmt.Errorf("input %q has type %v, for which fcconv cannot make random inputs; give inputs with --input", name, info.DType)
		}
		if err := p.CheckAllocation(fmt.Sprintf("random input %q", name), info.DType, info.Shape); err != nil {
			return nil, err
		}
		t := tensor.New(info.DType, info.Shape...)
		for i := 0; i < t.Len(); i++ {
			switch info.DType {
			case tensor.Float:
				t.F32[i] = float32(r.NormFloat64())
			case tensor.Double:
				t.F64[i] = r.NormFloat64()
			case tensor.Float16:
				t.U16[i] = tensor.Float32ToHalf(float32(r.NormFloat64()))
			case tensor.Int64:
				t.I64[i] = int64(r.Intn(4))
			case tensor.Int32:
				t.I32[i] = int32(r.Intn(4))
			case tensor.Uint8:
				t.U8[i] = uint8(r.Intn(256))
			case tensor.Int8:
				t.I8[i] = int8(r.Intn(256) - 128)
			case tensor.Bool:
				t.B[i] = r.Intn(2) == 1
			}
		}
		in[name] = t
	}
	return in, nil
}

// randomTypes are the element types RandomInputs can fill (checked before allocating: the model
// may declare any type number at all).
var randomTypes = map[tensor.DType]bool{
	tensor.Float: true, tensor.Double: true, tensor.Float16: true, tensor.Int64: true, tensor.Int32: true,
	tensor.Uint8: true, tensor.Int8: true, tensor.Bool: true,
}

var pbFile = regexp.MustCompile(`^(input|output)_(\d+)\.pb$`)

// ReadTestDataSet reads a model-zoo test_data_set folder: input_N.pb are matched to the graph inputs
// by the tensor's name when it has one and by position otherwise; output_N.pb likewise to outputs.
func ReadTestDataSet(dir string, inputNames, outputNames []string) (inputs, outputs map[string]*tensor.Tensor, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	type file struct {
		kind string
		idx  int
		path string
	}
	var files []file
	for _, e := range entries {
		if m := pbFile.FindStringSubmatch(e.Name()); m != nil {
			idx, _ := strconv.Atoi(m[2])
			files = append(files, file{m[1], idx, filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].idx < files[j].idx })
	inputs, outputs = map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for _, f := range files {
		t, name, err := tensor.ReadProtoFile(f.path)
		if err != nil {
			return nil, nil, err
		}
		names, into := inputNames, inputs
		if f.kind == "output" {
			names, into = outputNames, outputs
		}
		if !contains(names, name) {
			if f.idx >= len(names) {
				return nil, nil, fmt.Errorf("%s: the model has only %d %ss", f.path, len(names), f.kind)
			}
			name = names[f.idx]
		}
		into[name] = t
	}
	if len(inputs) == 0 {
		return nil, nil, fmt.Errorf("%s holds no input_N.pb files", dir)
	}
	return inputs, outputs, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s && s != "" {
			return true
		}
	}
	return false
}

func modelName(m *graph.Model) string {
	if m.Path != "" {
		return m.Path
	}
	return "model"
}
