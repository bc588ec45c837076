// This file is the op interface: what compile time knows of a value (Info), the Builder each op
// registers, the Build it returns (inferred outputs, and the kernel or the Prepare step that makes
// it) and the Node view builders read.

package engine

import (
	"fmt"
	"sort"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// Info is what compile time knows of a value: its element type and concrete shape, and its data when
// it is a constant (an initializer, a Constant node, or folded from constants, e.g. Shape ->
// Gather -> Concat chains that compute a Reshape's target shape).
type Info struct {
	DType tensor.DType
	Shape []int
	// Const is the value when known at compile time. Never modify it.
	Const *tensor.Tensor
	// Absent marks an omitted optional input ("" in the node's input list).
	Absent bool
}

// Kernel computes a node's outputs. The engine allocates out[i] with the dtype and shape the
// builder declared (contents undefined: a kernel must write every element), except for outputs
// the builder declared as views (see Build.Views). in[i] is nil for absent optional inputs. A kernel
// must not modify its inputs, and must be safe to call from several goroutines at once (two
// sessions running side by side): keep per-call scratch local or in a sync.Pool.
type Kernel func(rc *RunContext, in, out []*tensor.Tensor) error

// Build is what a builder returns for a node: the output infos inferred from the input infos, and
// the kernel that computes them, or the function that makes it.
type Build struct {
	Outputs []Info
	// Kernel computes the outputs, for ops whose kernel costs nothing to make.
	Kernel Kernel
	// Prepare makes the kernel instead, for ops that precompute from constant inputs (packed
	// weights). The engine calls it once, only when it needs the kernel: to fold the node, or for
	// a program that will run. A compile that only infers shapes (Options.ShapesOnly) skips it for
	// every node it does not fold.
	Prepare func() Kernel
	// Views maps an output index to the input index whose data it shares (Reshape, Flatten,
	// Squeeze, Unsqueeze, Identity, Dropout): the engine makes that output a view of the input with
	// the output's shape, without calling the kernel for it. Only same-dtype, same-length outputs.
	Views map[int]int
	// MACs is the number of multiply-accumulates one run of the node performs (0 when negligible),
	// reported by inspect and used to account for rewrites.
	MACs int64
	// AppliesFused reports that the kernel applies Node.Fused to its output; only then does the
	// engine turn the activation node into a view of this node's output.
	AppliesFused bool
}

// Builder compiles one node for the given input infos. It validates attributes and shapes and
// computes the output infos and MACs (shape inference); what the kernel can precompute from
// constant inputs (e.g. packed weights) goes into Build.Prepare, so that shape inference does
// not pay for it. Errors should say what is wrong in terms of the node's inputs and attributes;
// the engine adds the node's name.
type Builder func(n *Node, in []Info) (*Build, error)

// Node is the view of a graph node that builders get: attributes with defaults, the opset, and a
// way to compile subgraphs.
type Node struct {
	*graph.Node
	// Opset is the version of the node's domain imported by the model.
	Opset int64
	// Threads is how many goroutines the kernel may split its work over (Options.Threads).
	Threads int
	// Fused, when set, is an activation whose node reads only this node's single output: a
	// builder that can apply it while the output is still in cache (Conv) does so and sets
	// Build.AppliesFused; other builders ignore it.
	Fused *Activation
	// compiler compiles subgraphs (If branches) in this node's scope.
	compiler *compiler
	// attrErr is the first attribute read with the wrong type (see attrcheck.go).
	attrErr error
}

// kernelMaker returns the function that makes b's kernel (Prepare, or one returning Kernel).
func (b *Build) kernelMaker() func() Kernel {
	if b.Prepare != nil {
		return b.Prepare
	}
	kernel := b.Kernel
	return func() Kernel { return kernel }
}

// kernel makes b's kernel (nil for a build whose outputs are all views).
func (b *Build) kernel() Kernel { return b.kernelMaker()() }

var builders = map[string]Builder{}

// register installs the builder for an op type of the default ONNX domain. Call it from init().
func register(opType string, b Builder) {
	if _, dup := builders[opType]; dup {
		panic("engine: op registered twice: " + opType)
	}
	builders[opType] = b
}

// SupportedOps lists the op types the engine runs, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(builders))
	for op := range builders {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Supported reports whether the engine runs op type op of the default domain.
func Supported(op string) bool {
	_, ok := builders[op]
	return ok
}

// UnsupportedOpError is a node the engine cannot run.
type UnsupportedOpError struct {
	Op, Domain, Node string
}

func (e *UnsupportedOpError) Error() string {
	op := e.Op
	if e.Domain != "" {
		op = e.Domain + "." + e.Op
	}
	return fmt.Sprintf("op %s (node %q) is not supported by fcconv's engine; verify with another backend "+
		"(e.g. compare with ONNX Runtime) and pass --no-verify, or convert a model without it", op, e.Node)
}
