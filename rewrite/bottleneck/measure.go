package bottleneck

import (
	"fmt"
	"math"

	"github.com/fcconv/fcconv/compare"
	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/lowrank"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/samples"
	"github.com/fcconv/fcconv/tensor"
)

// Measurement inputs. The bottleneck pass measures errors on the verification samples
// (rewrite.Samples: the convert command's verification inputs). Without them, MaxError measures
// on one seeded random normal sample made like verify's default (seed 0), so that its choice is judged on what
// the default verification will run, not on the calibration data; the other policies report
// layer errors on the calibration inputs when there are some. Calibration reads CalibrationInputs: a
// test_data_set folder of input_N.pb files, a folder of such folders, a comma-separated list of
// either, or "random" for seeded random normal samples.

// randomCalibrationSamples is how many random samples "random" calibration uses, and
// randomCalibrationSeed the first seed (apart from verification's seed 0).
const (
	randomCalibrationSamples = 4
	randomCalibrationSeed    = 1000
)

// measureEnv holds the inputs the pass measures on and the original model's outputs on them.
type measureEnv struct {
	// source describes the measurement inputs ("" when the pass measures nothing).
	source    string
	inputs    []map[string]*tensor.Tensor
	reference []map[string]*tensor.Tensor // the original graph outputs per input
	outputs   []string
	// calibrationSource describes the calibration inputs ("" when not calibrating).
	calibrationSource string
	// failure says why measuring was impossible (the engine lacks an op, ...), "" otherwise.
	failure string
	ctx     *rewrite.Context
}

// hasInputs reports whether measurement inputs are available to the pass without inventing them.
func hasInputs(ctx *rewrite.Context) bool {
	return len(ctx.Samples) > 0 || optionsOf(ctx).CalibrationInputs != ""
}

// prepareMeasurements runs the original model on the calibration and measurement inputs, keeping
// each candidate conv's input statistics (calibration) and its input and output (measurement).
func prepareMeasurements(ctx *rewrite.Context, sites []*convSite, p rankPolicy) (*measureEnv, error) {
	opts := optionsOf(ctx)
	env := &measureEnv{ctx: ctx}
	measure := p.kind == policyMaxError || hasInputs(ctx)
	eo := ctx.Engine
	eo.KeepIntermediates, eo.ShapesOnly = true, false
	prog, err := engine.Compile(ctx.Graph, eo)
	if err != nil {
		if p.calibrated {
			return nil, fmt.Errorf("calibration needs to run the model: %w", err)
		}
		env.failure = fmt.Sprintf("cannot run the model to measure errors: %v", err)
		return env, nil
	}
	env.outputs = prog.Outputs()
	var calibration []map[string]*tensor.Tensor
	if p.calibrated {
		if calibration, env.calibrationSource, err = calibrationInputs(opts.CalibrationInputs, prog); err != nil {
			return nil, err
		}
		for _, s := range sites {
			s.cov = lowrank.NewCovariance(s.cin)
		}
	}
	if measure {
		switch {
		case len(ctx.Samples) > 0:
			env.inputs, env.source = ctx.Samples, fmt.Sprintf("given inputs (%d)", len(ctx.Samples))
		case calibration != nil && p.kind != policyMaxError:
			env.inputs, env.source = calibration, env.calibrationSource
		default:
			in, err := samples.Random(prog, 0)
			if err != nil {
				return nil, err
			}
			env.inputs, env.source = []map[string]*tensor.Tensor{in}, "random normal inputs (seed 0)"
		}
	}
	if err := env.observe(prog, sites, calibration); err != nil {
		return nil, err
	}
	return env, nil
}

// observe runs the original program on every calibration and measurement input once.
func (env *measureEnv) observe(prog *engine.Program, sites []*convSite, calibration []map[string]*tensor.Tensor) error {
	sameSets := len(calibration) > 0 && len(env.inputs) > 0 && &calibration[0] == &env.inputs[0]
	for _, in := range calibration {
		vals, err := prog.Run(in)
		if err != nil {
			return fmt.Errorf("running the model on calibration inputs: %w", err)
		}
		if err := accumulateCovariances(sites, vals); err != nil {
			return err
		}
		if sameSets {
			env.keepSample(sites, vals)
		}
	}
	if sameSets {
		return nil
	}
	for _, in := range env.inputs {
		vals, err := prog.Run(in)
		if err != nil {
			env.failure = fmt.Sprintf("cannot run the model to measure errors: %v", err)
			env.inputs = nil
			return nil
		}
		env.keepSample(sites, vals)
	}
	return nil
}

// keepSample keeps the graph outputs and each site's input and output of one run.
func (env *measureEnv) keepSample(sites []*convSite, vals map[string]*tensor.Tensor) {
	ref := map[string]*tensor.Tensor{}
	for _, name := range env.outputs {
		ref[name] = vals[name]
	}
	env.reference = append(env.reference, ref)
	for _, s := range sites {
		s.samples = append(s.samples, layerSample{in: vals[s.node.Input(0)], out: vals[s.node.Output(0)]})
	}
}

func accumulateCovariances(sites []*convSite, vals map[string]*tensor.Tensor) error {
	for _, s := range sites {
		x := vals[s.node.Input(0)]
		if x == nil || x.DType != tensor.Float {
			return fmt.Errorf("%v: its input was not computed as float32", s.node)
		}
		pixels := tensor.NumElements(x.Shape[2:])
		per := s.cin * pixels
		for img := 0; img < x.Shape[0]; img++ {
			if err := s.cov.AddActivation(x.F32[img*per:(img+1)*per], pixels); err != nil {
				return fmt.Errorf("%v: %w", s.node, err)
			}
		}
	}
	return nil
}

