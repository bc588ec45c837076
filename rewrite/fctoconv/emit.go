package fctoconv

// Emitting: the graph edits that carry out the plan.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// apply edits the graph as planned: it emits the 4-D world (stand-in sources, Convs, carried ops),
// converts values back where readers outside it need them, and removes what became unused. That
// every graph output kept its shape is checked where the result is compiled next
// (rewrite.CheckOutputShapes): inferring the shapes again here would cost a compile.
func (p *fcPlanner) apply() error {
	g := p.g
	var binds [][2]string
	for _, ln := range p.steps {
		if err := p.emit(ln, &binds); err != nil {
			return err
		}
	}
	// Original values that go away: readers outside the 4-D world get them converted back.
	dying := map[*graph.Node]bool{}
	for _, ln := range p.steps {
		if ln.dies {
			dying[ln.n] = true
			if ln.fc != nil && ln.fc.add != nil {
				dying[ln.fc.add] = true
			}
		}
	}
	for _, ln := range p.steps {
		v := ln.out
		if v == nil || !v.down {
			continue
		}
		gv := g.Value(v.orig)
		needed := gv.IsOutput
		for _, c := range gv.Consumers {
			if !dying[c] {
				needed = true
			}
		}
		if !needed {
			continue
		}
		back, err := p.convertBack(v)
		if err != nil {
			return err
		}
		binds = append(binds, [2]string{v.orig, back})
	}
	for _, b := range binds {
		if err := p.replaceValue(b[0], b[1]); err != nil {
			return fmt.Errorf("rebinding %q: %w", b[0], err)
		}
	}
	g.RemoveUnused()
	p.dropStaleValueInfo()
	if !g.IsSorted() {
		if err := g.Sort(); err != nil {
			return err
		}
	}
	return nil
}

// dropStaleValueInfo removes value_info entries of values that no longer exist.
func (p *fcPlanner) dropStaleValueInfo() {
	var stale []string
	for _, vi := range p.g.Proto.ValueInfo {
		if p.g.Value(vi.GetName()) == nil {
			stale = append(stale, vi.GetName())
		}
	}
	p.g.DropValueInfo(stale...)
}

// nodeBase names new nodes after the original node (or value) they stand for.
func nodeBase(n *graph.Node, fallback string) string {
	if n != nil {
		return n.DisplayName()
	}
	return fallback
}

// addNode inserts a node before the anchor and returns its output name.
func (p *fcPlanner) addNode(ln *lnode, op, name string, inputs []string, attrs ...*onnxpb.AttributeProto) (string, error) {
	g := p.g
	name = g.UniqueName(name)
	out := g.UniqueName(name + "_output_0")
	before := ln.anchor
	if before != nil && before.Graph != g {
		before = nil
	}
	n, err := g.AddNode(before, op, name, inputs, []string{out}, attrs...)
	if err != nil {
		return "", err
	}
	ln.created = append(ln.created, n.Name())
	return out, nil
}

// axesNode adds an Unsqueeze/Squeeze with the axes as attribute (opset < 13) or input.
func (p *fcPlanner) axesNode(ln *lnode, op, name, in string, axes []int64) (string, error) {
	if p.g.Model.Opset("") >= 13 {
		an := p.g.AddInitializer(name+"_axes", tensor.FromInt64(append([]int64{}, axes...), len(axes)))
		return p.addNode(ln, op, name, []string{in, an})
	}
	return p.addNode(ln, op, name, []string{in}, graph.IntsAttr("axes", axes...))
}

// reduceNode adds a Reduce* with keepdims=1 over axes, in the opset's form.
func (p *fcPlanner) reduceNode(ln *lnode, op, name, in string, axes []int64) (string, error) {
	inputFrom := int64(18)
	if op == "ReduceSum" {
		inputFrom = 13
	}
	if p.g.Model.Opset("") >= inputFrom {
		an := p.g.AddInitializer(name+"_axes", tensor.FromInt64(append([]int64{}, axes...), len(axes)))
		return p.addNode(ln, op, name, []string{in, an}, graph.IntAttr("keepdims", 1))
	}
	return p.addNode(ln, op, name, []string{in}, graph.IntsAttr("axes", axes...), graph.IntAttr("keepdims", 1))
}

func (p *fcPlanner) emit(ln *lnode, binds *[][2]string) error {
	var err error
	var out string
	name := func(suffix string) string { return nodeBase(ln.n, ln.from) + suffix }
	in0 := func() string { return ln.ins[0].val.name }
	switch ln.kind {
	case kSame:
		out = ln.from
	case kUnsqueeze:
		out, err = p.axesNode(ln, "Unsqueeze", nodeBase(nil, ln.from)+"_unsqueeze", ln.from, ln.axes)
	case kTransposeIn:
		out, err = p.addNode(ln, "Transpose", ln.from+"_nchw", []string{ln.from}, graph.IntsAttr("perm", ln.perm...))
	case kSeqIn:
		var t string
		if t, err = p.addNode(ln, "Transpose", ln.from+"_bct", []string{ln.from}, graph.IntsAttr("perm", 0, 2, 1)); err == nil {
			out, err = p.axesNode(ln, "Unsqueeze", ln.from+"_bct1", t, []int64{3})
		}
	case kReduce:
		src := ln.from
		if len(ln.ins) > 0 {
			src = in0()
		}
		out, err = p.reduceNode(ln, ln.n.OpType(), name("_4d"), src, ln.axes)
	case kFC:
		out, err = p.emitConv(ln)
	case kCopy:
		var inputs []string
		for i, in := range ln.ins {
			switch {
			case in.val != nil:
				inputs = append(inputs, in.val.name)
			case in.konst != nil:
				inputs = append(inputs, p.remappedConst(in.name, in.konst))
			default:
				inputs = append(inputs, ln.n.Input(i))
			}
		}
		attrs := cloneAttrs(ln.n.Proto.Attribute)
		out, err = p.addNode(ln, ln.n.OpType(), name("_4d"), inputs, attrs...)
	case kSoftmax:
		var attrs []*onnxpb.AttributeProto
		for _, a := range cloneAttrs(ln.n.Proto.Attribute) {
			if a.GetName() != "axis" {
				attrs = append(attrs, a)
			}
		}
		attrs = append(attrs, graph.IntAttr("axis", 1))
		out, err = p.addNode(ln, ln.n.OpType(), name("_4d"), []string{in0()}, attrs...)
	case kAbsorb:
		*binds = append(*binds, [2]string{ln.n.Output(0), in0()})
		return nil
	case kSqueezeOut:
		var sq string
		if sq, err = p.axesNode(ln, "Squeeze", name("_squeeze"), in0(), ln.axes); err == nil {
			*binds = append(*binds, [2]string{ln.n.Output(0), sq})
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("emitting %s for %q: %w", ln.kind.String(), nodeBase(ln.n, ln.from), err)
	}
	ln.out.name = out
	return nil
}

func cloneAttrs(attrs []*onnxpb.AttributeProto) []*onnxpb.AttributeProto {
	out := make([]*onnxpb.AttributeProto, len(attrs))
	for i, a := range attrs {
		out[i] = proto.Clone(a).(*onnxpb.AttributeProto)
	}
	return out
}
