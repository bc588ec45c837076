// Package convert is the pipeline behind `fcconv convert`: load a model, run rewrite passes on a
// copy, run the original and the rewrite on the same inputs, and write the result only if they
// agree. The CLI and the batch converter are thin layers over Convert.
//
// Data flows one way: load -> read the given inputs once and bind the input shapes -> infer the
// shapes once (the passes receive them) -> passes (each returns what it bound) -> compile each
// model once and verify -> write. A default convert compiles three times: once to infer shapes,
// once per model verified.
package convert

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/rewrite/bottleneck"
	"github.com/fcconv/fcconv/rewrite/fctoconv"
	"github.com/fcconv/fcconv/rewrite/passes"
	"github.com/fcconv/fcconv/samples"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
)

// Options control one conversion.
type Options struct {
	// Output is where the result goes (default: MODEL.fcconv.onnx beside the input).
	Output string
	// Passes is a comma-separated list of pass names (default "fc-to-conv").
	Passes string
	// FCToConv and Bottleneck are the options of those passes.
	FCToConv   fctoconv.Options
	Bottleneck bottleneck.Options
	// Engine binds the input shapes and symbolic dims the models are compiled with.
	Engine engine.Options
	// NoVerify writes without running the models (for ops the engine lacks).
	NoVerify bool
	// Inputs are explicit verification samples; InputsDir a test_data_set folder ("auto": the
	// model's own test_data_set_0 when it has one, else random inputs); otherwise Samples
	// random samples with Seed.
	Inputs    map[string]*tensor.Tensor
	InputsDir string
	Samples   int
	Seed      int64
	// Tolerances for the comparison; TolerancesGiven says the user set them (they then also apply
	// to lossy passes).
	Tolerances      verify.Tolerances
	TolerancesGiven bool
	// ExternalData saves weights in a side file.
	ExternalData bool
	// DryRun checks and reports but writes nothing.
	DryRun bool
	// BeforeCommit, when set, runs once the output is written under temporary names and before it
	// is renamed into place (see graph.SaveOptions); an error cancels the write.
	BeforeCommit func() error
	// FreezeInputDefaults treats initializers that are also graph inputs (IR < 4 models) as
	// constants, so their layers can be rewritten; by default they are defaults a caller may
	// override, and layers using them are left alone.
	FreezeInputDefaults bool
}

// Status is the outcome of one conversion.
type Status string

// The outcomes.
const (
	Converted     Status = "converted"
	Unchanged     Status = "unchanged"      // nothing to convert; nothing written
	NotEquivalent Status = "not-equivalent" // the rewrite changed the outputs; nothing written
	Failed        Status = "failed"         // bad input or an error; nothing written
)

// Result reports one conversion. It is also the JSON of `convert --json`.
type Result struct {
	Model        string          `json:"model"`
	Output       string          `json:"output,omitempty"`
	Status       Status          `json:"status"`
	Error        string          `json:"error,omitempty"`
	Rewrites     *rewrite.Report `json:"rewrites,omitempty"`
	MACsBefore   int64           `json:"macs_before"`
	MACsAfter    int64           `json:"macs_after"`
	Verification *verify.Report  `json:"verification,omitempty"`
	Verified     bool            `json:"verified"`
	Spatial      *SpatialCheck   `json:"spatial,omitempty"`
	// Replaced says a file already stood at Output when the result was moved into place: an
	// earlier run's, or that of another process writing the same output at the same time.
	Replaced bool `json:"replaced,omitempty"`
	// AssumedDims are symbolic input dims no flag or input bound, compiled as 1.
	AssumedDims []string `json:"assumed_dims,omitempty"`
	Seconds     Timings  `json:"seconds"`
}

// SpatialCheck is the run of a fully convolutional result at a larger input size.
type SpatialCheck struct {
	InputShape  []int `json:"input_shape"`
	OutputShape []int `json:"output_shape"`
}

// Timings are the wall-clock seconds of each phase.
type Timings struct {
	Load    float64 `json:"load"`
	Rewrite float64 `json:"rewrite"`
	Verify  float64 `json:"verify"`
	Save    float64 `json:"save"`
	Total   float64 `json:"total"`
}

// UsageError is a problem with the request itself (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// DefaultOutput is MODEL.fcconv.onnx beside the input.
func DefaultOutput(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".fcconv" + ext
}

