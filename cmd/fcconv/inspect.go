package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/fcconv/fcconv/internal/units"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/inspect"
	"github.com/spf13/cobra"
)

func newInspectCommand() *cobra.Command {
	var (
		shapes  shapeFlags
		asJSON  bool
		scope   string
		perNode bool
	)
	cmd := &cobra.Command{
		Use:   "inspect MODEL.onnx",
		Short: "Summarise a model: inputs, ops, parameters, MACs, FC layers and whether they convert",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eo, err := shapes.engineOptions()
			if err != nil {
				return err
			}
			m, err := graph.Load(args[0])
			if err != nil {
				return err
			}
			s, err := inspect.Model(m, eo, scope)
			if err != nil {
				return namingFile(err, args[0])
			}
			if asJSON {
				return printJSON(s)
			}
			printSummary(s, perNode)
			return nil
		},
	}
	shapes.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	cmd.Flags().StringVar(&scope, "scope", "heads", "fc-to-conv scope for the FC verdicts: heads or all")
	cmd.Flags().BoolVar(&perNode, "nodes", false, "list the MACs of every compute node")
	return cmd
}

func printSummary(s *inspect.Summary, perNode bool) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "model\t%s\n", s.Path)
	fmt.Fprintf(w, "ir version\t%d\n", s.IRVersion)
	fmt.Fprintf(w, "opsets\t%s\n", formatOpsets(s.Opsets))
	fmt.Fprintf(w, "producer\t%s %s\n", s.Producer, s.ProducerVersion)
	for _, io := range s.Inputs {
		fmt.Fprintf(w, "input\t%s %s[%s]%s\n", io.Name, io.DType, strings.Join(io.Declared, ","), inferred(io))
	}
	for _, io := range s.Outputs {
		fmt.Fprintf(w, "output\t%s %s[%s]%s\n", io.Name, io.DType, strings.Join(io.Declared, ","), inferred(io))
	}
	fmt.Fprintf(w, "nodes\t%d (%s)\n", s.Nodes, formatHistogram(s.OpHistogram))
	fmt.Fprintf(w, "parameters\t%s (%s bytes)\n", units.Count(s.Parameters), units.Count(s.ParameterBytes))
	if len(s.AssumedDims) > 0 {
		fmt.Fprintf(w, "assumed\tsymbolic dims %s = 1 (bind them with --dim NAME=N)\n", strings.Join(s.AssumedDims, ", "))
	}
	if s.ShapeError != "" {
		fmt.Fprintf(w, "shapes\tnot inferred: %s\n", s.ShapeError)
	} else {
		fmt.Fprintf(w, "MACs\t%s\n", units.Count(s.MACs))
		for _, op := range s.TopOps() {
			fmt.Fprintf(w, "  %s\t%s (%.1f%%)\n", op, units.Count(s.MACsByOp[op]), 100*float64(s.MACsByOp[op])/float64(max(s.MACs, 1)))
		}
	}
	w.Flush()
	printFCs(s)
	printConvs(s)
	if perNode {
		fmt.Println("\nMACs per node:")
		for _, n := range s.NodeMACs {
			fmt.Printf("  %-40s %-14s %s\n", n.Node, n.Op, units.Count(n.MACs))
		}
	}
}

func inferred(io inspect.IO) string {
	if io.Shape == nil {
		return ""
	}
	return fmt.Sprintf(" -> %v", io.Shape)
}

func printFCs(s *inspect.Summary) {
	if len(s.FCLayers) == 0 {
		fmt.Println("\nfully-connected layers: none")
		return
	}
	fmt.Printf("\nfully-connected layers: %d\n", len(s.FCLayers))
	for _, fc := range s.FCLayers {
		verdict := "converts: " + fc.Becomes
		if !fc.Convertible {
			verdict = "left alone: " + fc.Reason
		}
		fmt.Printf("  %s %s input %v weight %v\n      %s\n", fc.Op, fc.Node, fc.InputShape, fc.WeightShape, verdict)
	}
}

func printConvs(s *inspect.Summary) {
	fmt.Printf("\nconvolutions: %d\n", len(s.Convs))
	if len(s.Convs) == 0 {
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  node\tC_in\tC_out\tkernel\tgroup\tMACs")
	for _, c := range s.Convs {
		fmt.Fprintf(w, "  %s\t%d\t%d\t%s\t%d\t%s\n", c.Node, c.CIn, c.COut, joinInts(c.Kernel, "x"), c.Group, units.Count(c.MACs))
	}
	w.Flush()
}

func formatOpsets(opsets map[string]int64) string {
	var parts []string
	for d, v := range opsets {
		parts = append(parts, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func formatHistogram(h map[string]int) string {
	ops := make([]string, 0, len(h))
	for op := range h {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if h[ops[i]] != h[ops[j]] {
			return h[ops[i]] > h[ops[j]]
		}
		return ops[i] < ops[j]
	})
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s %d", op, h[op])
	}
	return strings.Join(parts, ", ")
}

func joinInts(v []int, sep string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, sep)
}
