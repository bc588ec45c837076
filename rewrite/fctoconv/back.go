package fctoconv

// Converting back: values leave the 4-D world where something outside it reads them.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
)

// convertBack adds the nodes bringing a 4-D value back to its original form.
func (p *fcPlanner) convertBack(v *lval) (string, error) {
	if b, ok := p.backs[v.orig]; ok {
		return b, nil
	}
	ln := v.prod
	base := nodeBase(nil, v.orig)
	if len(ln.created) > 0 {
		base = ln.created[len(ln.created)-1]
	}
	var out string
	var err error
	switch v.lay {
	case layoutFlat:
		if len(v.shape) != 2 {
			return "", fmt.Errorf("internal: flat value %q is %v", v.orig, v.shape)
		}
		out, err = p.addNode(ln, "Flatten", base+"_flatten", []string{v.name}, graph.IntAttr("axis", 1))
		if err == nil {
			p.backFlat = append(p.backFlat, &backConv{orig: v.orig, rep: v.name, node: p.g.Producer(out), fc: p.fcOf(v), shape: v.shape, repShape: v.rep})
		}
	case layoutSeq:
		var sq string
		if sq, err = p.axesNode(ln, "Squeeze", base+"_squeeze", v.name, []int64{3}); err == nil {
			out, err = p.addNode(ln, "Transpose", base+"_btc", []string{sq}, graph.IntsAttr("perm", 0, 2, 1))
		}
	case layoutNHWC:
		out, err = p.addNode(ln, "Transpose", base+"_nhwc", []string{v.name}, graph.IntsAttr("perm", 0, 2, 3, 1))
	}
	if err != nil {
		return "", err
	}
	p.backs[v.orig] = out
	return out, nil
}

// fcOf finds the converted FC a 4-D value descends from.
func (p *fcPlanner) fcOf(v *lval) *lnode {
	for v != nil && v.prod != nil {
		if v.prod.kind == kFC {
			return v.prod
		}
		var next *lval
		for _, in := range v.prod.ins {
			if in.val != nil {
				next = in.val
				break
			}
		}
		v = next
	}
	return nil
}

// replaceValue makes every reader of old, and the graph output old if it is one, read t instead.
// A graph output keeps its name: t's producer is made to produce it.
func (p *fcPlanner) replaceValue(old, t string) error {
	g := p.g
	v := g.Value(old)
	if v == nil {
		return fmt.Errorf("no value %q", old)
	}
	if !v.IsOutput {
		return g.ReplaceUses(old, t)
	}
	tv := g.Value(t)
	if tv == nil || tv.Producer == nil || tv.Producer.Graph != g || len(tv.Consumers) > 0 || tv.IsOutput {
		// t cannot take the output's name (a graph input, a value with other readers): copy it.
		name := g.UniqueName(old + "_identity")
		out := g.UniqueName(name + "_output_0")
		if _, err := g.AddNode(nil, "Identity", name, []string{t}, []string{out}); err != nil {
			return err
		}
		t = out
		tv = g.Value(t)
	}
	// ReplaceUses renames t's producer to produce old only when t has no readers once old's readers
	// are moved; so park old's readers elsewhere, rename, and point them back at old.
	park := tv.Producer.Input(0)
	type use struct {
		n *graph.Node
		i int
	}
	var uses []use
	for _, c := range append([]*graph.Node{}, v.Consumers...) {
		if c.Graph != g {
			return fmt.Errorf("graph output %q is read inside a subgraph", old)
		}
		for i, in := range c.Inputs() {
			if in == old {
				uses = append(uses, use{c, i})
				if err := g.SetInput(c, i, park); err != nil {
					return err
				}
			}
		}
	}
	if err := g.ReplaceUses(old, t); err != nil {
		return err
	}
	for _, u := range uses {
		if err := g.SetInput(u.n, u.i, old); err != nil {
			return err
		}
	}
	return nil
}
