// Package batch converts many models at once: `fcconv convert DIR... -o OUTDIR`.
//
// Discover lists the models below the given folders (sorted, so that Shard slices agree across
// machines), and Run converts them with a pool of workers, each one model at a time through
// convert.Convert, so at most Options.Jobs models are in memory. A model that fails (corrupt file,
// unsupported op, not equivalent, even a panic) is recorded and the others go on. Results reach the
// caller twice: in completion order through Observer (for progress) and in list order through
// Options.Emit (for a JSON Lines report that is the same whatever -j).
package batch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fcconv/fcconv/convert"
)

// Outcome is what happened to one model.
type Outcome string

// The outcomes.
const (
	Converted     Outcome = "converted"      // rewritten, verified (unless --no-verify) and written
	Unchanged     Outcome = "unchanged"      // nothing to convert; the original is copied
	Declined      Outcome = "declined"       // candidates present but every one declined (Reason says why); copied
	WouldConvert  Outcome = "would-convert"  // --dry-run: a rewrite applies; nothing written
	NotEquivalent Outcome = "not-equivalent" // the rewrite changed the outputs; nothing written
	Failed        Outcome = "failed"         // bad input, unsupported op, I/O error or a bug; nothing written
	Skipped       Outcome = "skipped"        // --skip-existing: the output is already there, up to date, with its test data
)

// Outcomes lists every outcome in the order summaries show them.
var Outcomes = []Outcome{Converted, Unchanged, Declined, WouldConvert, NotEquivalent, Failed, Skipped}

// Bad reports whether the outcome makes the batch exit with code 1.
func (o Outcome) Bad() bool { return o == Failed || o == NotEquivalent }

// Record is one model's line of the JSON Lines report: the fields of `convert --json` plus the
// model's path relative to its folder, the outcome, and why when it is not plain.
type Record struct {
	Path    string  `json:"path"`
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason,omitempty"`
	*convert.Result
}

// ConvertFunc converts one model; convert.Convert is the real one.
type ConvertFunc func(path string, opts convert.Options) (*convert.Result, error)

// Options control a batch.
type Options struct {
	// OutDir receives the outputs, laid out as the models are below their folders.
	OutDir string
	// Convert is applied to every model; Output (and InputsDir with AutoInputs) are set per model.
	Convert convert.Options
	// AutoInputs verifies each model with its own test_data_set_0 folder when it has one, and with
	// random inputs otherwise, unless the model's options give inputs (the CLI's default).
	AutoInputs bool
	// ModelOptions, when set, gives a model's own convert options (--model-flags) by its Rel path;
	// they replace Convert for that model. An error fails that model alone.
	ModelOptions func(rel string) (convert.Options, error)
	// ModelFlagsFile names the --model-flags file in advice on a failure (may be empty).
	ModelFlagsFile string
	// Jobs is how many models are converted at once (0: DefaultJobs()).
	Jobs int
	// SkipExisting leaves models whose output exists, is not older than the model and has the
	// model's test data beside it.
	SkipExisting bool
	// Observer hears of each model starting and finishing, in completion order (may be nil).
	Observer Observer
	// Emit receives each record in list order as soon as every earlier model is done (may be nil).
	Emit func(*Record)
	// ConvertFunc replaces convert.Convert (for tests).
	ConvertFunc ConvertFunc
}

// Observer follows a batch. Its methods are called from one goroutine, never at the same time.
type Observer interface {
	Started(job Job)
	Finished(job Job, rec *Record)
}

