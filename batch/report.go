package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Report is the JSON Lines report of a batch (--report FILE): one line per model. Several batch
// processes may write the same file at once (shards of one zoo on one machine): each line is
// appended with a single write while holding the file's line lock, so lines never interleave and
// none is lost.
//
// A run starts the file afresh, unless another batch process is writing it at that moment (it
// then appends, so that process's lines are kept) or appendOnly is set (--report-append).
type Report struct {
	file *os.File
	lock reportLock
}

// OpenReport opens (or creates) the report file.
func OpenReport(path string, appendOnly bool) (*Report, error) {
	// Read access too: a shared record lock needs a file open for reading.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r := &Report{file: f, lock: reportLock{f: f}}
	if err := r.lock.join(!appendOnly); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return r, nil
}

// Write appends one record as a line.
func (r *Report) Write(rec *Record) error {
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false) // reasons and pass details say "Gemm 1024->64"
	if err := enc.Encode(rec); err != nil {
		return err
	}
	unlock, err := r.lock.line()
	if err != nil {
		return err
	}
	defer unlock()
	_, err = r.file.Write(line.Bytes())
	return err
}

// Close closes the file, which releases its locks.
func (r *Report) Close() error {
	return r.file.Close()
}
