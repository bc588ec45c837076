// Package engine runs an ONNX graph in float32 on the CPU: Compile a graph once for concrete input
// shapes, then Run it many times.
//
// Compile does static shape inference (every value gets a concrete shape), folds what is computable
// from constants (shape arithmetic such as Shape -> Gather -> Concat -> Reshape), lets each node's
// builder precompute what it can (packed weights), and plans memory: an intermediate buffer returns to
// a pool after its last reader, and Reshape-like ops are views without copies.
package engine

import (
	"fmt"
	"runtime"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// Options control compilation.
type Options struct {
	// InputShapes gives the shape of each graph input; inputs not listed use their declared shape,
	// with symbolic dims taken from Dims.
	InputShapes map[string][]int
	// Dims binds symbolic dims (dim_param names) of the declared input shapes, e.g. "batch": 1.
	Dims map[string]int
	// KeepIntermediates keeps every value after a run (for layerwise comparison) instead of
	// releasing buffers after their last reader.
	KeepIntermediates bool
	// ShapesOnly compiles for shape inference and MAC counting only: the kernels' preparation
	// (Build.Prepare: packing weights) is skipped, and the program must not be Run.
	ShapesOnly bool
	// Threads is how many goroutines one kernel may split its work over (default
	// runtime.GOMAXPROCS(0)): a caller running several programs at once gives each a share of
	// the cores.
	Threads int
	// FoldLimit is the largest output (in elements) folded at compile time when all of a node's
	// inputs are constant (default 1<<20); bigger results are computed at run time.
	FoldLimit int
	// MaxMemory is the memory budget in bytes (0: DefaultMaxMemory): Compile refuses any tensor,
	// and any plan of buffers live at once, larger than this (see budget.go).
	MaxMemory int64
}

// Compile prepares g to run with the given input shapes.
func Compile(g *graph.Graph, opts Options) (*Program, error) {
	compiles.Add(1)
	c := &compiler{opts: opts}
	return c.compile(g, nil)
}

// compiler holds the state of one Compile, and of its subgraphs (which see their parent's values).
type compiler struct {
	opts   Options
	parent *compiler
	prog   *Program
	// subReads are the outer values read by the subgraphs compiled for the current node (If
	// branches): they stay alive until its step runs, and the node cannot be folded.
	subReads []string
	// fusedActivations are activation nodes whose function the producer of their input already
	// applied: they compile to views of that input.
	fusedActivations map[*graph.Node]bool
	// siluMuls are the Mul nodes of SiLU patterns (Mul(x, Sigmoid(x))) not fused into x's
	// producer: each runs one SiLU pass over x, and its Sigmoid compiles to an unread view of x.
	siluMuls map[*graph.Node]string // Mul -> x
}

func (c *compiler) compile(g *graph.Graph, parent *compiler) (*Program, error) {
	c.parent = parent
	c.opts.MaxMemory = c.opts.memoryBudget()
	p := &Program{graph: g, slotOf: map[string]int{}, keepAll: c.opts.KeepIntermediates, shapesOnly: c.opts.ShapesOnly, maxMemory: c.opts.MaxMemory}
	c.prog = p
	if c.opts.FoldLimit == 0 {
		c.opts.FoldLimit = 1 << 20
	}
	if c.opts.Threads < 1 {
		c.opts.Threads = runtime.GOMAXPROCS(0)
	}
	if err := c.addGraphInputs(g); err != nil {
		return nil, err
	}
	order, err := g.TopoOrder()
	if err != nil {
		return nil, err
	}
	for _, n := range order {
		if err := c.addNode(n); err != nil {
			return nil, err
		}
	}
	for _, name := range g.OutputNames() {
		if _, err := c.slotFor(name); err != nil {
			return nil, fmt.Errorf("graph output %q: %v", name, err)
		}
		p.outputs = append(p.outputs, name)
	}
	c.planLifetimes()
	if err := c.checkPlan(); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *compiler) newSlot(name string, info Info, kind slotKind) int {
	p := c.prog
	i := len(p.slots)
	p.slots = append(p.slots, slot{name: name, info: info, owner: i, lastUse: -1, kind: kind})
	p.slotOf[name] = i
	return i
}

func (c *compiler) addGraphInputs(g *graph.Graph) error {
	if c.parent != nil {
		return nil // subgraph inputs (Loop/Scan bodies) are not supported; If branches have none
	}
	for _, name := range g.InputNames() {
		shape, dtype, err := c.inputShape(g, name)
		if err != nil {
			return err
		}
		if err := c.checkTensor(fmt.Sprintf("graph input %q", name), dtype, shape); err != nil {
			return err
		}
		c.newSlot(name, Info{DType: dtype, Shape: shape}, slotInput)
		c.prog.inputs = append(c.prog.inputs, name)
	}
	return nil
}

func (c *compiler) inputShape(g *graph.Graph, name string) ([]int, tensor.DType, error) {
	vi := g.ValueInfo(name)
	var dtype tensor.DType
	if tt := vi.GetType().GetTensorType(); tt != nil {
		dtype = tensor.DType(tt.GetElemType())
	}
	if dtype == tensor.Undefined {
		if init := g.Initializer(name); init != nil {
			dtype = tensor.DType(init.GetDataType())
		} else {
			return nil, 0, fmt.Errorf("input %q has no tensor element type", name)
		}
	}
	if s, ok := c.opts.InputShapes[name]; ok {
		return append([]int{}, s...), dtype, nil
	}
	if init := g.Initializer(name); init != nil { // an overridable default: its own shape
		shape := make([]int, len(init.Dims))
		for i, d := range init.Dims {
			shape[i] = int(d)
		}
		return shape, dtype, nil
	}
	dims := vi.GetType().GetTensorType().GetShape().GetDim()
	if vi.GetType().GetTensorType().GetShape() == nil {
		return nil, 0, fmt.Errorf("input %q has no declared shape; give it with --shape %s=d1,d2,...", name, name)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		switch {
		case d.GetDimValue() > 0:
			shape[i] = int(d.GetDimValue())
		case d.GetDimParam() != "":
			v, ok := c.opts.Dims[d.GetDimParam()]
			if !ok {
				return nil, 0, fmt.Errorf("input %q has symbolic dim %q (axis %d); give its size with --dim %s=N", name, d.GetDimParam(), i, d.GetDimParam())
			}
			shape[i] = v
		default:
			return nil, 0, fmt.Errorf("input %q has an unnamed unknown dim at axis %d; give the shape with --shape %s=d1,d2,...", name, i, name)
		}
	}
	return shape, dtype, nil
}

// slotFor returns the slot of a name, creating const slots for constants and outer slots for values
// of an enclosing graph.
func (c *compiler) slotFor(name string) (int, error) {
	p := c.prog
	if i, ok := p.slotOf[name]; ok {
		return i, nil
	}
	if t, err := p.graph.ConstantErr(name); err != nil {
		return -1, err
	} else if t != nil && p.graph.Value(name).Producer == nil {
		return c.newSlot(name, Info{DType: t.DType, Shape: t.Shape, Const: t}, slotConst), nil
	}
	if c.parent != nil {
		if info, ok := c.parent.lookup(name); ok {
			if info.Const != nil {
				return c.newSlot(name, info, slotConst), nil
			}
			p.outerRefs = append(p.outerRefs, name)
			return c.newSlot(name, info, slotOuter), nil
		}
	}
	return -1, fmt.Errorf("value %q is not defined before it is read", name)
}

func (c *compiler) lookup(name string) (Info, bool) {
	if i, err := c.slotFor(name); err == nil {
		return c.prog.slots[i].info, true
	}
	return Info{}, false
}

func (c *compiler) addNode(n *graph.Node) error {
	if n.Domain() != "" {
		return &UnsupportedOpError{Op: n.OpType(), Domain: n.Domain(), Node: n.DisplayName()}
	}
	build, ok := builders[n.OpType()]
	if !ok {
		return &UnsupportedOpError{Op: n.OpType(), Node: n.DisplayName()}
	}
	ins := make([]int, len(n.Inputs()))
	infos := make([]Info, len(n.Inputs()))
	for i, name := range n.Inputs() {
		if name == "" {
			ins[i], infos[i] = -1, Info{Absent: true}
			continue
		}
		s, err := c.slotFor(name)
		if err != nil {
			return fmt.Errorf("%v: %v", n, err)
		}
		ins[i], infos[i] = s, c.prog.slots[s].info
	}
	c.subReads = nil
	fused, activationNodes := c.fusibleActivation(n)
	var b *Build
	var err error
	if c.fusedActivations[n] {
		b = fusedActivationView(infos[0])
	} else if b = c.siluBuild(n, infos); b != nil {
		fused = nil
	} else {
		node := &Node{Node: n, Opset: n.Opset(), Threads: c.opts.Threads, Fused: fused, compiler: c}
		b, err = build(node, infos)
		if attrErr := node.attrError(); attrErr != nil {
			err = attrErr
		}
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
	}
	if fused != nil && !b.AppliesFused && activationAfterKernel[n.OpType()] && len(b.Outputs) == 1 && b.Outputs[0].DType == tensor.Float && len(b.Views) == 0 {
		applyAfterKernel(b, fused)
	}
	if fused != nil && b.AppliesFused {
		if c.fusedActivations == nil {
			c.fusedActivations = map[*graph.Node]bool{}
		}
		for _, a := range activationNodes {
			c.fusedActivations[a] = true
		}
	}
	if len(b.Outputs) < countPresent(n.Outputs()) {
		return fmt.Errorf("%v: the builder declared %d outputs, the node has %d", n, len(b.Outputs), len(n.Outputs()))
	}
	if err := checkOutputIndexes(n, b); err != nil {
		return err
	}
	if hasNoOutputs(n) {
		return nil // see absent.go
	}
	if err := c.checkOutputs(n, b.Outputs); err != nil {
		return err
	}
	if folded, err := c.tryFold(n, b, infos); err != nil {
		return fmt.Errorf("%v: %w", n, err)
	} else if folded {
		return nil
	}
	st := step{node: n, in: ins, views: b.Views, macs: b.MACs}
	if !c.opts.ShapesOnly {
		st.kernel = b.kernel()
	}
	for _, name := range c.subReads {
		st.reads = append(st.reads, c.prog.slotOf[name])
	}
	for i := 0; i < outputCount(n, b); i++ {
		name := n.Output(i)
		if name == "" && i >= len(b.Outputs) {
			st.out = append(st.out, -1)
			continue
		}
		if name == "" {
			name = scratchName(n, i) // omitted, but the kernel writes it: see absent.go
		}
		s := c.newSlot(name, b.Outputs[i], slotIntermediate)
		if src, isView := b.Views[i]; isView {
			c.prog.slots[s].owner = c.prog.slots[ins[src]].owner
		}
		st.out = append(st.out, s)
	}
	c.prog.steps = append(c.prog.steps, st)
	return nil
}

// CompileSubgraph compiles a subgraph of this node (an If branch) in the node's scope.
func (n *Node) CompileSubgraph(g *graph.Graph) (*Program, error) {
	sub := &compiler{opts: n.compiler.opts}
	p, err := sub.compile(g, n.compiler)
	if err == nil {
		n.compiler.subReads = append(n.compiler.subReads, p.outerRefs...)
	}
	return p, err
}

func countPresent(names []string) int {
	n := 0
	for _, s := range names {
		if s != "" {
			n++
		}
	}
	return n
}
