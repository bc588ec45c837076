package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/fcconv/fcconv/batch"
	"github.com/fcconv/fcconv/convert"
)

func TestBatchesSharingAReportLoseNoLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fcconv and runs three batches")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the report is locked with POSIX record locks")
	}
	bin := buildFcconv(t)
	zoo, out := t.TempDir(), t.TempDir()
	const models = 40
	for i := 0; i < models; i++ {
		writeModel(t, filepath.Join(zoo, fmt.Sprintf("m%02d", i), "model.onnx"), "Relu") // nothing to convert: copied
	}
	report := filepath.Join(t.TempDir(), "report.jsonl")
	// This test process writes the report too, as a third batch would: the two batches started
	// meanwhile must append to it rather than start it afresh.
	held, err := batch.OpenReport(report, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Write(&batch.Record{Path: "held", Outcome: batch.Unchanged, Result: &convert.Result{}}); err != nil {
		t.Fatal(err)
	}
	var shards []*exec.Cmd
	for k := 1; k <= 2; k++ {
		cmd := exec.Command(bin, "convert", zoo, "-o", out, "-q", "--shard", fmt.Sprintf("%d/2", k), "--report", report)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, cmd)
	}
	for _, cmd := range shards {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
	}
	held.Close()
	recs := readReport(t, report) // fails on a broken line or a model twice
	if len(recs) != models+1 || recs["held"].Path == "" {
		t.Fatalf("the shared report has %d lines (held line there: %v), want %d", len(recs), recs["held"].Path != "", models+1)
	}
	// Alone, a batch starts the report afresh.
	if out, err := exec.Command(bin, "convert", zoo, "-o", t.TempDir(), "-q", "--shard", "1/2", "--report", report).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if recs := readReport(t, report); len(recs) != models/2 {
		t.Errorf("a batch alone left %d lines in its report, want %d", len(recs), models/2)
	}
	os.Remove(report)
}
