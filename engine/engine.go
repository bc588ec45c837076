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
	"math"
	"sync"

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
	// ShapesOnly compiles for shape inference and MAC counting only: builders skip expensive
	// preparation (see Node.ShapesOnly) and the program must not be Run.
	ShapesOnly bool
	// FoldLimit is the largest output (in elements) folded at compile time when all of a node's
	// inputs are constant (default 1<<20); bigger results are computed at run time.
	FoldLimit int
	// MaxMemory is the memory budget in bytes (0: DefaultMaxMemory): Compile refuses any tensor,
	// and any plan of buffers live at once, larger than this (see budget.go).
	MaxMemory int64
}

// Program is a compiled graph. It is immutable after Compile: several goroutines may Run it at once.
type Program struct {
	graph      *graph.Graph
	steps      []step
	slots      []slot
	slotOf     map[string]int
	inputs     []string // graph inputs fed by the caller
	outputs    []string
	outerRefs  []string // outer-scope names a subgraph program reads
	keepAll    bool
	shapesOnly bool
	maxMemory  int64 // the budget compiled with (see budget.go)
	// pools keeps the intermediate buffers between runs, one bufferPool per run in flight. A
	// sync.Pool would drop them at every garbage collection, and the next run would page-fault
	// its whole working set in again.
	pools struct {
		sync.Mutex
		free []*bufferPool
	}
}

// takePool returns a buffer pool for one run.
func (p *Program) takePool() *bufferPool {
	p.pools.Lock()
	defer p.pools.Unlock()
	if n := len(p.pools.free); n > 0 {
		bp := p.pools.free[n-1]
		p.pools.free = p.pools.free[:n-1]
		return bp
	}
	return newBufferPool()
}

// returnPool keeps a run's buffers for the next run.
func (p *Program) returnPool(bp *bufferPool) {
	p.pools.Lock()
	defer p.pools.Unlock()
	p.pools.free = append(p.pools.free, bp)
}

type slot struct {
	name  string
	info  Info
	owner int // slot whose buffer this one shares (itself unless a view)
	// lastUse is the index of the last step reading any slot sharing this buffer; -1: never freed.
	lastUse int
	kind    slotKind
}

type slotKind int

const (
	slotIntermediate slotKind = iota
	slotInput
	slotConst
	slotOuter
)

type step struct {
	node    *graph.Node
	kernel  Kernel
	in      []int // slot per input, -1 when absent
	out     []int // slot per output, -1 when absent
	views   map[int]int
	macs    int64
	release []int // owner slots whose buffers go back to the pool after this step
	clear   []int // intermediate slots sharing those buffers, dropped after this step
	reads   []int // slots the node's subgraphs read
}

// RunContext is passed to kernels; subgraph kernels (If) use it to read outer-scope values.
type RunContext struct {
	outer func(name string) *tensor.Tensor
	vals  []*tensor.Tensor
	prog  *Program
}

// Lookup returns the current value of a name visible at this point (for subgraphs), or nil.
func (rc *RunContext) Lookup(name string) *tensor.Tensor {
	if rc == nil {
		return nil
	}
	if i, ok := rc.prog.slotOf[name]; ok && rc.vals[i] != nil {
		return rc.vals[i]
	}
	if rc.outer != nil {
		return rc.outer(name)
	}
	return nil
}

// Compile prepares g to run with the given input shapes.
func Compile(g *graph.Graph, opts Options) (*Program, error) {
	c := &compiler{opts: opts}
	return c.compile(g, nil)
}

// Inputs are the names of the graph inputs Run expects.
func (p *Program) Inputs() []string { return p.inputs }

// Outputs are the graph outputs Run returns.
func (p *Program) Outputs() []string { return p.outputs }

// Info returns the compile-time info of any value of the graph.
func (p *Program) Info(name string) (Info, bool) {
	i, ok := p.slotOf[name]
	if !ok {
		return Info{}, false
	}
	return p.slots[i].info, true
}

// NodeMACs returns the multiply-accumulates of each compiled node (nodes folded at compile time are
// absent).
func (p *Program) NodeMACs() map[*graph.Node]int64 {
	out := map[*graph.Node]int64{}
	for _, s := range p.steps {
		out[s.node] = s.macs
	}
	return out
}

