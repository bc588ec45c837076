// fc-to-conv: replace fully-connected layers (Gemm, MatMul with constant weights) by equivalent Conv
// nodes, keeping every graph output's name, shape and value.
//
// Before (a VGG-style classifier head, as PyTorch exports it):
//
//	X[N,512,7,7] -> Flatten(axis=1) -> Gemm(B[4096,25088], C, transB=1) -> Relu -> Gemm(B2[1000,4096], C2) -> Y[N,1000]
//
// After:
//
//	X[N,512,7,7] -> Conv(W[4096,512,7,7], C) -> Relu -> Conv(W2[1000,4096,1,1], C2) -> Flatten(axis=1) -> Y[N,1000]
//
// and with Options.Spatial (fully convolutional; the input's H and W become "height" and "width"):
//
//	X[N,3,height,width] -> ... -> Conv(W) -> Relu -> Conv(W2) -> Y[N,1000,out_height,out_width]
//
// The pass works on a "4-D world": each value it converts gets a 4-D NCHW stand-in ("rep") and a
// layout saying how the original maps onto it:
//
//	flat: [N,F]     <-> [N,C,H,W] with F = C*H*W (back: Flatten(axis=1))
//	seq:  [B,T,C]   <-> [B,C,T,1]                 (back: Squeeze(3), Transpose(0,2,1))
//	nhwc: [N,H,W,C] <-> [N,C,H,W]                 (back: Transpose(0,2,3,1))
//
// FCs become Convs on reps, the ops between them are re-emitted on reps, and a value goes back to its
// original form only where something outside the 4-D world reads it (or it is a graph output).
//
// Cases handled (exactly):
//
// Head entries (Options.Scope "heads", the default; a 2-D FC input [N,F] is recognised when it is)
//   - Flatten(axis=1) of an NxCxHxW map: the first FC becomes an HxW Conv with weight [M,C,H,W] taken
//     from the FC weight's columns in C,H,W order (1x1 after global pooling);
//   - Reshape of an NxCxHxW map to [N,C*H*W] (constant target such as [N,-1] or [-1,C*H*W], or one
//     computed by Shape/Gather/Unsqueeze/Concat: judged on the inferred shapes);
//   - Squeeze of an [N,C,1,1] map (GlobalAveragePool/ReduceMean keepdims=1, then Squeeze);
//   - ReduceMean/ReduceMax with keepdims=0 over the spatial axes [2,3] (or [-2,-1]; axes as
//     attribute or input) of an NxCxHxW map: re-emitted with keepdims=1;
//   - ReduceMean/ReduceMax with keepdims=0 over the one non-channel axis of a 3-D tensor (token or
//     1-D map pooling): the pooled [N,C] is unsqueezed to [N,C,1,1];
//   - Flatten/Reshape of a 2-D value to the same shape (a no-op flatten after pooling);
//   - any of the above followed by ops carried into the 4-D world (below), e.g. Flatten -> Dropout -> Gemm.
//
// Ops carried between and after converted FCs (on their reps; layout noted where it matters)
//   - unary elementwise ops unchanged: Relu, LeakyRelu, Sigmoid, Tanh, Clip, Elu, Selu, Celu,
//     HardSigmoid, HardSwish, Softplus, Softsign, Gelu, Erf, Mish, ThresholdedRelu, Neg, Abs, Exp,
//     Log, Sqrt, Reciprocal, Floor, Ceil, Round, Sign, Identity, Dropout (mask output unused);
//   - PRelu, Add, Sub, Mul, Div, Pow, Max, Min with a constant per-feature or scalar operand: a
//     constant [F], [1,F] (or [..,1,C] in seq/nhwc) becomes [C,H,W] / [C,1,1]; two converted
//     operands of the same shape (a residual inside the head) are combined directly;
//   - BatchNormalization on [N,C] (flat layout over a 1x1 map): unchanged on [N,C,1,1];
//   - Softmax/LogSoftmax/Hardmax over the features (opset >= 13, flat over a 1x1 map): axis=1;
//   - ReduceMean/ReduceMax/ReduceSum/ReduceMin over the tokens of seq ([B,T,C] axis 1) or the
//     spatial axes of nhwc ([N,H,W,C] axes 1,2): re-emitted over the rep's spatial axes, keepdims=1;
//   - Transpose(0,3,1,2) of an nhwc value is the rep itself (the transpose disappears);
//     Transpose(0,2,1) of a seq value is Squeeze(3) of the rep.
//
// FC forms
//   - Gemm with transB 0 or 1, alpha and beta (folded into weight and bias), bias C of shape [M],
//     [1,M], [1], [1,1], scalar, or absent;
//   - MatMul x·W with W 2-D, plus a following Add of a constant per-feature bias (folded into the
//     Conv bias);
//   - weights from an initializer, a Constant node, Transpose (perm [1,0]) / Identity / Cast of a
//     constant (exports without constant folding), or any constant the engine folds.
//   - Shared weights are converted once (cache by weight name and transform).
//
// Options.Scope "all": every FC with constant weights. Inputs that are no head entry are brought
// into the 4-D world: [N,F] by Unsqueeze(axes 2,3); [B,T,C] by Transpose(0,2,1), Unsqueeze(3)
// (or Unsqueeze alone when it comes from Transpose(0,2,1)); [N,H,W,C] by Transpose(0,3,1,2) (or no
// node when it comes from Transpose(0,2,3,1)). Consecutive converted layers share the 4-D form, so
// the transposes between them disappear.
//
// Options.Spatial: after converting, a Flatten that only brings a head's result back to 2-D for a
// graph output is dropped (the output becomes [N,M,h,w]; its value_info is rewritten, with symbolic
// dims where the size depends on the input), and the graph inputs' H and W become "height" and
// "width". Spatial is declined (keeping the flatten) when a Reshape with a constant size-specific
// shape sits before the head, or when the graph does not infer at twice the input size.
//
// Declined, with the reason: Gemm with transA=1; weights computed at run time or fed as a graph
// input; an old-IR weight whose initializer is an overridable graph input; a bias that varies per
// row; batched (>2-D) weights; a constant left operand (W·x); non-float32 FCs; in heads scope, an
// input that is no head entry (3-D or channels-last activations, an MLP input, a Flatten with
// axis != 1, a Reshape that is not a flatten, pooling over other axes); FCs inside If/Loop/Scan
// subgraphs (not handled yet).
package rewrite

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// FCToConv replaces fully-connected layers by equivalent convolutions.
var FCToConv = registerPass(&Pass{
	Name: "fc-to-conv",
	Doc: "Replace fully-connected layers (Gemm, MatMul with constant weights) by equivalent Conv nodes. " +
		"In the default scope \"heads\", the FCs of classifier heads (fed by a flattened or globally pooled " +
		"feature map) become an HxW Conv followed by 1x1 Convs, with the flatten moved after the last one; " +
		"--scope all also converts MLPs and FCs on [B,T,C] and channels-last activations, with the transposes " +
		"that make them equivalent; --spatial drops the trailing flatten and makes the input size symbolic " +
		"(fully convolutional). Every graph output keeps its name, shape and value.",
	Run: runFCToConv,
})

