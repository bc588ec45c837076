package batch

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fcconv/fcconv/internal/units"
)

// progressMode is how progress is shown.
type progressMode int

const (
	// lineMode prints one line per finished model: for logs and pipes.
	lineMode progressMode = iota
	// barMode also redraws a bar on the last line: for a terminal.
	barMode
	// quietMode prints only the models that failed or were not equivalent.
	quietMode
)

// redrawEvery is how often the bar's clock and estimate are refreshed between events.
const redrawEvery = 500 * time.Millisecond

// Progress shows a batch's progress on w (stderr): on a terminal a bar with the count, the models in
// flight, the elapsed time and an estimate of the rest, above it a line per finished model; elsewhere
// only the lines. It is an Observer.
type Progress struct {
	mu         sync.Mutex
	w          io.Writer
	mode       progressMode
	total      int
	totalBytes int64
	done       int
	doneBytes  int64   // of finished models, skipped ones included
	fit        timeFit // of the finished models that were not skipped
	start      time.Time
	running    []Job
	stop       chan struct{}
	stopped    chan struct{}
}

// NewProgress starts showing progress for the jobs on w. Close it when the batch is done.
func NewProgress(w io.Writer, jobs []Job, quiet bool) *Progress {
	p := &Progress{w: w, mode: lineMode, total: len(jobs), start: time.Now()}
	for _, j := range jobs {
		p.totalBytes += j.Size
	}
	switch {
	case quiet:
		p.mode = quietMode
	case isTerminal(w):
		p.mode = barMode
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.tick()
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal) that can redraw a line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *Progress) tick() {
	t := time.NewTicker(redrawEvery)
	defer t.Stop()
	defer close(p.stopped)
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawBar()
			p.mu.Unlock()
		}
	}
}

// Started notes a model in flight.
func (p *Progress) Started(job Job) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = append(p.running, job)
	if p.mode == barMode {
		p.drawBar()
	}
}

// Finished prints the model's line and updates the bar.
func (p *Progress) Finished(job Job, rec *Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeRunning(job)
	p.done++
	p.doneBytes += job.Size
	if rec.Outcome != Skipped && rec.Result != nil {
		p.fit.add(job.Size, rec.Seconds.Total)
	}
	switch p.mode {
	case quietMode:
		if rec.Outcome.Bad() {
			fmt.Fprintf(p.w, "%s: %s: %s\n", rec.Path, rec.Outcome, firstLine(rec.Reason))
		}
	case lineMode:
		fmt.Fprintln(p.w, p.finishedLine(rec))
	case barMode:
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", cutToWidth(p.finishedLine(rec), terminalWidth(p.w)))
		p.drawBar()
	}
}

func (p *Progress) removeRunning(job Job) {
	for i, r := range p.running {
		if r.Rel == job.Rel {
			p.running = append(p.running[:i], p.running[i+1:]...)
			return
		}
	}
}

// finishedLine is e.g. "[ 7/18] converted       resnet18/model.onnx  MACs 1.81 G -> 1.81 G  3.21 s".
func (p *Progress) finishedLine(rec *Record) string {
	width := len(fmt.Sprint(p.total))
	line := fmt.Sprintf("[%*d/%d] %-14s %s", width, p.done, p.total, rec.Outcome, rec.Path)
	switch rec.Outcome {
	case Converted, Unchanged, WouldConvert:
		line += fmt.Sprintf("  MACs %s -> %s  %.2f s", units.Count(rec.MACsBefore), units.Count(rec.MACsAfter), rec.Seconds.Total)
	case Skipped:
	case Declined:
		pass, left, reason := declineBrief(rec.Rewrites)
		line += ": " + layersLeft(pass, left, left) + ": " + reason
	default:
		line += ": " + firstLine(rec.Reason)
	}
	return line
}

// drawBar redraws the last line: bar, count, time, estimate and the models in flight, cut to the
// terminal's width so that it never wraps (a wrapped line cannot be redrawn in place).
func (p *Progress) drawBar() {
	const barWidth = 24
	filled := 0
	if p.total > 0 {
		filled = barWidth * p.done / p.total
	}
	elapsed := time.Since(p.start)
	line := fmt.Sprintf("[%s%s] %d/%d  %s elapsed, %s left", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled),
		p.done, p.total, formatDuration(elapsed), p.estimate(elapsed))
	if len(p.running) > 0 {
		line += "  now: " + p.running[0].Rel
		if len(p.running) > 1 {
			line += fmt.Sprintf(" +%d", len(p.running)-1)
		}
	}
	if w := terminalWidth(p.w) - 1; len(line) > w && w > 0 {
		line = line[:w]
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
}

// estimate predicts the time left. Each remaining model's seconds come from a line fitted to the
// finished models' seconds against their size (a cost per model plus a cost per byte: zoo sizes span
// orders of magnitude, and neither the count nor the bytes alone predicts both a folder of tiny
// test models and one of ResNets), scaled by how wall time has related to conversion time so far,
// which accounts for -j.
func (p *Progress) estimate(elapsed time.Duration) string {
	f := &p.fit
	if f.n == 0 || f.sumY <= 0 {
		return "~?"
	}
	perModel, perByte := f.line()
	left := perModel*float64(p.total-p.done) + perByte*float64(p.totalBytes-p.doneBytes)
	return "~" + formatDuration(time.Duration(left*elapsed.Seconds()/f.sumY*float64(time.Second)))
}

// timeFit accumulates the least-squares fit of seconds (y) against model bytes (x).
type timeFit struct {
	n, sumX, sumY, sumXX, sumXY float64
}

func (f *timeFit) add(bytes int64, seconds float64) {
	x := float64(bytes)
	f.n++
	f.sumX += x
	f.sumY += seconds
	f.sumXX += x * x
	f.sumXY += x * seconds
}

// line returns the fitted seconds per model and per byte, neither negative; with one size seen so
// far it is the mean time per model.
func (f *timeFit) line() (perModel, perByte float64) {
	mean := f.sumY / f.n
	den := f.n*f.sumXX - f.sumX*f.sumX
	if den <= 0 {
		return mean, 0
	}
	perByte = (f.n*f.sumXY - f.sumX*f.sumY) / den
	perModel = (f.sumY - perByte*f.sumX) / f.n
	switch {
	case perByte < 0:
		return mean, 0
	case perModel < 0:
		return 0, f.sumY / f.sumX
	}
	return perModel, perByte
}

// Close stops the bar and clears its line, leaving the finished lines.
func (p *Progress) Close() {
	if p.mode != barMode {
		return
	}
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r\x1b[K")
}

// formatDuration prints 62s as 1m02s.
func formatDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

// columnsFromEnv is $COLUMNS when set, else 80.
func columnsFromEnv() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}
