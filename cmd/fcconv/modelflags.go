package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/fcconv/fcconv/batch"
	"github.com/fcconv/fcconv/convert"
	"github.com/fcconv/fcconv/rewrite/passes"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// perModelFlags are the convert flags a --model-flags line may give: those that decide how one
// model is rewritten, verified and saved. The others (-o, --json, -q, --dry-run and the batch
// flags) are the whole batch's.
var perModelFlags = []string{
	"shape", "dim", "input", "inputs", "samples", "seed", "atol", "rtol",
	"passes", "scope", "spatial", "no-verify", "freeze-input-defaults", "external-data",
	"min-channels", "rank", "rank-ratio", "rank-energy", "max-error", "calibrate",
}

// modelFlags are the lines of a --model-flags file over the command line's flags.
type modelFlags struct {
	file  string
	lines []batch.FlagLine
	// base is the command line's flags as parsed, before any batch default replaced a value.
	base convertFlags
}

// loadModelFlags reads a --model-flags file and checks every line on its own, so that a mistake is
// a usage error naming its line before any model is converted.
func loadModelFlags(file string, base convertFlags) (*modelFlags, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, usageErr("--model-flags: %v", err)
	}
	defer f.Close()
	lines, err := batch.ReadModelFlags(f)
	if err != nil {
		return nil, usageErr("--model-flags %s: %v", file, err)
	}
	m := &modelFlags{file: file, lines: lines, base: base}
	for _, l := range lines {
		if _, err := m.optionsOf([]batch.FlagLine{l}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// options are the convert options of the model at rel (relative to its batch folder): the command
// line's, with the flags of every line whose glob matches, in file order, parsed over them.
func (m *modelFlags) options(rel string) (convert.Options, error) {
	var matched []batch.FlagLine
	for _, l := range m.lines {
		if batch.MatchGlob(l.Glob, rel) {
			matched = append(matched, l)
		}
	}
	return m.optionsOf(matched)
}

// optionsOf parses the lines' flags with convert's own flag definitions, over a copy of the command
// line's values. A flag a line gives replaces the command line's value; across lines a later value
// replaces an earlier one, and repeatable flags (--shape, --dim, --input, --atol, --rtol) add up.
func (m *modelFlags) optionsOf(lines []batch.FlagLine) (convert.Options, error) {
	var f convertFlags
	cmd := &cobra.Command{}
	f.register(cmd)
	f.batch.register(cmd) // known, so that a line giving one is told it belongs on the command line
	f = m.base            // the values in place: the flag definitions keep pointing at f's fields
	fs := cmd.Flags()
	for _, l := range lines {
		if err := fs.Parse(l.Args); err != nil {
			return convert.Options{}, m.lineErr(l, "%v%s", err, m.flagList())
		}
		if extra := fs.Args(); len(extra) > 0 {
			return convert.Options{}, m.lineErr(l, "%q is not a flag (a line is GLOB FLAGS...)", extra[0])
		}
		var batchLevel []string
		fs.Visit(func(fl *pflag.Flag) {
			if !slices.Contains(perModelFlags, fl.Name) {
				batchLevel = append(batchLevel, "--"+fl.Name)
			}
		})
		if len(batchLevel) > 0 {
			return convert.Options{}, m.lineErr(l, "%s applies to the whole batch; give it on the command line%s", strings.Join(batchLevel, ", "), m.flagList())
		}
	}
	if f.verify.inputsDir == autoInputs {
		f.verify.inputsDir = "" // the batch's default: the model's own test data
	}
	co, err := f.options()
	if err == nil && len(lines) > 0 {
		if _, perr := passes.Lookup(co.Passes); perr != nil {
			err = perr
		}
	}
	if err != nil && len(lines) > 0 {
		return co, m.lineErr(lines[len(lines)-1], "%v", err)
	}
	return co, err
}

func (m *modelFlags) lineErr(l batch.FlagLine, format string, args ...any) error {
	return usageErr("--model-flags %s:%d: %s", m.file, l.Line, fmt.Sprintf(format, args...))
}

func (m *modelFlags) flagList() string {
	return " (a line takes convert's per-model flags: --" + strings.Join(perModelFlags, ", --") + ")"
}