func runFCToConv(ctx *Context) error {
	var all bool
	switch ctx.Options.Scope {
	case "", "heads":
	case "all":
		all = true
	default:
		return fmt.Errorf("unknown scope %q (want heads or all)", ctx.Options.Scope)
	}
	p := newFCPlanner(ctx, all)
	p.declineSubgraphs()
	if err := p.plan(); err != nil {
		return err
	}
	if len(p.fcs) == 0 {
		return nil
	}
	if ctx.DryRun {
		p.report()
		if ctx.Options.Spatial {
			if reason := p.spatialStructural(); reason != "" {
				p.declineSpatial(reason)
			}
		}
		return nil
	}
	if err := p.apply(); err != nil {
		return err
	}
	p.report()
	if ctx.Options.Spatial {
		return p.spatial()
	}
	return nil
}

// layout says how an original value maps onto its 4-D stand-in.
type layout int

const (
	layoutFlat layout = iota // [N,F] <-> [N,C,H,W], F = C*H*W
	layoutSeq                // [B,T,C] <-> [B,C,T,1]
	layoutNHWC               // [N,H,W,C] <-> [N,C,H,W]
)

func (l layout) String() string {
	return [...]string{"flat", "seq", "nhwc"}[l]
}

// lval is a value of the 4-D world: an original value and its 4-D stand-in.
type lval struct {
	orig  string
	lay   layout
	shape []int // the original value's shape
	rep   []int // the stand-in's shape (4-D)
	// down: produced by a converted or carried node whose original goes away, so readers outside
	// the 4-D world need the value converted back.
	down bool
	prod *lnode
	name string // the stand-in's value name, set by apply
}

type lkind int

const (
	kSame        lkind = iota // the stand-in is an existing value (from): no node
	kUnsqueeze                // Unsqueeze(from, axes)
	kTransposeIn              // Transpose(from, perm)
	kSeqIn                    // Transpose(from, 0,2,1) then Unsqueeze(3)
	kReduce                   // the reduce op of n on from (or ins[0]), axes, keepdims=1
	kFC                       // Conv
	kCopy                     // n's op on the stand-ins, constants remapped
	kSoftmax                  // n's op with axis=1
	kAbsorb                   // nhwc Transpose(0,3,1,2): its output is the input's stand-in
	kSqueezeOut               // seq Transpose(0,2,1): its output is Squeeze(3) of the stand-in
)

// lnode is a node of the 4-D world: a stand-in source, a converted FC, or a carried op.
type lnode struct {
	kind lkind
	n    *graph.Node // the original node (FC, carried op, head entry), or nil
	// anchor is the original node the new nodes are inserted before.
	anchor *graph.Node
	from   string
	axes   []int64
	perm   []int64
	ins    []lin
	fc     *fcPlan
	out    *lval
	// dies: the original node n goes away (converted FC, forward-carried op, absorbed transpose).
	dies bool
	what string // for reports: how the stand-in is made
	// created are the names of the nodes apply made for it.
	created []string
}

// lin is an input of a carried op: a 4-D value, a remapped constant, or an input kept by name.
type lin struct {
	val   *lval
	konst *tensor.Tensor
	name  string
}

// fcPlan is what an FC's conversion needs, checked before any edit.
type fcPlan struct {
	n      *graph.Node
	op     string
	k, m   int
	w      *fcConst
	tIsMK  bool // w.t is stored [M,K] (else [K,M])
	alpha  float32
	bias   *fcConst // nil: none
	beta   float32
	add    *graph.Node // the Add folded into a MatMul
	out    string      // the value the conversion replaces (FC output, or the folded Add's)
	inRank int
	notes  []string
	macs   int64 // before
}

type fcConst struct {
	t          *tensor.Tensor
	name       string // the constant's name (for naming and caching)
	transposed bool   // the value is t transposed (2-D)
}

type fcPlanner struct {
	ctx   *Context
	g     *graph.Graph
	all   bool
	vals  map[string]*lval
	fails map[string]string
	steps []*lnode
	fcs   []*lnode
	// folded are Adds folded into a converted MatMul; dying are the original nodes that go away.
	folded   map[*graph.Node]bool
	declined map[*graph.Node]bool
	cur      *graph.Node
	// set by apply
	backs      map[string]string // original value -> its converted-back value
	backFlat   []*backConv
	weightDone map[string]string
	constDone  map[string]string
}

type backConv struct {
	orig  string // graph output name
	rep   string // the 4-D stand-in
	node  *graph.Node
	fc    *lnode // the FC the value descends from (for reports), may be nil
	shape []int
}