// DefaultJobs is the -j used when none is given: half the cores, at least 1. Each model keeps at
// least two engine threads (see engineThreads), and a second model's loading, rewriting and saving
// (mostly one core) overlaps the first one's verification (all cores). On two cores that is one
// model at a time: converting the 18-model shared zoo there, -j 2 (one engine thread per model) was
// slower than -j 1 in 7 of 8 alternating runs, for the same CPU time and 15% more memory.
func DefaultJobs() int {
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// engineThreads splits the cores among the models running at once, so j models times the
// engine's threads never oversubscribe the machine.
func engineThreads(jobs int) int {
	return max(1, runtime.GOMAXPROCS(0)/jobs)
}

// Run converts the jobs and returns the summary, with the records in list order.
func Run(jobs []Job, opts Options) *Summary {
	if opts.Jobs <= 0 {
		opts.Jobs = DefaultJobs()
	}
	if opts.ConvertFunc == nil {
		opts.ConvertFunc = convert.Convert
	}
	workers := min(opts.Jobs, max(len(jobs), 1))
	if workers > 1 {
		opts.Convert.Engine.Threads = engineThreads(workers)
	}
	start := time.Now()
	records := runPool(jobs, opts, workers)
	return newSummary(records, time.Since(start), opts.Jobs)
}

// event is a worker's news: a model started (rec nil) or finished.
type event struct {
	index int
	rec   *Record
}

// runPool feeds job indices to a fixed set of workers and collects their events on this goroutine,
// which alone calls the observer and Emit.
func runPool(jobs []Job, opts Options, workers int) []*Record {
	indices := make(chan int)
	events := make(chan event)
	for w := 0; w < workers; w++ {
		go func() {
			for i := range indices {
				events <- event{index: i}
				events <- event{index: i, rec: processJob(jobs[i], opts)}
			}
		}()
	}
	go func() {
		for i := range jobs {
			indices <- i
		}
		close(indices)
	}()
	records := make([]*Record, len(jobs))
	emitted := 0
	for finished := 0; finished < len(jobs); {
		ev := <-events
		job := jobs[ev.index]
		if ev.rec == nil {
			if opts.Observer != nil {
				opts.Observer.Started(job)
			}
			continue
		}
		finished++
		records[ev.index] = ev.rec
		if opts.Observer != nil {
			opts.Observer.Finished(job, ev.rec)
		}
		for ; emitted < len(jobs) && records[emitted] != nil; emitted++ {
			if opts.Emit != nil {
				opts.Emit(records[emitted])
			}
		}
	}
	return records
}

// processJob converts one model and copies what goes along with it.
func processJob(job Job, opts Options) (rec *Record) {
	defer recoverJob(job, &rec)
	out := job.OutputPath(opts.OutDir)
	if opts.SkipExisting && upToDate(job.Source, out) {
		removeStaleTemps(out)
		return &Record{Path: job.Rel, Outcome: Skipped, Reason: "the output exists, is not older than the model and has its test data",
			Result: &convert.Result{Model: job.Source, Output: out, Status: convert.Status(Skipped)}}
	}
	co := opts.Convert
	if opts.ModelOptions != nil {
		own, err := opts.ModelOptions(job.Rel)
		if err != nil {
			return failedRecord(job, err)
		}
		own.Engine.Threads, own.DryRun = co.Engine.Threads, co.DryRun
		co = own
	}
	co.Output = out
	if opts.AutoInputs && co.InputsDir == "" && len(co.Inputs) == 0 {
		co.InputsDir = ownTestData(job.Source) // convert binds the input shapes from it
	}
	dryRun := co.DryRun
	if !dryRun {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return failedRecord(job, err)
		}
		// The test data goes in before the model: a model in the output folder means its test data
		// is complete, which is what --skip-existing relies on.
		co.BeforeCommit = func() error { return copyTestData(job.Source, out) }
	}
	res := safeConvert(opts.ConvertFunc, job.Source, co)
	rec = &Record{Path: job.Rel, Result: res}
	rec.Outcome, rec.Reason = classify(res, dryRun)
	if rec.Outcome == Failed {
		rec.Reason += modelFlagsAdvice(job.Rel, res, co.InputsDir != "", opts.ModelFlagsFile)
	}
	if !dryRun {
		writeAlongside(job, out, rec)
	}
	return rec
}

