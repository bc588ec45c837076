package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/fcconv/fcconv/internal/units"

	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/rewrite/bottleneck"
	"github.com/fcconv/fcconv/rewrite/fctoconv"
	"github.com/fcconv/fcconv/rewrite/passes"
	"github.com/fcconv/fcconv/samples"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
	"github.com/spf13/cobra"
)

// verifyFlags are the flags shared by convert and verify: inputs and tolerances.
type verifyFlags struct {
	inputs    []string
	inputsDir string
	samples   int
	seed      int64
	atol      []string
	rtol      []string
}

func (f *verifyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.inputs, "input", nil, "an input's value, NAME=FILE (.npy or ONNX TensorProto .pb; repeatable)")
	cmd.Flags().StringVar(&f.inputsDir, "inputs", "", "a model-zoo test_data_set folder (input_N.pb) to verify with; auto: the model's own test_data_set_0 if present")
	cmd.Flags().IntVar(&f.samples, "samples", 1, "number of random input samples when no inputs are given")
	cmd.Flags().Int64Var(&f.seed, "seed", 0, "seed of the random inputs")
	cmd.Flags().StringArrayVar(&f.atol, "atol", nil, "absolute tolerance, or OUTPUT:value for one output (default 1e-6)")
	cmd.Flags().StringArrayVar(&f.rtol, "rtol", nil, "tolerance relative to each output's largest magnitude, or OUTPUT:value (default 1e-4)")
}

func (f *verifyFlags) tolerances() (verify.Tolerances, bool, error) {
	tols := verify.Tolerances{Default: verify.DefaultTolerance}
	for _, v := range f.atol {
		if err := verify.ParseTolerance(&tols, v, false); err != nil {
			return tols, false, usageErr("--atol: %v", err)
		}
	}
	for _, v := range f.rtol {
		if err := verify.ParseTolerance(&tols, v, true); err != nil {
			return tols, false, usageErr("--rtol: %v", err)
		}
	}
	return tols, len(f.atol)+len(f.rtol) > 0, nil
}

// inputValues reads the --input NAME=FILE flags.
func (f *verifyFlags) inputValues() (map[string]*tensor.Tensor, error) {
	in, err := samples.ReadInputSpecs(f.inputs)
	if err != nil {
		return nil, &exitError{code: exitBadInput, err: err}
	}
	return in, nil
}

type convertFlags struct {
	shapes       shapeFlags
	verify       verifyFlags
	output       string
	passes       string
	scope        string
	spatial      bool
	noVerify     bool
	asJSON       bool
	quiet        bool
	externalData bool
	dryRun       bool
	freeze       bool
	// bottleneck
	minChannels int
	rank        string
	rankRatio   float64
	rankEnergy  float64
	maxError    float64
	calibrate   string
	// batch
	batch batchFlags
}

func newConvertCommand() *cobra.Command {
	var f convertFlags
	cmd := &cobra.Command{
		Use:   "convert MODEL.onnx [-o OUT.onnx] | convert DIR... -o OUTDIR",
		Short: "Rewrite a model (fc-to-conv by default), verify it against the original, and write it",
		Long: `convert loads a model, runs the rewrite passes on a copy, runs the original and the copy on the
same inputs with fcconv's engine, and writes the copy only if every output agrees within tolerance.
Otherwise nothing is written and the report names the output that diverged and by how much.

The input is never overwritten; the default output is MODEL.fcconv.onnx beside it. Given folders (or
--from a list), every .onnx below them is converted into OUTDIR with the same layout.

Exit codes: 0 written (or nothing to convert), 1 not equivalent (nothing written), 2 bad input.`,
		Args: cobra.MinimumNArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.batch.isBatch(args) {
				return runBatch(cmd, &f, args)
			}
			if len(args) != 1 {
				return usageErr("convert takes one model file (or folders with -o OUTDIR); see fcconv convert --help")
			}
			opts, err := f.options()
			if err != nil {
				return err
			}
			return runConvert(args[0], opts, f.asJSON, f.quiet)
		},
	}
	f.register(cmd)
	f.batch.register(cmd)
	return cmd
}