func newFCPlanner(ctx *Context, all bool) *fcPlanner {
	return &fcPlanner{
		ctx: ctx, g: ctx.Graph, all: all,
		vals: map[string]*lval{}, fails: map[string]string{},
		folded: map[*graph.Node]bool{}, declined: map[*graph.Node]bool{},
		backs: map[string]string{}, weightDone: map[string]string{}, constDone: map[string]string{},
	}
}

func (p *fcPlanner) shape(name string) ([]int, bool) { return p.ctx.Shape(name) }

func (p *fcPlanner) info(name string) (engine.Info, bool) {
	if p.ctx.shapes == nil {
		return engine.Info{}, false
	}
	return p.ctx.shapes.Info(name)
}

func (p *fcPlanner) decline(n *graph.Node, format string, args ...any) {
	p.declined[n] = true
	p.ctx.Declined(n, format, args...)
}

func (p *fcPlanner) add(ln *lnode) {
	ln.anchor = p.cur
	if ln.out != nil {
		ln.out.prod = ln
	}
	p.steps = append(p.steps, ln)
}

// declineSubgraphs reports the FCs that sit inside If/Loop/Scan subgraphs.
func (p *fcPlanner) declineSubgraphs() {
	for _, n := range p.g.Nodes {
		for attr, subs := range n.Subgraphs {
			for _, s := range subs {
				s.Walk(func(inner *graph.Node) {
					if inner.Domain() != "" || (inner.OpType() != "Gemm" && inner.OpType() != "MatMul") {
						return
					}
					if inner.OpType() == "MatMul" && !s.IsConstant(inner.Input(1)) && !isConstChain(inner.Graph, inner.Input(1)) {
						return
					}
					where := "an If branch"
					if n.OpType() != "If" {
						where = fmt.Sprintf("the %s of a %s", attr, n.OpType())
					}
					p.ctx.Declined(inner, "inside %s (%v): not handled yet; fc-to-conv converts FCs of the main graph only", where, n)
				})
			}
		}
	}
}

func isConstChain(g *graph.Graph, name string) bool {
	for range 4 {
		if g.IsConstant(name) {
			return true
		}
		prod := g.Producer(name)
		if prod == nil || (prod.OpType() != "Transpose" && prod.OpType() != "Cast" && prod.OpType() != "Identity") {
			return false
		}
		name = prod.Input(0)
	}
	return false
}

// plan visits the main graph in topological order: FCs are checked and converted, ops reading
// converted values are carried into the 4-D world when they can be.
func (p *fcPlanner) plan() error {
	order, err := p.g.TopoOrder()
	if err != nil {
		return err
	}
	for _, n := range order {
		if n.Domain() != "" || p.folded[n] {
			continue
		}
		p.cur = n
		switch n.OpType() {
		case "Gemm", "MatMul":
			p.visitFC(n)
		default:
			p.visitForward(n)
		}
	}
	p.cur = nil
	return nil
}

func (p *fcPlanner) visitFC(n *graph.Node) {
	fc, reason := p.checkFC(n)
	if fc == nil {
		p.decline(n, "%s", reason)
		return
	}
	in, reason := p.lift(n.Input(0))
	if in == nil {
		p.decline(n, "%s", reason)
		return
	}
	if in.shape[len(in.shape)-1] != fc.k {
		p.decline(n, "input %q is %v but the weight expects %d features", n.Input(0), in.shape, fc.k)
		return
	}
	outShape, ok := p.shape(fc.out)
	if !ok {
		p.decline(n, "the shape of %q is unknown", fc.out)
		return
	}
	var rep []int
	switch in.lay {
	case layoutFlat:
		if in.rep[1]*in.rep[2]*in.rep[3] != fc.k {
			p.decline(n, "internal: map %v does not hold %d features", in.rep, fc.k)
			return
		}
		rep = []int{in.rep[0], fc.m, 1, 1}
	case layoutSeq:
		rep = []int{in.rep[0], fc.m, in.rep[2], 1}
	case layoutNHWC:
		rep = []int{in.rep[0], fc.m, in.rep[2], in.rep[3]}
	}
	if fc.add != nil {
		p.folded[fc.add] = true
	}
	ln := &lnode{kind: kFC, n: n, ins: []lin{{val: in}}, fc: fc, dies: true,
		out: &lval{orig: fc.out, lay: in.lay, shape: outShape, rep: rep, down: true}}
	p.add(ln)
	p.vals[fc.out] = ln.out
	p.fcs = append(p.fcs, ln)
}

// kernel is the Conv kernel of a converted FC.
func (ln *lnode) kernel() (c, kh, kw int) {
	in := ln.ins[0].val
	if in.lay == layoutFlat {
		return in.rep[1], in.rep[2], in.rep[3]
	}
	return in.rep[1], 1, 1
}

func (ln *lnode) macsAfter() int64 {
	c, kh, kw := ln.kernel()
	r := ln.out.rep
	return int64(r[0]) * int64(r[1]) * int64(c) * int64(kh) * int64(kw) * int64(r[2]) * int64(r[3])
}

