package engine

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
)

// Omitted outputs. ONNX lets a node leave an output out by naming it "" (a MaxPool without its
// values but with its indices) or by ending its output list early (a DynamicQuantizeLinear listing
// only y), and a model may even give a node no output at all. Kernels write every output their
// builder declared, so the engine gives each omitted one a scratch buffer that nothing reads, and
// drops a node with no output: nothing could observe what it computes.

// hasNoOutputs reports whether no output of the node is used.
func hasNoOutputs(n *graph.Node) bool { return countPresent(n.Outputs()) == 0 }

// checkOutputIndexes refuses a node whose outputs the builder did not declare: every output the
// node names must have an Info at its index.
func checkOutputIndexes(n *graph.Node, b *Build) error {
	for i, name := range n.Outputs() {
		if name != "" && i >= len(b.Outputs) {
			return fmt.Errorf("%v: output %d (%q) is not an output %s has", n, i, name, n.OpType())
		}
	}
	return nil
}

// outputCount is the number of outputs the node's kernel sees: those the node lists and those
// its builder declared, whichever are more (an output missing from the end of the node's list is
// omitted like one named "").
func outputCount(n *graph.Node, b *Build) int { return max(len(n.Outputs()), len(b.Outputs)) }

// scratchName is the slot name of an omitted output: a NUL byte keeps it apart from any name a
// model can give a value.
func scratchName(n *graph.Node, i int) string {
	return fmt.Sprintf("\x00omitted output %d of %p", i, n)
}