// register defines convert's flags for one model on cmd. A batch's --model-flags lines are parsed
// with these same definitions (see modelFlags).
func (f *convertFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.shapes.register(cmd)
	f.verify.register(cmd)
	fl.StringVarP(&f.output, "output", "o", "", "output model (default MODEL.fcconv.onnx beside the input); a folder for batch conversion")
	fl.StringVar(&f.passes, "passes", "fc-to-conv", "comma-separated passes to run: "+strings.Join(passes.Names(), ", "))
	fl.StringVar(&f.scope, "scope", "heads", "fc-to-conv scope: heads (classifier heads) or all (every FC with constant weights)")
	fl.BoolVar(&f.spatial, "spatial", false, "make converted heads fully convolutional (no trailing flatten, symbolic H and W)")
	fl.BoolVar(&f.noVerify, "no-verify", false, "write without running the models (for ops the engine lacks)")
	fl.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print only errors")
	fl.BoolVar(&f.externalData, "external-data", false, "save weights in a side file OUT.onnx.<hash>.data, named after its content; it is in place before the model")
	fl.BoolVar(&f.dryRun, "dry-run", false, "check and report what would change, write nothing")
	fl.BoolVar(&f.freeze, "freeze-input-defaults", false, "treat initializers also listed as graph inputs (IR < 4) as constants, so their layers can be rewritten")
	fl.IntVar(&f.minChannels, "min-channels", 128, "bottleneck: smallest C_in considered")
	fl.StringVar(&f.rank, "rank", "exact", "bottleneck rank: exact (numerical rank, equivalent) or a number")
	fl.Float64Var(&f.rankRatio, "rank-ratio", 0, "bottleneck: rank as a share of the full rank (lossy)")
	fl.Float64Var(&f.rankEnergy, "rank-energy", 0, "bottleneck: keep this share of the squared singular values (lossy)")
	fl.Float64Var(&f.maxError, "max-error", 0, "bottleneck: smallest ranks whose measured output error stays within this (lossy)")
	fl.StringVar(&f.calibrate, "calibrate", "", "bottleneck: inputs to weight the factorisation by each layer's input statistics: a test_data_set folder, a folder of them, a comma list, or random")
}

func (f *convertFlags) options() (convert.Options, error) {
	var opts convert.Options
	eo, err := f.shapes.engineOptions()
	if err != nil {
		return opts, err
	}
	tols, given, err := f.verify.tolerances()
	if err != nil {
		return opts, err
	}
	inputs, err := f.verify.inputValues()
	if err != nil {
		return opts, err
	}
	if f.scope != "heads" && f.scope != "all" {
		return opts, usageErr("--scope must be heads or all, not %q", f.scope)
	}
	bo := bottleneck.Options{MinChannels: f.minChannels, RankRatio: f.rankRatio, RankEnergy: f.rankEnergy, MaxError: f.maxError, CalibrationInputs: f.calibrate}
	if f.rank != "exact" {
		n, err := strconv.Atoi(f.rank)
		if err != nil || n <= 0 {
			return opts, usageErr("--rank must be exact or a positive number, not %q", f.rank)
		}
		bo.Rank = n
	}
	opts = convert.Options{
		Output: f.output, Passes: f.passes, NoVerify: f.noVerify, Inputs: inputs, InputsDir: f.verify.inputsDir,
		Samples: f.verify.samples, Seed: f.verify.seed, Tolerances: tols, TolerancesGiven: given,
		ExternalData: f.externalData, DryRun: f.dryRun, FreezeInputDefaults: f.freeze,
		FCToConv: fctoconv.Options{Scope: f.scope, Spatial: f.spatial}, Bottleneck: bo, Engine: eo,
	}
	return opts, nil
}