// checkFC checks an FC node by itself: attributes, weights, bias, types.
func (p *fcPlanner) checkFC(n *graph.Node) (*fcPlan, string) {
	fc := &fcPlan{n: n, op: n.OpType(), alpha: 1, beta: 1, out: n.Output(0)}
	fc.macs = p.ctx.MACs(n)
	a, b := n.Input(0), n.Input(1)
	aShape, ok := p.shape(a)
	if !ok || b == "" {
		return nil, fmt.Sprintf("the shape of input %q is unknown", a)
	}
	if info, ok := p.info(fc.out); ok && info.DType != tensor.Float {
		return nil, fmt.Sprintf("the layer computes in %v; only float32 layers are converted", info.DType)
	}
	w, reason := p.constOf(b)
	if w == nil {
		if fc.op == "MatMul" && p.g.IsConstant(a) {
			return nil, fmt.Sprintf("the constant %q is the left operand (W·x): only x·W is a fully-connected layer here", a)
		}
		return nil, fmt.Sprintf("weight %q is not a constant: %s", b, reason)
	}
	if w.t.Rank() != 2 {
		return nil, fmt.Sprintf("weight %q is %v, not a 2-D matrix (a batched MatMul, not a fully-connected layer)", b, w.t.Shape)
	}
	if w.t.DType != tensor.Float && w.t.DType != tensor.Double && w.t.DType != tensor.Float16 {
		return nil, fmt.Sprintf("weight %q is %v; only float weights are converted", b, w.t.DType)
	}
	fc.w = w
	var transB bool
	switch fc.op {
	case "Gemm":
		if n.AttrInt("transA", 0) != 0 {
			return nil, "transA=1 (the activations enter transposed, as [K,N]): not handled; re-export the layer without transposing its input"
		}
		transB = n.AttrInt("transB", 0) != 0
		fc.alpha = n.AttrFloat("alpha", 1)
		fc.beta = n.AttrFloat("beta", 1)
		if len(aShape) != 2 {
			return nil, fmt.Sprintf("input %q is %v, not 2-D", a, aShape)
		}
	case "MatMul":
		if len(aShape) < 2 {
			return nil, fmt.Sprintf("input %q is %v (1-D): a vector-matrix product, not a batch of rows", a, aShape)
		}
		if len(aShape) > 4 {
			return nil, fmt.Sprintf("input %q is %v: %d-D activations are not handled", a, aShape, len(aShape))
		}
	}
	fc.inRank = len(aShape)
	fc.tIsMK = transB != w.transposed
	if fc.tIsMK {
		fc.m, fc.k = w.t.Shape[0], w.t.Shape[1]
	} else {
		fc.k, fc.m = w.t.Shape[0], w.t.Shape[1]
	}
	if aShape[len(aShape)-1] != fc.k {
		return nil, fmt.Sprintf("input %q is %v but the weight has %d input features", a, aShape, fc.k)
	}
	if fc.alpha != 1 {
		fc.notes = append(fc.notes, fmt.Sprintf("alpha %g folded into the weight", fc.alpha))
	}
	if fc.op == "Gemm" && n.Input(2) != "" {
		c, reason := p.constOf(n.Input(2))
		if c == nil {
			return nil, fmt.Sprintf("bias C %q is not a constant: %s", n.Input(2), reason)
		}
		if r := perFeature(c.t, 2, fc.m); r != "" {
			return nil, fmt.Sprintf("bias C %q is %v: %s", n.Input(2), c.t.Shape, r)
		}
		fc.bias = c
		if fc.beta != 1 {
			fc.notes = append(fc.notes, fmt.Sprintf("beta %g folded into the bias", fc.beta))
		}
	}
	if fc.op == "MatMul" {
		fc.add = p.foldableAdd(n, fc.m)
		if fc.add != nil {
			other := fc.add.Input(0)
			if other == n.Output(0) {
				other = fc.add.Input(1)
			}
			c, _ := p.constOf(other)
			fc.bias = c
			fc.out = fc.add.Output(0)
			fc.macs += p.ctx.MACs(fc.add)
			fc.notes = append(fc.notes, fmt.Sprintf("bias Add %q folded", fc.add.DisplayName()))
		}
	}
	return fc, ""
}

// perFeature checks that a constant broadcast against [rows, m] (rank-dim activations) is the same
// for every row: all dims but the last 1, the last m or 1.
func perFeature(t *tensor.Tensor, rank, m int) string {
	if t.Rank() > rank {
		return fmt.Sprintf("it has more dims than the %d-D output", rank)
	}
	for i := 0; i < t.Rank()-1; i++ {
		if t.Shape[i] != 1 {
			return "it varies per row, which a convolution bias cannot express"
		}
	}
	if t.Rank() > 0 && t.Shape[t.Rank()-1] != m && t.Shape[t.Rank()-1] != 1 {
		return fmt.Sprintf("its last dim is neither %d nor 1", m)
	}
	return ""
}

// foldableAdd returns the Add that adds a constant per-feature bias to a MatMul's output, when it
// is the output's only reader.
func (p *fcPlanner) foldableAdd(n *graph.Node, m int) *graph.Node {
	v := p.g.Value(n.Output(0))
	if v == nil || v.IsOutput || len(v.Consumers) != 1 {
		return nil
	}
	add := v.Consumers[0]
	if add.OpType() != "Add" || add.Domain() != "" || add.Graph != p.g || len(add.Inputs()) != 2 || add.Input(0) == add.Input(1) {
		return nil
	}
	other := add.Input(0)
	if other == n.Output(0) {
		other = add.Input(1)
	}
	c, _ := p.constOf(other)
	mmShape, ok1 := p.shape(n.Output(0))
	addShape, ok2 := p.shape(add.Output(0))
	if c == nil || c.transposed || !ok1 || !ok2 || !tensor.SameShape(mmShape, addShape) || perFeature(c.t, len(mmShape), m) != "" {
		return nil
	}
	if c.t.DType != tensor.Float && c.t.DType != tensor.Double && c.t.DType != tensor.Float16 {
		return nil
	}
	return add
}

