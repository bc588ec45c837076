package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/samples"
	"github.com/fcconv/fcconv/tensor"
	"github.com/fcconv/fcconv/verify"
	"github.com/spf13/cobra"
)

func newVerifyCommand() *cobra.Command {
	var (
		shapes shapeFlags
		vf     verifyFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "verify MODEL.onnx --inputs DIR | verify A.onnx B.onnx",
		Short: "Check a model against reference outputs, or two models against each other",
		Long: `With one model and --inputs DIR (a model-zoo test_data_set folder), verify runs the model on
input_N.pb and compares with output_N.pb. With two models, it runs both on the same inputs (given
with --input/--inputs, or random) and compares every output of A with B's output of the same name.

Exit codes: 0 equivalent, 1 not equivalent, 2 bad input.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			eo, err := shapes.engineOptions()
			if err != nil {
				return err
			}
			tols, _, err := vf.tolerances()
			if err != nil {
				return err
			}
			rep, err := runVerify(args, eo, tols, &vf)
			if err != nil {
				return &exitError{code: exitBadInput, err: namingFile(err, args...)}
			}
			if asJSON {
				if err := printJSON(rep); err != nil {
					return err
				}
			} else {
				printVerification(rep)
			}
			if !rep.Equivalent {
				if !asJSON {
					if w := rep.Worst(); w != nil {
						fmt.Printf("NOT EQUIVALENT: output %q differs by %.3g (%.3g of its largest magnitude) at %v: got %.6g, want %.6g\n",
							w.Name, w.MaxAbsError, w.MaxRelError, w.WorstIndex, w.WorstGot, w.WorstWant)
					}
				}
				return mismatch()
			}
			if !asJSON {
				fmt.Println("equivalent")
			}
			return nil
		},
	}
	shapes.register(cmd)
	vf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func runVerify(args []string, eo engine.Options, tols verify.Tolerances, vf *verifyFlags) (*verify.Report, error) {
	a, err := graph.Load(args[0])
	if err != nil {
		return nil, err
	}
	opts := verify.Options{Tolerances: tols, Samples: vf.samples, Seed: vf.seed, Engine: eo}
	explicit, err := vf.inputValues()
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		if vf.inputsDir == "" {
			return nil, usageErr("verify with one model needs --inputs DIR (a test_data_set folder with input_N.pb and output_N.pb)")
		}
		in, want, err := samples.ReadTestDataSet(vf.inputsDir, a.Graph.InputNames(), a.Graph.OutputNames())
		if err != nil {
			return nil, err
		}
		if len(want) == 0 {
			return nil, fmt.Errorf("%s holds no output_N.pb to compare with", vf.inputsDir)
		}
		opts.Engine.InputShapes = samples.BindShapes(eo.InputShapes, in)
		return verify.AgainstReference(a, []map[string]*tensor.Tensor{in}, []map[string]*tensor.Tensor{want}, opts)
	}
	b, err := graph.Load(args[1])
	if err != nil {
		return nil, err
	}
	if vf.inputsDir != "" {
		in, _, err := samples.ReadTestDataSet(vf.inputsDir, a.Graph.InputNames(), a.Graph.OutputNames())
		if err != nil {
			return nil, err
		}
		for k, v := range explicit {
			in[k] = v
		}
		explicit = in
	}
	if len(explicit) > 0 {
		opts.Inputs = []map[string]*tensor.Tensor{explicit}
		opts.Engine.InputShapes = samples.BindShapes(eo.InputShapes, explicit)
	}
	if assumed := engine.BindDefaultDims(a.Graph, &opts.Engine, 1); len(assumed) > 0 {
		fmt.Fprintf(os.Stderr, "note: symbolic dims %s taken as 1 (bind them with --dim NAME=N)\n", strings.Join(assumed, ", "))
	}
	return verify.Models(a, b, opts)
}
