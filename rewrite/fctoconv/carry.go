package fctoconv

// Carried ops: the ops between and after converted FCs, re-emitted on the 4-D stand-ins.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

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
		if c == nil || c.Transposed {
			return nil, fmt.Sprintf("%v: its slope is not a constant", n)
		}
		k, ok := remapConst(c.T, in)
		if !ok {
			return nil, fmt.Sprintf("%v: its slope %v is not per-feature", n, c.T.Shape)
		}
		return finish(kCopy, []lin{{val: in}, {konst: k, name: n.Input(1)}}, in)
	case binaryOps[op]:
		if len(n.Inputs()) != 2 {
			return nil, ""
		}
		var ins []lin
		var first *lval
		for _, name := range n.Inputs() {
			if c, _ := p.constOf(name); c != nil && !c.Transposed {
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
			k, ok := remapConst(c.T, first)
			if !ok {
				return nil, fmt.Sprintf("%v: its constant operand %q is %v, not per-feature", n, ins[i].name, c.T.Shape)
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