// constOf resolves a constant: an initializer or Constant node, or the same through Transpose
// (2-D, perm [1,0]), Identity or Cast, or a value the engine folds. The reason says why not.
func (p *fcPlanner) constOf(name string) (*fcConst, string) {
	g := p.g
	t, err := g.ConstantErr(name)
	if err != nil {
		return nil, err.Error()
	}
	if t != nil {
		return &fcConst{t: t, name: name}, ""
	}
	v := g.Value(name)
	if v == nil {
		return nil, fmt.Sprintf("no value %q", name)
	}
	if v.Initializer != nil && v.Input != nil {
		return nil, fmt.Sprintf("%q is a graph input whose initializer is only a default (an IR < 4 export): "+
			"callers may override it, so it is not a constant; re-export with IR >= 4, or load the model "+
			"treating input defaults as constants", name)
	}
	prod := v.Producer
	if prod == nil {
		return nil, fmt.Sprintf("%q is a graph input, fed at run time", name)
	}
	if prod.Domain() == "" {
		switch prod.OpType() {
		case "Identity":
			return p.constOf(prod.Input(0))
		case "Transpose":
			inner, reason := p.constOf(prod.Input(0))
			if inner == nil {
				return nil, reason
			}
			perm := prod.AttrInts("perm", nil)
			if inner.t.Rank() == 2 && (perm == nil || (len(perm) == 2 && perm[0] == 1 && perm[1] == 0)) {
				c := *inner
				c.transposed = !c.transposed
				return &c, ""
			}
		case "Cast":
			inner, reason := p.constOf(prod.Input(0))
			if inner == nil {
				return nil, reason
			}
			if tensor.DType(prod.AttrInt("to", 0)) == tensor.Float {
				c := *inner
				c.t = tensor.FromFloat32(float32s(inner.t), inner.t.Shape...)
				return &c, ""
			}
		}
	}
	if info, ok := p.info(name); ok && info.Const != nil {
		return &fcConst{t: info.Const, name: name}, ""
	}
	return nil, fmt.Sprintf("it is computed at run time by %v", prod)
}

// float32s returns the elements as float32 (aliasing float32 data: do not modify).
func float32s(t *tensor.Tensor) []float32 {
	if t.DType == tensor.Float {
		return t.F32[:t.Len()]
	}
	f := t.Float64s()
	out := make([]float32, len(f))
	for i, v := range f {
		out[i] = float32(v)
	}
	return out
}

// lift returns the 4-D value standing for name, creating its source if needed.
func (p *fcPlanner) lift(name string) (*lval, string) {
	if v := p.vals[name]; v != nil {
		return v, ""
	}
	if r, failed := p.fails[name]; failed {
		return nil, r
	}
	v, r := p.source(name)
	if v == nil {
		p.fails[name] = r
		return nil, r
	}
	p.vals[name] = v
	return v, ""
}

func (p *fcPlanner) newSource(kind lkind, orig, from string, entry *graph.Node, lay layout, shape, rep []int, what string) *lval {
	v := &lval{orig: orig, lay: lay, shape: shape, rep: rep}
	ln := &lnode{kind: kind, n: entry, from: from, out: v, what: what}
	switch kind {
	case kUnsqueeze:
		if lay == layoutSeq {
			ln.axes = []int64{3}
		} else {
			ln.axes = []int64{2, 3}
		}
	case kTransposeIn:
		ln.perm = []int64{0, 3, 1, 2}
	case kReduce:
		ln.axes = []int64{2, 3}
	}
	p.add(ln)
	return v
}

// source finds or plans the 4-D stand-in of a value that is not yet in the 4-D world.
func (p *fcPlanner) source(name string) (*lval, string) {
	shape, ok := p.shape(name)
	if !ok {
		return nil, fmt.Sprintf("the shape of %q is unknown", name)
	}
	if p.g.IsConstant(name) {
		return nil, fmt.Sprintf("input %q is itself a constant: the product is computed once at load, there is no layer to convert", name)
	}
	prod := p.g.Producer(name)
	if prod != nil && prod.Graph != p.g {
		prod = nil
	}
	from := describeProducer(prod)
	switch len(shape) {
	case 2:
		v, reason := p.headEntry(name, shape, prod)
		if v != nil {
			return v, ""
		}
		// Through a carried op back to a head entry: Flatten -> Dropout -> Gemm.
		if prod != nil && carriable(prod) {
			if ln, r := p.liftOp(prod, true); ln != nil {
				return ln.out, ""
			} else if r != "" && !p.all {
				reason = fmt.Sprintf("input %q comes through %v; %s", name, prod, rootReason(r))
			}
		}
		if p.all {
			return p.newSource(kUnsqueeze, name, name, nil, layoutFlat, shape, []int{shape[0], shape[1], 1, 1},
				fmt.Sprintf("Unsqueeze %v to [%d,%d,1,1]", shape, shape[0], shape[1])), ""
		}
		return nil, reason
	case 3:
		if !p.all {
			return nil, fmt.Sprintf("input %q is %v: 3-D activations (%s), not a flattened feature map; "+
				"use --scope all to convert it (Transpose/Unsqueeze around a 1x1 Conv)", name, shape, from)
		}
		rep := []int{shape[0], shape[2], shape[1], 1}
		if prod != nil && prod.OpType() == "Transpose" && permIs(prod, 0, 2, 1) {
			return p.newSource(kUnsqueeze, name, prod.Input(0), prod, layoutSeq, shape, rep, "Unsqueeze of the [B,C,T] before "+prod.DisplayName()), ""
		}
		return p.newSource(kSeqIn, name, name, nil, layoutSeq, shape, rep, "Transpose(0,2,1) and Unsqueeze(3)"), ""
	case 4:
		if !p.all {
			return nil, fmt.Sprintf("input %q is %v: channels-last 4-D activations (%s), not a flattened feature map; "+
				"use --scope all to convert it (Transpose around a 1x1 Conv)", name, shape, from)
		}
		rep := []int{shape[0], shape[3], shape[1], shape[2]}
		if prod != nil && prod.OpType() == "Transpose" && permIs(prod, 0, 2, 3, 1) {
			return p.newSource(kSame, name, prod.Input(0), prod, layoutNHWC, shape, rep, "the NCHW map before "+prod.DisplayName()), ""
		}
		return p.newSource(kTransposeIn, name, name, nil, layoutNHWC, shape, rep, "Transpose(0,3,1,2)"), ""
	}
	return nil, fmt.Sprintf("input %q is %v: %d-D activations are not handled", name, shape, len(shape))
}

