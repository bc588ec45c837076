package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fcconv/fcconv/batch"
	"github.com/fcconv/fcconv/rewrite/passes"
	"github.com/spf13/cobra"
)

// batchFlags are the flags of batch conversion (convert DIR... -o OUTDIR).
type batchFlags struct {
	from         string
	jobs         int
	report       string
	reportAppend bool
	skipExisting bool
	shard        string
	modelFlags   string
}

// autoInputs is the --inputs value that verifies each model with its own test_data_set_0.
const autoInputs = "auto"

func (b *batchFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&b.from, "from", "", "batch: read model paths (or folders) from FILE, one per line (- for stdin)")
	fl.IntVarP(&b.jobs, "jobs", "j", 0, fmt.Sprintf("batch: models converted at once (default %d here: half the cores)", batch.DefaultJobs()))
	fl.StringVar(&b.report, "report", "", "batch: write a JSON Lines report to FILE, one object per model (started afresh unless another batch is writing it)")
	fl.BoolVar(&b.reportAppend, "report-append", false, "batch: append to the --report file instead of starting it afresh")
	fl.BoolVar(&b.skipExisting, "skip-existing", false, "batch: leave models whose output exists, is not older than the model and has its test data")
	fl.StringVar(&b.shard, "shard", "", "batch: convert only slice K of N of the sorted model list (K/N, round-robin)")
	fl.StringVar(&b.modelFlags, "model-flags", "", "batch: per-model flags from FILE, lines of GLOB FLAGS... (e.g. silero*/model.onnx --shape input=1,512); # comments")
	if in := fl.Lookup("inputs"); in != nil {
		in.Usage += "; a batch verifies each model with its own test_data_set_0 when it has one unless --inputs or --input is given"
	}
}

// runBatch converts every model below the given folders (and in the --from list) into -o OUTDIR.
func runBatch(cmd *cobra.Command, f *convertFlags, args []string) error {
	opts, err := f.batchOptions()
	if err != nil {
		return err
	}
	jobs, err := f.batch.modelList(cmd, args, opts.OutDir)
	if err != nil {
		return err
	}
	report, err := openReport(f.batch.report, f.batch.reportAppend)
	if err != nil {
		return err
	}
	emit := &reportEmitter{report: report}
	if f.asJSON {
		emit.stdout = jsonLine(os.Stdout)
	}
	opts.Emit = emit.write

	progress := batch.NewProgress(os.Stderr, jobs, f.quiet)
	opts.Observer = progress
	summary := batch.Run(jobs, opts)
	progress.Close()

	if err := emit.close(); err != nil {
		return &exitError{code: exitBadInput, err: fmt.Errorf("writing the report: %v", err)}
	}
	if !f.quiet {
		summary.Write(summaryWriter(f.asJSON))
	}
	if summary.Bad() {
		return mismatch()
	}
	return nil
}

// batchOptions checks the flags and turns them into batch options.
func (f *convertFlags) batchOptions() (batch.Options, error) {
	if f.output == "" {
		return batch.Options{}, usageErr("batch conversion needs -o OUTDIR, the folder the converted models go to")
	}
	if st, err := os.Stat(f.output); err == nil && !st.IsDir() {
		return batch.Options{}, usageErr("-o %s is a file; batch conversion needs a folder", f.output)
	}
	if f.batch.jobs < 0 {
		return batch.Options{}, usageErr("-j must be a positive number of models, not %d", f.batch.jobs)
	}
	var perModel *modelFlags
	if f.batch.modelFlags != "" {
		var err error
		if perModel, err = loadModelFlags(f.batch.modelFlags, *f); err != nil {
			return batch.Options{}, err
		}
	}
	// A model's own test data verifies it unless the command line gives inputs for every model.
	auto := f.verify.inputsDir == "" || f.verify.inputsDir == autoInputs
	if f.verify.inputsDir == autoInputs {
		f.verify.inputsDir = "" // set per model
	}
	co, err := f.options()
	if err != nil {
		return batch.Options{}, err
	}
	// Checked once here: an unknown pass would otherwise fail every model with the same message.
	if _, err := passes.Lookup(co.Passes); err != nil {
		return batch.Options{}, usageErr("--passes: %v", err)
	}
	opts := batch.Options{OutDir: f.output, Convert: co, AutoInputs: auto, Jobs: f.batch.jobs, SkipExisting: f.batch.skipExisting}
	if perModel != nil {
		opts.ModelOptions = perModel.options
		opts.ModelFlagsFile = f.batch.modelFlags
	}
	return opts, nil
}

// modelList lists the models of this run: found below the folders and in the --from list, then this
// machine's shard.
func (b *batchFlags) modelList(cmd *cobra.Command, args []string, outDir string) ([]batch.Job, error) {
	shard := batch.Shard{}
	if b.shard != "" {
		var err error
		if shard, err = batch.ParseShard(b.shard); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	listed, err := b.readList(cmd)
	if err != nil {
		return nil, err
	}
	var roots, files []string
	for _, a := range args {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			roots = append(roots, a)
		} else {
			files = append(files, a)
		}
	}
	all, err := batch.Discover(roots, append(files, listed...), outDir)
	if errors.Is(err, batch.ErrNoModels) {
		return nil, usageErr("no .onnx models found in %v (outputs *.fcconv.onnx, hidden folders and the output folder are left out)", append(args, listed...))
	}
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return shard.Select(all), nil
}

// readList reads the --from list, from stdin for "-".
func (b *batchFlags) readList(cmd *cobra.Command) ([]string, error) {
	if b.from == "" {
		return nil, nil
	}
	var r io.Reader = cmd.InOrStdin()
	if b.from != "-" {
		f, err := os.Open(b.from)
		if err != nil {
			return nil, usageErr("--from: %v", err)
		}
		defer f.Close()
		r = f
	}
	paths, err := batch.ReadList(r)
	if err != nil {
		return nil, usageErr("--from %s: %v", b.from, err)
	}
	return paths, nil
}

func openReport(path string, appendOnly bool) (*batch.Report, error) {
	if path == "" {
		return nil, nil
	}
	r, err := batch.OpenReport(path, appendOnly)
	if err != nil {
		return nil, usageErr("--report: %v", err)
	}
	return r, nil
}

// reportEmitter writes each record as one JSON line to the report file and, with --json, stdout.
// Lines are written as models finish (in list order), so an interrupted batch leaves a valid report
// of what it did.
type reportEmitter struct {
	report *batch.Report
	stdout *json.Encoder
	err    error
}

func (e *reportEmitter) write(rec *batch.Record) {
	if e.report != nil && e.err == nil {
		e.err = e.report.Write(rec)
	}
	if e.stdout != nil {
		e.stdout.Encode(rec)
	}
}

func (e *reportEmitter) close() error {
	if e.report == nil {
		return e.err
	}
	if err := e.report.Close(); e.err == nil {
		e.err = err
	}
	return e.err
}

// summaryWriter keeps stdout pure JSON Lines under --json.
func summaryWriter(asJSON bool) io.Writer {
	if asJSON {
		return os.Stderr
	}
	return os.Stdout
}

// jsonLine is an encoder of one-line JSON that leaves <, > and & as they are (reasons and pass
// details say "Gemm 1024->64").
func jsonLine(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
