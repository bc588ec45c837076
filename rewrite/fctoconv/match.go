package fctoconv

// Matching: the walk over the main graph that finds the FCs and the ops reading converted values.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
)

// declineSubgraphs reports the FCs that sit inside If/Loop/Scan subgraphs.
func (p *fcPlanner) declineSubgraphs() {
	for _, n := range p.g.Nodes {
		for _, a := range n.Proto.GetAttribute() { // in file order: Subgraphs is a map
			attr, subs := a.GetName(), n.Subgraphs[a.GetName()]
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