func describeProducer(n *graph.Node) string {
	if n == nil {
		return "a graph input"
	}
	return "from " + n.String()
}

func permIs(n *graph.Node, perm ...int64) bool {
	got := n.AttrInts("perm", nil)
	if len(got) != len(perm) {
		return false
	}
	for i := range perm {
		if got[i] != perm[i] {
			return false
		}
	}
	return true
}

// headEntry recognises a 2-D value [N,F] that enters a classifier head: a flattened map or a
// globally pooled one.
func (p *fcPlanner) headEntry(name string, shape []int, prod *graph.Node) (*lval, string) {
	if prod == nil {
		return nil, fmt.Sprintf("input %q is a graph input %v (an MLP without a conv trunk), not a flattened feature map; "+
			"use --scope all to convert it", name, shape)
	}
	if p.declined[prod] && (prod.OpType() == "Gemm" || prod.OpType() == "MatMul") {
		return nil, fmt.Sprintf("input %q comes from %v, which was not converted", name, prod)
	}
	x := prod.Input(0)
	xs, ok := p.shape(x)
	if prod.Domain() != "" || !ok {
		return nil, p.notEntry(name, prod)
	}
	switch prod.OpType() {
	case "Flatten":
		axis := int(prod.AttrInt("axis", 1))
		if axis < 0 {
			axis += len(xs)
		}
		if axis != 1 {
			return nil, fmt.Sprintf("input %q comes from Flatten %q with axis=%d: it does not flatten each image's map "+
				"(only axis=1 does); re-export with flatten(1), or use --scope all to convert the FC on the 2-D matrix as is",
				name, prod.DisplayName(), prod.AttrInt("axis", 1))
		}
		switch len(xs) {
		case 4:
			return p.newSource(kSame, name, x, prod, layoutFlat, shape, xs,
				fmt.Sprintf("Flatten of a %dx%dx%d map", xs[1], xs[2], xs[3])), ""
		case 2:
			return p.lift(x)
		}
		return nil, fmt.Sprintf("input %q comes from Flatten %q of a %d-D tensor %v, not an NxCxHxW map; use --scope all to convert it",
			name, prod.DisplayName(), len(xs), xs)
	case "Reshape":
		switch {
		case len(xs) == 4 && xs[0] == shape[0] && shape[1] == xs[1]*xs[2]*xs[3]:
			return p.newSource(kSame, name, x, prod, layoutFlat, shape, xs,
				fmt.Sprintf("Reshape of a %dx%dx%d map to [N,%d]", xs[1], xs[2], xs[3], shape[1])), ""
		case len(xs) == 2 && tensor.SameShape(xs, shape):
			return p.lift(x)
		}
		return nil, fmt.Sprintf("input %q comes from Reshape %q of %v to %v, which is not a flatten of an NxCxHxW map to [N,C*H*W]; "+
			"use --scope all to convert the FC as is", name, prod.DisplayName(), xs, shape)
	case "Squeeze":
		if len(xs) == 4 && xs[2] == 1 && xs[3] == 1 && xs[0] == shape[0] && xs[1] == shape[1] {
			return p.newSource(kSame, name, x, prod, layoutFlat, shape, xs, fmt.Sprintf("Squeeze of a pooled %dx1x1 map", xs[1])), ""
		}
		return nil, fmt.Sprintf("input %q comes from Squeeze %q of %v, not of a pooled [N,C,1,1] map; use --scope all", name, prod.DisplayName(), xs)
	case "ReduceMean", "ReduceMax":
		axes, reason := reduceAxes(p.g, prod, len(xs))
		if reason != "" {
			return nil, fmt.Sprintf("input %q comes from %s %q: %s", name, prod.OpType(), prod.DisplayName(), reason)
		}
		if prod.AttrInt("keepdims", 1) == 0 {
			switch {
			case len(xs) == 4 && axesEqual(axes, 2, 3):
				return p.newSource(kReduce, name, x, prod, layoutFlat, shape, []int{xs[0], xs[1], 1, 1},
					fmt.Sprintf("%s over the spatial axes with keepdims=1", prod.OpType())), ""
			case len(xs) == 3 && (axesEqual(axes, 1) || axesEqual(axes, 2)):
				return p.newSource(kUnsqueeze, name, name, prod, layoutFlat, shape, []int{shape[0], shape[1], 1, 1},
					fmt.Sprintf("Unsqueeze of the %s over axis %d of %v", prod.OpType(), axes[0], xs)), ""
			}
		}
		return nil, fmt.Sprintf("input %q comes from %s %q over axes %v of %v, not a global pooling of an NxCxHxW map "+
			"(axes [2,3], keepdims=0); use --scope all", name, prod.OpType(), prod.DisplayName(), axes, xs)
	}
	return nil, p.notEntry(name, prod)
}

func (p *fcPlanner) notEntry(name string, prod *graph.Node) string {
	return fmt.Sprintf("input %q comes from %v, which is not a head entry (Flatten(axis=1) or Reshape to [N,C*H*W] of a map, "+
		"global pooling); use --scope all to convert it anyway", name, prod)
}

// reduceAxes returns the normalised, sorted axes of a Reduce* node (attribute, or input from
// opset 18 / ReduceSum 13).
func reduceAxes(g *graph.Graph, n *graph.Node, rank int) ([]int, string) {
	var raw []int64
	if a := n.Attr("axes"); a != nil {
		raw = a.Ints
	} else if n.Input(1) != "" {
		t, ok := g.Constant(n.Input(1))
		if !ok {
			return nil, "its axes are computed at run time"
		}
		raw = t.Int64s()
	}
	if len(raw) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			return nil, "it reduces nothing (noop_with_empty_axes)"
		}
		for i := range rank {
			raw = append(raw, int64(i))
		}
	}
	axes := make([]int, len(raw))
	for i, a := range raw {
		if a < 0 {
			a += int64(rank)
		}
		axes[i] = int(a)
	}
	sort.Ints(axes)
	return axes, ""
}