// Convert runs the pipeline on one model file. The error is non-nil only for failures (bad input,
// unsupported op, I/O); a rewrite that changes the outputs is Status NotEquivalent with a nil error.
func Convert(path string, opts Options) (*Result, error) {
	start := time.Now()
	res := &Result{Model: path}
	err := convert(path, opts, res)
	res.Seconds.Total = time.Since(start).Seconds()
	if err != nil {
		res.Status, res.Error = Failed, err.Error()
	}
	return res, err
}

func convert(path string, opts Options, res *Result) error {
	steps, err := passSteps(opts)
	if err != nil {
		return &UsageError{err}
	}
	out := opts.Output
	if out == "" {
		out = DefaultOutput(path)
	}
	if opts.InputsDir == "auto" {
		opts.InputsDir = ""
		if dir := filepath.Join(filepath.Dir(path), "test_data_set_0"); isDir(dir) {
			opts.InputsDir = dir
		}
	}
	t := time.Now()
	original, err := graph.Load(path)
	if err != nil {
		return err
	}
	original.InputDefaultsAreConstant = opts.FreezeInputDefaults
	inputFiles, err := inputFiles(path, original)
	if err != nil {
		return err
	}
	if err := refuseOverwrite(inputFiles, out); err != nil {
		return err
	}
	rewritten, err := original.Copy()
	if err != nil {
		return err
	}
	res.Seconds.Load = time.Since(t).Seconds()
	folder, err := readInputsDir(original, opts)
	if err != nil {
		return err
	}
	eo := bindInputShapes(original, opts, folder, res)

	t = time.Now()
	// The copy's shapes, inferred before any pass edits it: the passes receive them (their MACs
	// are keyed by the copy's nodes).
	shapes, err := compileShapes(rewritten, eo)
	if err != nil {
		return err
	}
	res.MACsBefore = sumMACs(shapes)
	inputs, source, err := verificationSamples(shapes, opts, folder)
	if err != nil {
		return err
	}
	outcome, err := rewrite.Run(rewritten, steps, rewrite.Input{Engine: eo, Shapes: shapes, Samples: inputs, DryRun: opts.DryRun})
	report := outcome.Report
	res.Rewrites = report
	if err != nil {
		return err
	}
	res.MACsAfter = res.MACsBefore
	if len(report.Applied) == 0 || opts.DryRun {
		before, after := report.MACsSaved()
		res.MACsAfter = res.MACsBefore - before + after
		res.Status = Unchanged
		res.Seconds.Rewrite = time.Since(t).Seconds()
		return nil
	}
	res.Seconds.Rewrite = time.Since(t).Seconds()

	if opts.NoVerify {
		if err := countMACsAfter(rewritten, shapes, outcome, res); err != nil {
			return err
		}
	} else {
		t = time.Now()
		ok, err := verifyRewrite(original, rewritten, shapes, outcome, opts, eo, inputs, source, res)
		res.Seconds.Verify = time.Since(t).Seconds()
		if err != nil {
			return err
		}
		if !ok {
			res.Status = NotEquivalent
			return nil
		}
	}

	t = time.Now()
	recordRewrite(rewritten, report, res)
	save := graph.SaveOptions{ExternalData: opts.ExternalData, Protect: inputFiles, BeforeCommit: opts.BeforeCommit, Replaced: &res.Replaced}
	if err := rewritten.Save(out, save); err != nil {
		return err
	}
	res.Seconds.Save = time.Since(t).Seconds()
	res.Output, res.Status = out, Converted
	return nil
}

// passSteps are the named passes, each with its options.
func passSteps(opts Options) ([]rewrite.Step, error) {
	names := opts.Passes
	if names == "" {
		names = "fc-to-conv"
	}
	list, err := passes.Lookup(names)
	if err != nil {
		return nil, err
	}
	steps := make([]rewrite.Step, len(list))
	for i, p := range list {
		steps[i] = rewrite.Step{Pass: p}
		switch p {
		case fctoconv.Pass:
			steps[i].Options = opts.FCToConv
		case bottleneck.Pass:
			steps[i].Options = opts.Bottleneck
		}
	}
	return steps, nil
}

// readInputsDir reads the test_data_set folder of verification inputs, when there is one: once,
// for the input shapes and the samples.
func readInputsDir(m *graph.Model, opts Options) (samples.Sample, error) {
	if opts.InputsDir == "" {
		return nil, nil
	}
	in, _, err := samples.ReadTestDataSet(opts.InputsDir, m.Graph.InputNames(), m.Graph.OutputNames())
	if err != nil {
		return nil, &UsageError{err}
	}
	return in, nil
}

