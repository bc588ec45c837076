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

// Build is a compiled node: its output infos and the kernel that computes them.
type Build struct {
	Outputs []Info
	Kernel  Kernel
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

// Builder compiles one node for the given input infos. It validates attributes and shapes,
// computes output infos, and prepares whatever the kernel can precompute from constant inputs
// (e.g. packed weights). Errors should say what is wrong in terms of the node's inputs and
// attributes; the engine adds the node's name.
type Builder func(n *Node, in []Info) (*Build, error)

// Node is the view of a graph node that builders get: attributes with defaults, the opset, and a
// way to compile subgraphs.
type Node struct {
	*graph.Node
	// Opset is the version of the node's domain imported by the model.
	Opset int64
	// ShapesOnly is set when the program is compiled only to infer shapes and count MACs: skip
	// expensive preparation such as packing weights, but still return Outputs, MACs and a Kernel
	// (the kernel may be used to fold small constant subgraphs, so it must still work).
	ShapesOnly bool
	// Fused, when set, is an activation whose node reads only this node's single output: a
	// builder that can apply it while the output is still in cache (Conv) does so and sets
	// Build.AppliesFused; other builders ignore it.
	Fused *Activation
	// compiler compiles subgraphs (If branches) in this node's scope.
	compiler *compiler
	// attrErr is the first attribute read with the wrong type (see attrcheck.go).
	attrErr error
}

// ActivationKind is the function of an Activation.
type ActivationKind int

const (
	ActClamp       ActivationKind = iota // min(max(x, Lo), Hi): Relu and Clip
	ActLeakyRelu                         // x if x >= 0, else Alpha*x
	ActHardSigmoid                       // clamp(Alpha*x + Beta, 0, 1)
	ActHardSwish                         // x * clamp(Alpha*x + Beta, 0, 1)
	ActSiLU                              // x * sigmoid(x): Mul(x, Sigmoid(x))
)

// Activation is an element-wise float function fused into the node producing its input.
type Activation struct {
	Kind        ActivationKind
	Lo, Hi      float32 // ActClamp bounds (Relu: 0, +Inf)
	Alpha, Beta float32
}

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
