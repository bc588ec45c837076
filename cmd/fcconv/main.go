// Command fcconv rewrites ONNX models (fully-connected layers into convolutions, low-rank
// bottlenecks) and proves each rewrite right by running both models before writing anything.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// Exit codes, the same for every command.
const (
	exitOK       = 0
	exitMismatch = 1 // models not equivalent / some model in a batch failed
	exitBadInput = 2 // bad input or usage
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// mismatch is returned by a command whose work succeeded but whose verdict is negative; the command
// already printed its report.
func mismatch() error { return &exitError{code: exitMismatch, err: errors.New("")} }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "fcconv: internal error: %v\n(this is a bug in fcconv; please report it with the model and command)\n", r)
			if os.Getenv("FCCONV_DEBUG") != "" {
				os.Stderr.Write(debug.Stack())
			}
			code = exitBadInput
		}
	}()
	if path := os.Getenv("FCCONV_CPUPROFILE"); path != "" {
		// For developers: a CPU profile of the whole command.
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "fcconv:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "fcconv:", err)
	return exitBadInput
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "fcconv",
		Short: "Rewrite ONNX models for convolution-only accelerators, and prove every rewrite right",
		Long: `fcconv rewrites ONNX models (fully-connected layers into equivalent convolutions, low-rank
bottlenecks in front of wide convolutions), runs the original and the rewrite on the same inputs with
its built-in engine, and writes the result only if the outputs agree.

Exit codes: 0 success, 1 not equivalent (nothing written), 2 bad input or usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInspectCommand(), newConvertCommand(), newVerifyCommand(), newVersionCommand())
	return root
}