// bindInputShapes fixes the shapes both models are compiled with: from the verification inputs
// when given, then 1 for any symbolic dim still unbound (recorded in the result, so the user sees
// what was assumed).
func bindInputShapes(m *graph.Model, opts Options, folder samples.Sample, res *Result) engine.Options {
	eo := opts.Engine
	given := samples.Sample{}
	for k, v := range folder {
		given[k] = v
	}
	for k, v := range opts.Inputs {
		given[k] = v
	}
	if len(given) > 0 {
		eo.InputShapes = samples.BindShapes(eo.InputShapes, given)
	}
	res.AssumedDims = engine.BindDefaultDims(m.Graph, &eo, 1)
	return eo
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// inputFiles are the files a conversion must never write over: the input model and the files its
// external data lives in.
func inputFiles(path string, m *graph.Model) ([]string, error) {
	files, err := m.ExternalFiles()
	if err != nil {
		return nil, err
	}
	out := []string{path}
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out, nil
}

// refuseOverwrite makes sure the output is none of the input's files, by name or as a link to the
// same file. (The output's side file is named after its content, and Save never replaces or
// removes an input file, so only the model's own path needs checking here.)
func refuseOverwrite(inputs []string, out string) error {
	absOut, _ := filepath.Abs(out)
	outInfo, outErr := os.Stat(out)
	for i, in := range inputs {
		absIn, _ := filepath.Abs(in)
		inInfo, inErr := os.Stat(in)
		if absIn != absOut && (outErr != nil || inErr != nil || !os.SameFile(inInfo, outInfo)) {
			continue
		}
		what := "the input model"
		if i > 0 {
			what = "an external data file of the input"
		}
		if absIn != absOut {
			what = fmt.Sprintf("the same file as %s, %s", in, what)
		}
		return &UsageError{fmt.Errorf("the output %s is %s; fcconv never overwrites its input, choose another -o", out, what)}
	}
	return nil
}

// compileShapes infers shapes and MACs without preparing the model to run.
func compileShapes(m *graph.Model, eo engine.Options) (*engine.Program, error) {
	eo.ShapesOnly = true
	return engine.Compile(m.Graph, eo)
}

// sumMACs sums the engine's MAC count over all nodes.
func sumMACs(p *engine.Program) int64 {
	var sum int64
	for _, macs := range p.NodeMACs() {
		sum += macs
	}
	return sum
}

// countMACsAfter infers the rewritten model's shapes when it is not verified (--no-verify): its
// MACs, and that the passes kept every graph output's shape.
func countMACsAfter(rewritten *graph.Model, shapes *engine.Program, outcome *rewrite.Outcome, res *Result) error {
	after, err := compileShapes(rewritten, outcome.Engine)
	if err != nil {
		return fmt.Errorf("the rewritten model does not compile (a bug in a pass): %w", err)
	}
	if err := rewrite.CheckOutputShapes(shapes, after, outcome.Reshaped); err != nil {
		return err
	}
	res.MACsAfter = sumMACs(after)
	return nil
}

// verifyRewrite compiles each model once, runs both on the samples and compares them. The
// rewritten model compiles with the dims the passes bound; its program also gives the MACs after.
func verifyRewrite(original, rewritten *graph.Model, shapes *engine.Program, outcome *rewrite.Outcome, opts Options, eo engine.Options,
	inputs []samples.Sample, source string, res *Result) (bool, error) {
	pa, err := engine.Compile(original.Graph, eo)
	if err != nil {
		return false, err
	}
	pb, err := engine.Compile(rewritten.Graph, outcome.Engine)
	if err != nil {
		return false, fmt.Errorf("the rewritten model does not compile (a bug in a pass): %w", err)
	}
	if err := rewrite.CheckOutputShapes(shapes, pb, outcome.Reshaped); err != nil {
		return false, err
	}
	res.MACsAfter = sumMACs(pb)
	spatial := opts.FCToConv.Spatial
	vo := verify.Options{
		Tolerances: opts.Tolerances, Inputs: inputs, InputSource: source,
		FlattenOutputs: spatial, Approximate: opts.Bottleneck.Lossy(),
	}
	if vo.Approximate && !opts.TolerancesGiven && opts.Bottleneck.MaxError > 0 {
		vo.Tolerances = verify.Tolerances{Default: verify.Tolerance{Rtol: opts.Bottleneck.MaxError}}
	}
	rep, err := verify.Programs(pa, pb, vo)
	if err != nil {
		return false, err
	}
	res.Verification = rep
	if vo.Approximate && !opts.TolerancesGiven && opts.Bottleneck.MaxError == 0 {
		// A lossy policy without an error budget: the error is measured and reported, not judged.
		rep.Equivalent = true
	}
	if !rep.Equivalent {
		return false, nil
	}
	res.Verified = true
	if spatial {
		return true, checkSpatial(rewritten, pa, eo, res)
	}
	return true, nil
}

// verificationSamples are the inputs both models run on: the test_data_set folder, the explicit
// inputs (missing ones filled at random), or Samples random samples. The bottleneck pass measures its
// errors on the same samples, so a --max-error budget holds on what is verified.
func verificationSamples(p *engine.Program, opts Options, folder samples.Sample) ([]samples.Sample, string, error) {
	if opts.InputsDir != "" {
		return []samples.Sample{folder}, opts.InputsDir, checkInputs(p, folder)
	}
	if len(opts.Inputs) > 0 {
		in := samples.Sample{}
		for k, v := range opts.Inputs {
			in[k] = v
		}
		random, err := samples.Random(p, opts.Seed)
		if err != nil {
			return nil, "", err
		}
		for _, name := range p.Inputs() {
			if in[name] == nil {
				in[name] = random[name]
			}
		}
		return []samples.Sample{in}, "--input files", checkInputs(p, in)
	}
	return samples.RandomSets(p, opts.Seed, opts.Samples)
}

func checkInputs(p *engine.Program, in samples.Sample) error {
	if err := samples.Check(p, in); err != nil {
		return &UsageError{err}
	}
	return nil
}

// checkSpatial runs the fully convolutional result at twice the input's H and W and checks that the
// outputs become maps.
func checkSpatial(rewritten *graph.Model, original *engine.Program, eo engine.Options, res *Result) error {
	shapes := map[string][]int{}
	var grown []int
	for _, name := range original.Inputs() {
		info, _ := original.Info(name)
		s := append([]int{}, info.Shape...)
		if len(s) == 4 {
			s[2], s[3] = 2*s[2], 2*s[3]
			grown = s
		}
		shapes[name] = s
	}
	if grown == nil {
		return errors.New("--spatial needs an image input of rank 4")
	}
	p, err := engine.Compile(rewritten.Graph, engine.Options{InputShapes: shapes, Threads: eo.Threads, MaxMemory: eo.MaxMemory})
	if err != nil {
		return fmt.Errorf("the fully convolutional model does not run at input %v: %w", grown, err)
	}
	in, err := samples.Random(p, 1)
	if err != nil {
		return err
	}
	outs, err := p.Run(in)
	if err != nil {
		return fmt.Errorf("the fully convolutional model does not run at input %v: %w", grown, err)
	}
	o := outs[p.Outputs()[0]]
	res.Spatial = &SpatialCheck{InputShape: grown, OutputShape: o.Shape}
	return nil
}

// recordRewrite notes the rewrite in the model's metadata_props.
func recordRewrite(m *graph.Model, report *rewrite.Report, res *Result) {
	counts := map[string]int{}
	var order []string
	for _, a := range report.Applied {
		if counts[a.Pass] == 0 {
			order = append(order, a.Pass)
		}
		counts[a.Pass]++
	}
	var parts []string
	for _, p := range order {
		parts = append(parts, fmt.Sprintf("%s: %d rewrites", p, counts[p]))
	}
	summary := strings.Join(parts, "; ") + fmt.Sprintf("; MACs %d -> %d", res.MACsBefore, res.MACsAfter)
	if res.Verification != nil {
		summary += fmt.Sprintf("; verified on %d sample(s), max relative error %.3g", res.Verification.Samples, maxRel(res.Verification))
	} else {
		summary += "; not verified (--no-verify)"
	}
	m.SetMetadata("fcconv.rewrite", summary)
}

func maxRel(r *verify.Report) float64 {
	worst := 0.0
	for _, o := range r.Outputs {
		if o.MaxRelError > worst {
			worst = o.MaxRelError
		}
	}
	return worst
}
