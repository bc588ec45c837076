package fctoconv

// The 4-D world: the values and nodes fc-to-conv plans before it edits anything.

import (
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/rewrite"
	"github.com/fcconv/fcconv/tensor"
)

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

func (k lkind) String() string {
	return [...]string{"stand-in", "Unsqueeze", "Transpose", "Transpose+Unsqueeze", "Reduce", "Conv", "carried op",
		"Softmax", "absorbed Transpose", "Squeeze"}[k]
}

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
	w      *graph.ResolvedConstant
	tIsMK  bool // w.T is stored [M,K] (else [K,M])
	alpha  float32
	bias   *graph.ResolvedConstant // nil: none
	beta   float32
	add    *graph.Node // the Add folded into a MatMul
	out    string      // the value the conversion replaces (FC output, or the folded Add's)
	inRank int
	notes  []string
	macs   int64 // before
}

type fcPlanner struct {
	ctx   *rewrite.Context
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
	// repShape is the stand-in's shape (4-D).
	repShape []int
}

func newFCPlanner(ctx *rewrite.Context, all bool) *fcPlanner {
	return &fcPlanner{
		ctx: ctx, g: ctx.Graph, all: all,
		vals: map[string]*lval{}, fails: map[string]string{},
		folded: map[*graph.Node]bool{}, declined: map[*graph.Node]bool{},
		backs: map[string]string{}, weightDone: map[string]string{}, constDone: map[string]string{},
	}
}

func (p *fcPlanner) shape(name string) ([]int, bool) { return p.ctx.Shape(name) }

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
