package fctoconv

// Reporting: one Application per converted FC.

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/rewrite"
)

// report records an Application per converted FC, with what spatial did (sp, nil when it did
// not run or declined). The nodes made for stand-ins and carried ops
// are listed with the FC they were made for (sources and ops before it) or descend from.
func (p *fcPlanner) report(sp *spatialHeads) {
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
		a := rewrite.Application{
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
		}
		if sp != nil {
			sp.note(&a)
		}
		p.ctx.Applied(a)
	}
}

// note adds to a converted FC's application what spatial did: the dropped flattens leave its new
// nodes, and a head that became fully convolutional says so.
func (sp *spatialHeads) note(a *rewrite.Application) {
	a.NewNodes = slices.DeleteFunc(a.NewNodes, func(n string) bool { return sp.dropped[n] })
	for _, b := range sp.heads {
		if b.fc != nil && slices.Contains(a.Replaced, b.fc.n.DisplayName()) {
			a.Extra["spatial"] = true
			a.Extra["dims"] = maps.Clone(sp.dims)
			ns := sp.shapes[b.orig]
			a.Detail += fmt.Sprintf("; spatial: output %q is now %v (%v at twice the input size)", b.orig, ns[0], ns[1])
		}
	}
}