// Run executes the graph. inputs maps each graph input name to a tensor of the compiled dtype and
// shape. The result maps each graph output name to its value (and, with KeepIntermediates, every
// other value too).
func (p *Program) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if p.shapesOnly {
		return nil, fmt.Errorf("engine: this program was compiled with ShapesOnly and cannot run")
	}
	for _, name := range p.inputs {
		t, ok := inputs[name]
		if !ok {
			return nil, fmt.Errorf("input %q was not given", name)
		}
		want := p.slots[p.slotOf[name]].info
		if t.DType != want.DType || !tensor.SameShape(t.Shape, want.Shape) {
			return nil, fmt.Errorf("input %q is %v%v, but the graph was compiled for %v%v", name, t.DType, t.Shape, want.DType, want.Shape)
		}
	}
	return p.run(inputs, nil)
}

func (p *Program) run(inputs map[string]*tensor.Tensor, outer func(string) *tensor.Tensor) (map[string]*tensor.Tensor, error) {
	vals := make([]*tensor.Tensor, len(p.slots))
	rc := &RunContext{outer: outer, vals: vals, prog: p}
	for i, s := range p.slots {
		switch s.kind {
		case slotConst:
			vals[i] = s.info.Const
		case slotInput:
			vals[i] = inputs[s.name]
		case slotOuter:
			if vals[i] = rc.outer(s.name); vals[i] == nil {
				return nil, fmt.Errorf("outer-scope value %q is not available", s.name)
			}
		}
	}
	// Buffers go back to a per-program pool after the run, so the next run reuses them instead
	// of allocating (and page-faulting in) every intermediate again.
	pool := p.takePool()
	defer p.returnPool(pool)
	for si := range p.steps {
		st := &p.steps[si]
		in := make([]*tensor.Tensor, len(st.in))
		for i, s := range st.in {
			if s >= 0 {
				in[i] = vals[s]
			}
		}
		out := make([]*tensor.Tensor, len(st.out))
		for i, s := range st.out {
			if s < 0 {
				continue
			}
			info := p.slots[s].info
			switch src, isView := st.views[i]; {
			case isView:
				out[i] = in[src].Reshaped(info.Shape...)
			case p.slots[s].lastUse < 0:
				// A graph output (or a value kept whole): it leaves with the caller, so it gets
				// its own buffer rather than one the pool would then have to replace every run.
				out[i] = tensor.New(info.DType, info.Shape...)
			default:
				out[i] = pool.get(info.DType, info.Shape)
			}
		}
		if st.kernel != nil {
			if err := st.kernel(rc, in, out); err != nil {
				return nil, fmt.Errorf("%v: %w", st.node, err)
			}
		}
		for i, s := range st.out {
			if s >= 0 {
				vals[s] = out[i]
			}
		}
		if !p.keepAll {
			for _, owner := range st.release {
				pool.put(vals[owner])
			}
			for _, j := range st.clear {
				vals[j] = nil
			}
		}
	}
	result := map[string]*tensor.Tensor{}
	for _, name := range p.outputs {
		result[name] = vals[p.slotOf[name]]
	}
	if p.keepAll {
		for name, i := range p.slotOf {
			if vals[i] != nil {
				result[name] = vals[i]
			}
		}
	}
	return result, nil
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
		node := &Node{Node: n, Opset: n.Opset(), ShapesOnly: c.opts.ShapesOnly, Fused: fused, compiler: c}
		b, err = build(node, infos)
		if attrErr := node.attrError(); attrErr != nil {
			err = attrErr
		}
		if err != nil {
			return fmt.Errorf("%v: %w", n, err)
		}
	}
	if fused != nil && !b.AppliesFused && activationAfterKernel[n.OpType()] && len(b.Outputs) == 1 && b.Outputs[0].DType == tensor.Float && len(b.Views) == 0 {
		b.Kernel, b.AppliesFused = withActivation(b.Kernel, fused), true
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
	st := step{node: n, kernel: b.Kernel, in: ins, views: b.Views, macs: b.MACs}
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

// activationAfterKernel are the ops whose following activation the engine applies right after
// their kernel when their builder does not apply it itself: the output is then still in cache,
// and the activation's step and pass over memory go away (Add + Relu ends each ResNet block).
var activationAfterKernel = map[string]bool{"Add": true, "BatchNormalization": true, "Gemm": true, "MatMul": true}

// withActivation returns kernel followed by the activation of its single float output.
func withActivation(kernel Kernel, act *Activation) Kernel {
	return func(rc *RunContext, in, out []*tensor.Tensor) error {
		if err := kernel(rc, in, out); err != nil {
			return err
		}
		act.apply(out[0].F32)
		return nil
	}
}

// fusedActivationView is the build of an activation node fused into its input's producer: its
// output is that input, already activated.
func fusedActivationView(in Info) *Build {
	return &Build{Outputs: []Info{{DType: in.DType, Shape: append([]int{}, in.Shape...)}}, Views: map[int]int{0: 0}}
}

// fusibleActivation returns the activation that n's builder may apply to its output, and the
// activation's nodes: n must have one output, not a graph output, read only by an activation of
// fixed parameters, or only by the Sigmoid and Mul of a SiLU pattern (see siluPattern). With
// KeepIntermediates nothing is fused: every value must then keep its own contents for the
// layerwise comparison.
func (c *compiler) fusibleActivation(n *graph.Node) (*Activation, []*graph.Node) {
	if c.opts.KeepIntermediates || len(n.Outputs()) != 1 || n.Output(0) == "" {
		return nil, nil
	}
	g := c.prog.graph
	v := g.Value(n.Output(0))
	if v == nil || v.IsOutput {
		return nil, nil
	}
	if len(v.Consumers) == 2 {
		for i, s := range v.Consumers {
			if m, x, ok := c.siluPattern(s); ok && x == v.Name && v.Consumers[1-i] == m {
				return &Activation{Kind: ActSiLU}, []*graph.Node{s, m}
			}
		}
		return nil, nil
	}
	if len(v.Consumers) != 1 {
		return nil, nil
	}
	act := v.Consumers[0]
	if act.Domain() != "" || len(act.Outputs()) != 1 || act.Input(0) != v.Name {
		return nil, nil
	}
	for _, in := range act.Inputs()[1:] {
		if in == v.Name {
			return nil, nil
		}
	}
	if a := activationOf(act, g); a != nil {
		return a, []*graph.Node{act}
	}
	return nil, nil
}

// siluPattern reports whether s is the Sigmoid of a SiLU exported as Mul(x, Sigmoid(x)) (either
// operand order), and returns the Mul and x: s's output is read only by the Mul and is not a graph
// output (the Mul's may be: it gets SiLU's value either way). Never with KeepIntermediates, which
// needs the sigmoid's own values.
func (c *compiler) siluPattern(s *graph.Node) (m *graph.Node, x string, ok bool) {
	if c.opts.KeepIntermediates || s.OpType() != "Sigmoid" || s.Domain() != "" ||
		len(s.Inputs()) != 1 || len(s.Outputs()) != 1 || s.Input(0) == "" || s.Output(0) == "" {
		return nil, "", false
	}
	g := c.prog.graph
	x = s.Input(0)
	sv := g.Value(s.Output(0))
	if sv == nil || sv.IsOutput || len(sv.Consumers) != 1 {
		return nil, "", false
	}
	m = sv.Consumers[0]
	if m.OpType() != "Mul" || m.Domain() != "" || len(m.Inputs()) != 2 || len(m.Outputs()) != 1 || m.Output(0) == "" {
		return nil, "", false
	}
	if a, b := m.Input(0), m.Input(1); !(a == x && b == sv.Name || a == sv.Name && b == x) {
		return nil, "", false
	}
	return m, x, true
}

// siluBuild compiles the Sigmoid and Mul of a SiLU pattern whose x's producer did not apply it:
// the Mul runs one SiLU pass over x, and the Sigmoid becomes a view of x that nothing reads (its
// value is only the Mul's operand, which reads x instead). It returns nil for other nodes.
func (c *compiler) siluBuild(n *graph.Node, infos []Info) *Build {
	if xname, ok := c.siluMuls[n]; ok {
		xi := 0
		if n.Input(1) == xname {
			xi = 1
		}
		x := infos[xi]
		return &Build{
			Outputs: []Info{{DType: tensor.Float, Shape: append([]int{}, x.Shape...)}},
			Kernel: func(rc *RunContext, in, out []*tensor.Tensor) error {
				vec.silu(out[0].F32, in[xi].F32)
				return nil
			},
		}
	}
	m, xname, ok := c.siluPattern(n)
	if !ok || len(infos) != 1 || infos[0].DType != tensor.Float || infos[0].Const != nil {
		return nil
	}
	if c.siluMuls == nil {
		c.siluMuls = map[*graph.Node]string{}
	}
	c.siluMuls[m] = xname
	return fusedActivationView(infos[0])
}

// activationOf describes an activation node as an Activation, or returns nil when the node is
// not an activation or its parameters are not compile-time constants.
func activationOf(n *graph.Node, g *graph.Graph) *Activation {
	inf := float32(math.Inf(1))
	typed := &Node{Node: n} // typed attribute reads: a mistyped one leaves the node unfused, to fail in its builder
	switch n.OpType() {
	case "Relu":
		return &Activation{Kind: ActClamp, Lo: 0, Hi: inf}
	case "Clip":
		return clipActivation(n, g)
	case "LeakyRelu":
		alpha := typed.AttrFloat("alpha", 0.01)
		if typed.attrErr == nil {
			return &Activation{Kind: ActLeakyRelu, Alpha: alpha}
		}
	case "HardSigmoid":
		alpha, beta := typed.AttrFloat("alpha", 0.2), typed.AttrFloat("beta", 0.5)
		if typed.attrErr == nil {
			return &Activation{Kind: ActHardSigmoid, Alpha: alpha, Beta: beta}
		}
	case "HardSwish":
		return &Activation{Kind: ActHardSwish, Alpha: 1.0 / 6, Beta: 0.5}
	}
	return nil
}

// clipActivation reads Clip's bounds: attributes before opset 11, constant scalar inputs after.
func clipActivation(n *graph.Node, g *graph.Graph) *Activation {
	a := &Activation{Kind: ActClamp, Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
	if n.Opset() < 11 {
		a.Lo, a.Hi = n.AttrFloat("min", a.Lo), n.AttrFloat("max", a.Hi)
		return a
	}
	for i, bound := range []*float32{&a.Lo, &a.Hi} {
		name := n.Input(i + 1)
		if name == "" {
			continue
		}
		t, ok := g.Constant(name)
		if !ok || t.DType != tensor.Float || t.Len() != 1 {
			return nil
		}
		*bound = t.F32[0]
	}
	return a
}

// tryFold runs a node at compile time when all its inputs are constants and its outputs are small,
// turning its outputs into constants.
func (c *compiler) tryFold(n *graph.Node, b *Build, infos []Info) (bool, error) {
	if len(c.subReads) > 0 { // its subgraphs read values only known at run time
		return false, nil
	}
	for _, in := range infos {
		if !in.Absent && in.Const == nil {
			return false, nil
		}
	}
	// Every output the builder declared gets a tensor, omitted ones too (see absent.go).
	outs := make([]*tensor.Tensor, outputCount(n, b))
	for i, info := range b.Outputs {
		if info.Const != nil {
			outs[i] = info.Const
			continue
		}
		if tensor.NumElements(info.Shape) > c.opts.FoldLimit {
			return false, nil
		}
	}
	in := make([]*tensor.Tensor, len(infos))
	for i, info := range infos {
		in[i] = info.Const
	}
	needKernel := false
	for i := range outs {
		if outs[i] != nil || i >= len(b.Outputs) {
			continue
		}
		if src, isView := b.Views[i]; isView {
			outs[i] = in[src].Reshaped(b.Outputs[i].Shape...)
		} else {
			outs[i] = tensor.New(b.Outputs[i].DType, b.Outputs[i].Shape...)
			needKernel = true
		}
	}
	if needKernel && b.Kernel != nil {
		if err := b.Kernel(&RunContext{prog: c.prog, outer: c.outerConst}, in, outs); err != nil {
			return false, err
		}
	}
	for i, name := range n.Outputs() {
		if name != "" {
			c.newSlot(name, Info{DType: outs[i].DType, Shape: outs[i].Shape, Const: outs[i]}, slotConst)
		}
	}
	return true, nil
}

// outerConst serves outer-scope constants to kernels folded at compile time.
func (c *compiler) outerConst(name string) *tensor.Tensor {
	if info, ok := c.lookup(name); ok {
		return info.Const
	}
	return nil
}

func (c *compiler) planLifetimes() {
	p := c.prog
	outputs := map[int]bool{}
	for _, name := range p.outputs {
		outputs[p.slots[p.slotOf[name]].owner] = true
	}
	last := map[int]int{}
	for si, st := range p.steps {
		for _, s := range append(append(append([]int{}, st.in...), st.out...), st.reads...) {
			if s >= 0 {
				last[p.slots[s].owner] = si
			}
		}
	}
	sharers := map[int][]int{} // owner -> intermediate slots viewing its buffer
	for j, sl := range p.slots {
		if sl.kind == slotIntermediate {
			sharers[sl.owner] = append(sharers[sl.owner], j)
		}
	}
	for owner, si := range last {
		if p.slots[owner].kind != slotIntermediate || outputs[owner] {
			continue
		}
		p.slots[owner].lastUse = si
		p.steps[si].release = append(p.steps[si].release, owner)
		p.steps[si].clear = append(p.steps[si].clear, sharers[owner]...)
	}
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

// RunSubgraph runs a subgraph program inside a kernel, reading outer values through rc.
func (p *Program) RunSubgraph(rc *RunContext) (map[string]*tensor.Tensor, error) {
	return p.run(nil, rc.Lookup)
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

// bufferPool recycles intermediate buffers of one run. Float buffers, nearly all of them, are
// shared across sizes: a request takes the smallest free buffer that holds it, the most recently
// freed among equals, so the next layer writes into memory the last one just released, which is
// still in cache, and a run touches fewer distinct buffers. Other types are matched by length.
type bufferPool struct {
	floats []*tensor.Tensor // free float buffers, their F32 at full capacity, oldest first
	free   map[poolKey][]*tensor.Tensor
}

type poolKey struct {
	dtype tensor.DType
	n     int
}

func newBufferPool() *bufferPool { return &bufferPool{free: map[poolKey][]*tensor.Tensor{}} }

func (bp *bufferPool) get(dt tensor.DType, shape []int) *tensor.Tensor {
	n := tensor.NumElements(shape)
	if dt == tensor.Float {
		return bp.getFloat(n, shape)
	}
	key := poolKey{dt, n}
	if list := bp.free[key]; len(list) > 0 {
		t := list[len(list)-1]
		bp.free[key] = list[:len(list)-1]
		return t.Reshaped(shape...)
	}
	return tensor.New(dt, shape...)
}

// getFloat returns a float tensor of n elements in the best-fitting free buffer, or a new one.
func (bp *bufferPool) getFloat(n int, shape []int) *tensor.Tensor {
	best := -1
	for i := len(bp.floats) - 1; i >= 0; i-- {
		c := cap(bp.floats[i].F32)
		if c >= n && (best < 0 || c < cap(bp.floats[best].F32)) {
			best = i
		}
	}
	if best < 0 {
		return tensor.New(tensor.Float, shape...)
	}
	buf := bp.floats[best].F32
	bp.floats = append(bp.floats[:best], bp.floats[best+1:]...)
	return &tensor.Tensor{DType: tensor.Float, Shape: append([]int{}, shape...), F32: buf[:n]}
}

func (bp *bufferPool) put(t *tensor.Tensor) {
	if t == nil {
		return
	}
	if t.DType == tensor.Float {
		bp.floats = append(bp.floats, &tensor.Tensor{DType: tensor.Float, F32: t.F32[:cap(t.F32)]})
		return
	}
	key := poolKey{t.DType, t.Len()}
	bp.free[key] = append(bp.free[key], t)
}