func axesEqual(got []int, want ...int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

var unaryOps = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Clip": true, "Elu": true, "Selu": true,
	"Celu": true, "HardSigmoid": true, "HardSwish": true, "Softplus": true, "Softsign": true, "Gelu": true,
	"Erf": true, "Mish": true, "ThresholdedRelu": true, "Neg": true, "Abs": true, "Exp": true, "Log": true,
	"Sqrt": true, "Reciprocal": true, "Floor": true, "Ceil": true, "Round": true, "Sign": true,
	"Identity": true, "Dropout": true,
}

var binaryOps = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Max": true, "Min": true}

var reduceOps = map[string]bool{"ReduceMean": true, "ReduceMax": true, "ReduceMin": true, "ReduceSum": true}

// carriable: ops that may sit between a head entry and an FC.
func carriable(n *graph.Node) bool {
	op := n.OpType()
	return n.Domain() == "" && (unaryOps[op] || binaryOps[op] || op == "PRelu" || op == "BatchNormalization")
}

// visitForward carries a node reading converted values into the 4-D world when it can; otherwise
// the values it reads will be converted back for it.
func (p *fcPlanner) visitForward(n *graph.Node) {
	down := false
	for _, in := range n.Inputs() {
		if v := p.vals[in]; v != nil && v.down {
			down = true
		}
	}
	if !down {
		return
	}
	if n.OpType() == "Transpose" && n.Domain() == "" {
		in := p.vals[n.Input(0)]
		switch {
		case in != nil && in.lay == layoutNHWC && permIs(n, 0, 3, 1, 2):
			p.add(&lnode{kind: kAbsorb, n: n, ins: []lin{{val: in}}, dies: true})
			return
		case in != nil && in.lay == layoutSeq && permIs(n, 0, 2, 1):
			p.add(&lnode{kind: kSqueezeOut, n: n, ins: []lin{{val: in}}, dies: true, axes: []int64{3}})
			return
		}
	}
	if ln, _ := p.liftOp(n, false); ln != nil {
		ln.dies = true
		ln.out.down = true
	}
}

// otherOutputsUnused: only output 0 of n is read.
func (p *fcPlanner) otherOutputsUnused(n *graph.Node) bool {
	for i, out := range n.Outputs() {
		if i == 0 || out == "" {
			continue
		}
		if v := p.g.Value(out); v != nil && (len(v.Consumers) > 0 || v.IsOutput) {
			return false
		}
	}
	return true
}