// writeAlongside copies an unchanged model into the output folder, with its external data and
// test data (a converted model's test data was copied just before the model was renamed into
// place). A copy that fails turns the model into a failure; the model, copied last, is then not
// written, so --skip-existing converts it again next time.
func writeAlongside(job Job, out string, rec *Record) {
	if rec.Outcome != Unchanged && rec.Outcome != Declined {
		return
	}
	_, statErr := os.Lstat(out) // a converted model's Save reports this itself, at its rename
	if err := copyUnchanged(job.Source, out); err != nil {
		rec.Outcome, rec.Reason = Failed, fmt.Sprintf("copying to the output folder: %v", err)
		rec.Status, rec.Error, rec.Output = convert.Failed, rec.Reason, ""
		return
	}
	rec.Output, rec.Replaced = out, statErr == nil
}

// safeConvert runs one conversion and makes sure a result comes back with the error in it.
func safeConvert(conv ConvertFunc, path string, opts convert.Options) *convert.Result {
	res, err := conv(path, opts)
	if res == nil {
		res = &convert.Result{Model: path, Status: convert.Failed}
	}
	if err != nil && res.Error == "" {
		res.Status, res.Error = convert.Failed, err.Error()
	}
	return res
}

// recoverJob turns a panic while processing a job into a failure of that model alone: one model
// hitting a bug must not take the rest of the zoo down with it. The engine's parallel loops
// (internal/workers) raise a panic of any of their goroutines again in the caller's, so it
// arrives here too.
func recoverJob(job Job, rec **Record) {
	r := recover()
	if r == nil {
		return
	}
	msg := fmt.Sprintf("internal error (a bug in fcconv; please report it with the model): %v", r)
	if os.Getenv("FCCONV_DEBUG") != "" {
		msg += "\n" + string(debug.Stack())
	}
	*rec = failedRecord(job, errors.New(msg))
}

// classify turns convert's status into the batch outcome and a one-line reason.
func classify(res *convert.Result, dryRun bool) (Outcome, string) {
	switch res.Status {
	case convert.Converted:
		return Converted, ""
	case convert.NotEquivalent:
		return NotEquivalent, notEquivalentReason(res)
	case convert.Unchanged:
		if res.Rewrites != nil && len(res.Rewrites.Applied) > 0 && dryRun {
			return WouldConvert, ""
		}
		if res.Rewrites != nil && len(res.Rewrites.Declined) > 0 {
			return Declined, declinedReason(res)
		}
		return Unchanged, "nothing to convert"
	}
	if res.Error == "" {
		return Failed, "failed without a message"
	}
	return Failed, res.Error
}

func notEquivalentReason(res *convert.Result) string {
	if res.Verification == nil || res.Verification.Worst() == nil {
		return "the rewritten model's outputs differ from the original's"
	}
	w := res.Verification.Worst()
	if w.Problem != "" {
		return fmt.Sprintf("output %q: %s", w.Name, w.Problem)
	}
	return fmt.Sprintf("output %q differs by %.3g (%.3g of its largest magnitude)", w.Name, w.MaxAbsError, w.MaxRelError)
}

// declinedReason says why each candidate was left alone (the first few; the report has them all).
func declinedReason(res *convert.Result) string {
	const shown = 3
	var parts []string
	for i, d := range res.Rewrites.Declined {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(res.Rewrites.Declined)-shown))
			break
		}
		parts = append(parts, fmt.Sprintf("%s left %s (%s) alone: %s", d.Pass, d.Node, d.Op, d.Reason))
	}
	return strings.Join(parts, "; ")
}

func failedRecord(job Job, err error) *Record {
	return &Record{Path: job.Rel, Outcome: Failed, Reason: err.Error(),
		Result: &convert.Result{Model: job.Source, Status: convert.Failed, Error: err.Error()}}
}

// upToDate reports whether out exists, is not older than src, and has src's test data beside it.
func upToDate(src, out string) bool {
	so, err := os.Stat(out)
	if err != nil || !so.Mode().IsRegular() {
		return false
	}
	ss, err := os.Stat(src)
	return err == nil && !so.ModTime().Before(ss.ModTime()) && testDataComplete(src, out)
}

// ownTestData is the model's test_data_set_0 folder, or "" (random inputs) when it has none.
func ownTestData(model string) string {
	dir := filepath.Join(filepath.Dir(model), testDataPrefix+"0")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}
