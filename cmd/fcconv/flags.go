package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/samples"
	"github.com/spf13/cobra"
)

// shapeFlags are the flags that bind input shapes: --dim NAME=N and --shape INPUT=d1,d2,...
type shapeFlags struct {
	dims      []string
	shapes    []string
	maxMemory string
}

func (f *shapeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.dims, "dim", nil, "bind a symbolic dim, NAME=N (repeatable); e.g. --dim batch=1")
	cmd.Flags().StringArrayVar(&f.shapes, "shape", nil, "set an input's shape, INPUT=d1,d2,... (repeatable)")
	cmd.Flags().StringVar(&f.maxMemory, "max-memory", "", fmt.Sprintf("memory budget of the engine per model, e.g. 8GiB: a model whose tensors need more is refused before anything is allocated (default half the machine's memory, here %s)", engine.FormatBytes(engine.DefaultMaxMemory())))
}

// engineOptions parses the flags into engine options.
func (f *shapeFlags) engineOptions() (engine.Options, error) {
	eo, err := samples.Bindings(f.dims, f.shapes)
	if err != nil {
		return eo, &exitError{code: exitBadInput, err: err}
	}
	if f.maxMemory != "" {
		budget, err := engine.ParseBytes(f.maxMemory)
		if err != nil {
			return eo, usageErr("--max-memory: %v", err)
		}
		eo.MaxMemory = budget
	}
	return eo, nil
}

func usageErr(format string, args ...any) error {
	return &exitError{code: exitBadInput, err: fmt.Errorf(format, args...)}
}

// printJSON writes v as indented JSON on stdout.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