// liftOp plans n on 4-D values. backward: n sits before an FC (its original stays).
func (p *fcPlanner) liftOp(n *graph.Node, backward bool) (*lnode, string) {
	op := n.OpType()
	out := n.Output(0)
	outShape, ok := p.shape(out)
	if !ok || n.Domain() != "" {
		return nil, ""
	}
	if !p.otherOutputsUnused(n) {
		return nil, fmt.Sprintf("%v: its extra outputs are read", n)
	}
	if v := p.vals[out]; v != nil {
		return v.prod, ""
	}
	// act lifts an activation operand; in the forward direction only values already in the 4-D
	// world or sources are used.
	act := func(name string) (*lval, string) {
		return p.lift(name)
	}
	finish := func(kind lkind, ins []lin, in *lval) (*lnode, string) {
		if !tensor.SameShape(outShape, in.shape) {
			return nil, fmt.Sprintf("%v changes the shape %v to %v", n, in.shape, outShape)
		}
		ln := &lnode{kind: kind, n: n, ins: ins, out: &lval{orig: out, lay: in.lay, shape: outShape, rep: in.rep}}
		p.add(ln)
		p.vals[out] = ln.out
		return ln, ""
	}
	switch {
	case unaryOps[op]:
		in, r := act(n.Input(0))
		if in == nil {
			return nil, r
		}
		ins := []lin{{val: in}}
		for _, extra := range n.Inputs()[1:] {
			if v := p.vals[extra]; v != nil {
				return nil, fmt.Sprintf("%v reads a converted value as a parameter", n)
			}
			ins = append(ins, lin{name: extra})
		}
		return finish(kCopy, ins, in)
	case op == "PRelu":
		in, r := act(n.Input(0))
		if in == nil {
			return nil, r
		}
		c, _ := p.constOf(n.Input(1))
		if c == nil || c.transposed {
			return nil, fmt.Sprintf("%v: its slope is not a constant", n)
		}
		k, ok := remapConst(c.t, in)
		if !ok {
			return nil, fmt.Sprintf("%v: its slope %v is not per-feature", n, c.t.Shape)
		}
		return finish(kCopy, []lin{{val: in}, {konst: k, name: n.Input(1)}}, in)
	case binaryOps[op]:
		if len(n.Inputs()) != 2 {
			return nil, ""
		}
		var ins []lin
		var first *lval
		for _, name := range n.Inputs() {
			if c, _ := p.constOf(name); c != nil && !c.transposed {
				ins = append(ins, lin{name: name})
				continue
			}
			in, r := act(name)
			if in == nil {
				return nil, r
			}
			if first != nil && (first.lay != in.lay || !tensor.SameShape(first.rep, in.rep) || !tensor.SameShape(first.shape, in.shape)) {
				return nil, fmt.Sprintf("%v combines values of different shapes", n)
			}
			if first == nil {
				first = in
			}
			ins = append(ins, lin{val: in})
		}
		if first == nil {
			return nil, ""
		}
		for i := range ins {
			if ins[i].val != nil {
				continue
			}
			c, _ := p.constOf(ins[i].name)
			k, ok := remapConst(c.t, first)
			if !ok {
				return nil, fmt.Sprintf("%v: its constant operand %q is %v, not per-feature", n, ins[i].name, c.t.Shape)
			}
			ins[i].konst = k
		}
		return finish(kCopy, ins, first)
	case op == "BatchNormalization":
		in, r := act(n.Input(0))
		if in == nil {
			return nil, r
		}
		if in.lay != layoutFlat || in.rep[2] != 1 || in.rep[3] != 1 {
			return nil, fmt.Sprintf("%v normalises each of the %d flattened features; on the %dx%dx%d map it would normalise per channel",
				n, in.shape[1], in.rep[1], in.rep[2], in.rep[3])
		}
		ins := []lin{{val: in}}
		for _, extra := range n.Inputs()[1:] {
			if p.vals[extra] != nil {
				return nil, ""
			}
			ins = append(ins, lin{name: extra})
		}
		return finish(kCopy, ins, in)
	case !backward && (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax"):
		in := p.vals[n.Input(0)]
		if in == nil || in.lay != layoutFlat || in.rep[2] != 1 || in.rep[3] != 1 || n.Opset() < 13 {
			return nil, ""
		}
		axis := n.AttrInt("axis", -1)
		if axis < 0 {
			axis += 2
		}
		if axis != 1 {
			return nil, ""
		}
		return finish(kSoftmax, []lin{{val: in}}, in)
	case !backward && reduceOps[op]:
		in := p.vals[n.Input(0)]
		if in == nil || (in.lay != layoutSeq && in.lay != layoutNHWC) {
			return nil, ""
		}
		axes, r := reduceAxes(p.g, n, len(in.shape))
		if r != "" {
			return nil, ""
		}
		keep := n.AttrInt("keepdims", 1) != 0
		var ln *lnode
		switch {
		case in.lay == layoutSeq && axesEqual(axes, 1):
			ln = &lnode{kind: kReduce, n: n, ins: []lin{{val: in}}, axes: []int64{2}}
		case in.lay == layoutNHWC && axesEqual(axes, 1, 2):
			ln = &lnode{kind: kReduce, n: n, ins: []lin{{val: in}}, axes: []int64{2, 3}}
		default:
			return nil, ""
		}
		lay := in.lay
		if !keep {
			lay = layoutFlat
		}
		ln.out = &lval{orig: out, lay: lay, shape: outShape, rep: []int{in.rep[0], in.rep[1], 1, 1}}
		p.add(ln)
		p.vals[out] = ln.out
		return ln, ""
	}
	return nil, ""
}

// remapConst turns a constant broadcast against a value of layout in.lay into one broadcast the
// same way against its 4-D stand-in. nil, true: use the constant unchanged.
func remapConst(t *tensor.Tensor, in *lval) (*tensor.Tensor, bool) {
	f := in.shape[len(in.shape)-1]
	if t.Rank() > len(in.shape) {
		return nil, false
	}
	for i := 0; i < t.Rank()-1; i++ {
		if t.Shape[i] != 1 {
			return nil, false
		}
	}
	last := 1
	if t.Rank() > 0 {
		last = t.Shape[t.Rank()-1]
	}
	switch {
	case last == 1:
		return nil, true
	case last == f && in.lay == layoutFlat:
		return t.Reshaped(in.rep[1:]...), true
	case last == f:
		return t.Reshaped(f, 1, 1), true
	}
	return nil, false
}

// report records an Application per converted FC. The nodes made for stand-ins and carried ops
// are listed with the FC they were made for (sources and ops before it) or descend from.
func (p *fcPlanner) report() {
	extra := map[*lnode][]string{}
	isFC := map[*graph.Node]*lnode{}
	for _, ln := range p.fcs {
		isFC[ln.n] = ln
	}
	for _, ln := range p.steps {
		if ln.kind == kFC || len(ln.created) == 0 {
			continue
		}
		owner := isFC[ln.anchor]
		if owner == nil {
			for _, in := range ln.ins {
				if in.val != nil {
					owner = p.fcOf(in.val)
					break
				}
			}
		}
		if owner != nil {
			extra[owner] = append(extra[owner], ln.created...)
		}
	}
	for _, ln := range p.fcs {
		fc := ln.fc
		replaced := []string{fc.n.DisplayName()}
		if fc.add != nil {
			replaced = append(replaced, fc.add.DisplayName())
		}
		c, kh, kw := ln.kernel()
		in := ln.ins[0].val
		detail := fmt.Sprintf("%s %d->%d became Conv %dx%dx%d -> %d", fc.op, fc.k, fc.m, c, kh, kw, fc.m)
		if in.lay != layoutFlat {
			detail = fmt.Sprintf("%s %d->%d on %v became Conv %dx%dx%d -> %d on %v", fc.op, fc.k, fc.m, in.shape, c, kh, kw, fc.m, in.rep)
		}
		if src := in.prod; src != nil && src.what != "" {
			detail += "; input: " + src.what
		}
		if len(fc.notes) > 0 {
			detail += "; " + strings.Join(fc.notes, ", ")
		}
		created := append([]string{}, ln.created...)
		if len(created) == 0 {
			created = []string{fc.n.DisplayName() + "_conv"}
		}
		created = append(created, extra[ln]...)
		p.ctx.Applied(Application{
			Replaced:   replaced,
			NewNodes:   created,
			Op:         fc.op,
			Detail:     detail,
			MACsBefore: fc.macs,
			MACsAfter:  ln.macsAfter(),
			Extra: map[string]any{
				"kernel": []int{kh, kw},
				"layout": in.lay.String(),
			},
		})
	}
}

// rootReason drops the "input X comes through NODE; " hop a reason from further up a chain of
// carried ops starts with, leaving the cause: a reason naming every hop of a 20,000-node chain
// would be megabytes long and cost time quadratic in the chain to build.
func rootReason(r string) string {
	const hop = " comes through "
	if first, rest, ok := strings.Cut(r, "; "); ok && strings.HasPrefix(first, "input ") && strings.Contains(first, hop) {
		return rest
	}
	return r
}