func runConvert(path string, opts convert.Options, asJSON, quiet bool) error {
	res, err := convert.Convert(path, opts)
	if asJSON {
		if jerr := printJSON(res); jerr != nil {
			return jerr
		}
	} else if !quiet || res.Status == convert.NotEquivalent {
		printConvertReport(res)
	}
	if err != nil {
		return &exitError{code: exitBadInput, err: namingFile(err, path)}
	}
	if res.Status == convert.NotEquivalent {
		return mismatch()
	}
	return nil
}

func printConvertReport(res *convert.Result) {
	out := os.Stdout
	if len(res.AssumedDims) > 0 {
		fmt.Fprintf(out, "note: symbolic dims %s taken as 1 (bind them with --dim NAME=N)\n", strings.Join(res.AssumedDims, ", "))
	}
	if res.Rewrites != nil {
		for _, a := range res.Rewrites.Applied {
			fmt.Fprintf(out, "%s: %s (%s) -> %s\n    %s; MACs %s -> %s\n", a.Pass, strings.Join(a.Replaced, ", "), a.Op,
				strings.Join(a.NewNodes, ", "), a.Detail, units.Count(a.MACsBefore), units.Count(a.MACsAfter))
		}
		for _, d := range res.Rewrites.Declined {
			fmt.Fprintf(out, "%s: left %s (%s) alone: %s\n", d.Pass, d.Node, d.Op, d.Reason)
		}
	}
	if res.Verification != nil {
		printVerification(res.Verification)
	}
	if res.Spatial != nil {
		fmt.Fprintf(out, "fully convolutional: input %v gives output %v\n", res.Spatial.InputShape, res.Spatial.OutputShape)
	}
	switch res.Status {
	case convert.Converted:
		fmt.Fprintf(out, "wrote %s (MACs %s -> %s) in %.2f s\n", res.Output, units.Count(res.MACsBefore), units.Count(res.MACsAfter), res.Seconds.Total)
	case convert.Unchanged:
		fmt.Fprintf(out, "%s: nothing to convert; no file written\n", res.Model)
	case convert.NotEquivalent:
		w := res.Verification.Worst()
		fmt.Fprintf(out, "NOT EQUIVALENT: output %q differs by %.3g (%.3g of its largest magnitude) at %v: got %.6g, want %.6g; nothing written\n",
			w.Name, w.MaxAbsError, w.MaxRelError, w.WorstIndex, w.WorstGot, w.WorstWant)
	}
}

func printVerification(r *verify.Report) {
	kind := "equivalence"
	if r.Approximate {
		kind = "approximation (lossy rewrite: errors are expected and measured)"
	}
	fmt.Printf("verification (%s) on %d sample(s), inputs %s:\n", kind, r.Samples, r.InputSource)
	for _, o := range r.Outputs {
		if o.Problem != "" {
			fmt.Printf("  %-24s FAIL: %s\n", o.Name, o.Problem)
			continue
		}
		verdict := "ok"
		if !o.Pass {
			verdict = fmt.Sprintf("FAIL (%d of %d elements outside atol %.3g + rtol %.3g x %.3g)", o.Mismatched, o.Elements, o.Tolerance.Atol, o.Tolerance.Rtol, o.RefMaxAbs)
		}
		top1 := ""
		if o.Top1Agreement != nil {
			top1 = fmt.Sprintf(" top-1 %.0f%%", 100**o.Top1Agreement)
		}
		fmt.Printf("  %-24s %v max abs %.3g, max rel %.3g, cosine %.7f%s: %s\n", o.Name, o.Shape, o.MaxAbsError, o.MaxRelError, o.Cosine, top1, verdict)
	}
}

// batchFlags are defined in batch.go; isBatch tells a batch request from a single model.
func (b *batchFlags) isBatch(args []string) bool {
	if b.from != "" {
		return true
	}
	for _, a := range args {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}