// calibrationInputs reads the CalibrationInputs setting (see the comment at the top of the file).
func calibrationInputs(spec string, prog *engine.Program) ([]map[string]*tensor.Tensor, string, error) {
	if spec == "random" {
		var out []map[string]*tensor.Tensor
		for i := 0; i < randomCalibrationSamples; i++ {
			in, err := samples.Random(prog, randomCalibrationSeed+int64(i))
			if err != nil {
				return nil, "", err
			}
			out = append(out, in)
		}
		return out, fmt.Sprintf("random normal inputs (%d, seeds from %d)", randomCalibrationSamples, randomCalibrationSeed), nil
	}
	sets, err := samples.ReadSets(spec, prog.Inputs(), prog.Outputs())
	if err != nil {
		return nil, "", fmt.Errorf("calibration inputs: %w", err)
	}
	for _, in := range sets {
		for _, name := range prog.Inputs() {
			info, _ := prog.Info(name)
			if t := in[name]; t == nil || !tensor.SameShape(t.Shape, info.Shape) || t.DType != info.DType {
				return nil, "", fmt.Errorf("calibration input %q must be %v%v", name, info.DType, info.Shape)
			}
		}
	}
	return sets, fmt.Sprintf("%s (%d samples)", spec, len(sets)), nil
}

// layerError measures a site factorised at rank r on its own: the largest |y_r - y| over the
// measurement inputs, relative to the largest |y|, where y is the original conv's output in the
// full model's run and y_r that of the two convs run by the engine on the same input.
func (env *measureEnv) layerError(s *convSite, r int) (float64, error) {
	if len(s.samples) == 0 {
		return 0, fmt.Errorf("no measurement inputs")
	}
	m, err := env.layerModel(s, r)
	if err != nil {
		return 0, err
	}
	prog, err := engine.Compile(m.Graph, engine.Options{Threads: env.ctx.Engine.Threads, MaxMemory: env.ctx.Engine.MaxMemory})
	if err != nil {
		return 0, err
	}
	worst, scale := 0.0, 0.0
	for _, sample := range s.samples {
		out, err := prog.Run(map[string]*tensor.Tensor{"x": sample.in})
		if err != nil {
			return 0, err
		}
		got := out["y"].F32
		for i, want := range sample.out.F32 {
			worst = max(worst, math.Abs(float64(got[i]-want)))
			scale = max(scale, math.Abs(float64(want)))
		}
	}
	if scale == 0 {
		return worst, nil
	}
	return worst / scale, nil
}

// layerModel is a model of the site's conv alone (input x, output y) factorised at rank r, built
// through the same rewrite as the real graph.
func (env *measureEnv) layerModel(s *convSite, r int) (*graph.Model, error) {
	inputs := []string{"x", "w"}
	consts := []graph.NamedTensor{{Name: "w", T: s.weight}}
	if b := s.node.Input(2); b != "" {
		bias, _ := env.ctx.Constant(b)
		if bias == nil {
			return nil, fmt.Errorf("the bias %q is not a constant", b)
		}
		inputs = append(inputs, "b")
		consts = append(consts, graph.NamedTensor{Name: "b", T: bias.T})
	}
	x := graph.TensorValueInfo("x", tensor.Float, s.inShape)
	m, err := graph.SingleNodeModel("bottleneck_layer", s.node, inputs, []string{"y"}, []*onnxpb.ValueInfoProto{x}, consts)
	if err != nil {
		return nil, err
	}
	reduce, expand := s.convWeights(r)
	if _, err := factoriseConv(m.Graph, m.Graph.Nodes[0], reduce, expand, s.strideReduced); err != nil {
		return nil, err
	}
	return m, nil
}

// modelError measures the whole model with the given layers factorised: the worst output's largest
// |got - want| relative to its largest |want| (compare's MaxRelError, as verify reports it), over the measurement inputs.
func (env *measureEnv) modelError(choices []rankChoice) (float64, error) {
	m, err := env.ctx.Model.Copy()
	if err != nil {
		return 0, err
	}
	// The copy's nodes are in the same order as the original's; find every target before the first
	// edit inserts a node and shifts the positions.
	index := map[*graph.Node]int{}
	for i, n := range env.ctx.Graph.Nodes {
		index[n] = i
	}
	targets := make([]*graph.Node, len(choices))
	for k, c := range choices {
		targets[k] = m.Graph.Nodes[index[c.site.node]]
	}
	for k, c := range choices {
		reduce, expand := c.site.convWeights(c.rank)
		if _, err := factoriseConv(m.Graph, targets[k], reduce, expand, c.site.strideReduced); err != nil {
			return 0, err
		}
	}
	prog, err := engine.Compile(m.Graph, env.ctx.Engine)
	if err != nil {
		return 0, fmt.Errorf("the factorised model does not compile: %w", err)
	}
	var got []map[string]*tensor.Tensor
	for _, in := range env.inputs {
		out, err := prog.Run(in)
		if err != nil {
			return 0, err
		}
		got = append(got, out)
	}
	worst := 0.0
	for _, rep := range compare.Outputs(env.outputs, got, env.reference, compare.Tolerances{}, false) {
		if rep.Problem != "" {
			return 0, fmt.Errorf("output %s: %s", rep.Name, rep.Problem)
		}
		worst = max(worst, rep.MaxRelError)
	}
	return worst, nil
}
