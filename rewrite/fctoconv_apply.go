package rewrite

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/graph/onnxpb"
	"github.com/fcconv/fcconv/tensor"
	"google.golang.org/protobuf/proto"
)

// apply edits the graph as planned: it emits the 4-D world (stand-in sources, Convs, carried ops),
// converts values back where readers outside it need them, removes what became unused, and checks
// that every graph output kept its shape.
func (p *fcPlanner) apply() error {
	g := p.g
	outShapes := map[string][]int{}
	for _, o := range g.OutputNames() {
		if s, ok := p.shape(o); ok {
			outShapes[o] = s
		}
	}
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
	if err := p.ctx.RefreshShapes(); err != nil {
		return fmt.Errorf("after converting: %w", err)
	}
	for o, want := range outShapes {
		if got, ok := p.shape(o); !ok || !tensor.SameShape(got, want) {
			return fmt.Errorf("internal: graph output %q changed shape from %v to %v", o, want, got)
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

func (k lkind) String() string {
	return [...]string{"stand-in", "Unsqueeze", "Transpose", "Transpose+Unsqueeze", "Reduce", "Conv", "carried op",
		"Softmax", "absorbed Transpose", "Squeeze"}[k]
}

func cloneAttrs(attrs []*onnxpb.AttributeProto) []*onnxpb.AttributeProto {
	out := make([]*onnxpb.AttributeProto, len(attrs))
	for i, a := range attrs {
		out[i] = proto.Clone(a).(*onnxpb.AttributeProto)
	}
	return out
}

// remappedConst adds a reshaped copy of a constant (once per name and shape).
func (p *fcPlanner) remappedConst(orig string, t *tensor.Tensor) string {
	key := fmt.Sprintf("%s|%v", orig, t.Shape)
	if name, ok := p.constDone[key]; ok {
		return name
	}
	name := p.g.AddInitializer(orig+"_4d", t)
	p.constDone[key] = name
	return name
}

// emitConv adds the Conv of a converted FC, with its weight and bias initializers.
func (p *fcPlanner) emitConv(ln *lnode) (string, error) {
	fc := ln.fc
	c, kh, kw := ln.kernel()
	wShape := []int{fc.m, c, kh, kw}
	key := fmt.Sprintf("%s|mk=%v|t=%v|alpha=%g|%v", fc.w.name, fc.tIsMK, fc.w.transposed, fc.alpha, wShape)
	wName, ok := p.weightDone[key]
	if !ok {
		wName = p.g.AddInitializer(fc.w.name+"_conv_w", convWeight(fc, wShape))
		p.weightDone[key] = wName
	}
	inputs := []string{ln.ins[0].val.name, wName}
	if fc.bias != nil {
		bkey := fmt.Sprintf("bias|%s|beta=%g|m=%d", fc.bias.name, fc.beta, fc.m)
		bName, ok := p.weightDone[bkey]
		if !ok {
			bName = p.g.AddInitializer(fc.bias.name+"_conv_b", convBias(fc))
			p.weightDone[bkey] = bName
		}
		inputs = append(inputs, bName)
	}
	return p.addNode(ln, "Conv", fc.n.DisplayName()+"_conv", inputs, graph.IntsAttr("kernel_shape", int64(kh), int64(kw)))
}

// convWeight is W[m,k] = alpha * B'[k,m] laid out as [M,C,kh,kw] (k in C,H,W order). A weight
// already stored [M,K] with alpha 1 is shared, not copied (AddInitializer encodes it anew).
func convWeight(fc *fcPlan, shape []int) *tensor.Tensor {
	m, k := fc.m, fc.k
	src := float32s(fc.w.t)[:m*k]
	if fc.tIsMK && fc.alpha == 1 {
		return tensor.FromFloat32(src, shape...)
	}
	out := make([]float32, m*k)
	alpha := fc.alpha
	if fc.tIsMK {
		for i, v := range src {
			out[i] = alpha * v
		}
		return tensor.FromFloat32(out, shape...)
	}
	const blk = 64
	for k0 := 0; k0 < k; k0 += blk {
		for m0 := 0; m0 < m; m0 += blk {
			for kk := k0; kk < min(k0+blk, k); kk++ {
				row := src[kk*m : kk*m+m]
				for mm := m0; mm < min(m0+blk, m); mm++ {
					out[mm*k+kk] = alpha * row[mm]
				}
			}
		}
	}
	return tensor.FromFloat32(out, shape...)
}

// convBias is beta*C broadcast to [M].
func convBias(fc *fcPlan) *tensor.Tensor {
	src := float32s(fc.bias.t)
	out := make([]float32, fc.m)
	for i := range out {
		v := src[0]
		if len(src) == fc.m {
			v = src[i]
		}
		out[i] = fc.beta * v
	}
	return tensor.FromFloat32(out, fc.m)
}

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
			p.backFlat = append(p.backFlat, &backConv{orig: v.orig, rep: v.name, node: p.g.Producer(out), fc: p.fcOf(v), shape: v.shape})
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
