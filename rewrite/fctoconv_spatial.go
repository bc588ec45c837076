package rewrite

import (
	"fmt"
	"maps"
	"slices"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/graph/onnxpb"
)

// Options.Spatial: make converted heads fully convolutional.
//
// After the conversion, each head that ends at a graph output ends with Flatten(axis=1) of a
// [N,M,h,w] Conv output. Spatial drops that Flatten (the output becomes [N,M,h,w]) and makes the
// graph inputs' H and W symbolic ("height", "width"), once two checks pass:
//   - structural: no Reshape with a constant, size-specific target shape (anything but 0 and -1
//     entries) sits upstream of a head; such a Reshape bakes the input size into the graph;
//   - dynamic: the converted graph still infers at twice the input's H and W, each head's Conv
//     output keeps its batch and channels, and every other graph output keeps its rank and batch.

// spatialStructural returns why the trunk depends on the fixed input size, or "".
func (p *fcPlanner) spatialStructural() string {
	g := p.g
	seen := map[string]bool{}
	var stack []string
	for _, ln := range p.steps {
		switch ln.kind {
		case kSame, kUnsqueeze, kTransposeIn, kSeqIn:
			stack = append(stack, ln.from)
		case kReduce:
			if len(ln.ins) == 0 {
				stack = append(stack, ln.from)
			}
		}
	}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if name == "" || seen[name] || g.IsConstant(name) {
			continue
		}
		seen[name] = true
		prod := g.Producer(name)
		if prod == nil || prod.Graph != g {
			continue
		}
		if prod.OpType() == "Reshape" && prod.Domain() == "" {
			if t, ok := g.Constant(prod.Input(1)); ok && sizeSpecific(t.Int64s()) {
				return fmt.Sprintf("Reshape %q before the head has the constant shape %v, which fixes the input size "+
					"(re-export reshapes with shapes computed from the input, e.g. without constant folding, or keep the fixed size)",
					prod.DisplayName(), t.Int64s())
			}
		}
		stack = append(stack, prod.Inputs()...)
	}
	return ""
}

// sizeSpecific: a constant Reshape target that names sizes (not only 0 = copy and -1 = infer).
func sizeSpecific(shape []int64) bool {
	for _, d := range shape {
		if d != 0 && d != -1 {
			return true
		}
	}
	return false
}

// declineSpatial reports, on each converted head that ends at a graph output, why it keeps its
// flatten.
func (p *fcPlanner) declineSpatial(reason string) {
	seen := map[*graph.Node]bool{}
	for _, b := range p.backFlat {
		if b.fc != nil && !seen[b.fc.n] {
			seen[b.fc.n] = true
			p.ctx.Declined(b.fc.n, "spatial: %s; keeping the flatten", reason)
		}
	}
	if len(seen) == 0 && len(p.fcs) > 0 {
		last := p.fcs[len(p.fcs)-1].n
		p.ctx.Declined(last, "spatial: %s; keeping the flatten", reason)
	}
}

func (p *fcPlanner) spatial() error {
	g := p.g
	var heads []*backConv
	for _, b := range p.backFlat {
		v := g.Value(b.orig)
		if v == nil || !v.IsOutput || v.Producer != b.node {
			continue
		}
		if len(v.Consumers) > 0 {
			if b.fc != nil {
				p.ctx.Declined(b.fc.n, "spatial: graph output %q is also read by %v, which needs it flat; keeping the flatten", b.orig, v.Consumers[0])
			}
			continue
		}
		heads = append(heads, b)
	}
	if len(heads) == 0 {
		if len(p.backFlat) == 0 {
			last := p.fcs[len(p.fcs)-1].n
			p.ctx.Declined(last, "spatial: no converted layer ends at a graph output through a flatten; nothing to make fully convolutional")
		}
		return nil
	}
	if reason := p.spatialStructural(); reason != "" {
		p.declineSpatial(reason)
		return nil
	}
	// Dynamic check at twice the input size.
	opts := p.ctx.Options.Engine
	opts.ShapesOnly = true
	opts.InputShapes = maps.Clone(opts.InputShapes)
	if opts.InputShapes == nil {
		opts.InputShapes = map[string][]int{}
	}
	var images []string
	for _, in := range g.InputNames() {
		s, ok := p.shape(in)
		if !ok || len(s) != 4 {
			continue
		}
		images = append(images, in)
		opts.InputShapes[in] = []int{s[0], s[1], 2 * s[2], 2 * s[3]}
	}
	if len(images) == 0 {
		p.declineSpatial("the graph has no NxCxHxW input whose size could become symbolic")
		return nil
	}
	big, err := engine.Compile(g, opts)
	if err != nil {
		p.declineSpatial(fmt.Sprintf("the graph does not infer shapes at twice the input size (%v): %v", opts.InputShapes[images[0]], err))
		return nil
	}
	shapeAt := func(prog *engine.Program, name string) []int {
		info, ok := prog.Info(name)
		if !ok {
			return nil
		}
		return info.Shape
	}
	for _, b := range heads {
		s1, _ := p.shape(b.rep)
		s2 := shapeAt(big, b.rep)
		if len(s1) != 4 || len(s2) != 4 || s1[0] != s2[0] || s1[1] != s2[1] {
			p.declineSpatial(fmt.Sprintf("the head's result %q is %v at twice the input size instead of [%d,%d,h,w]", b.rep, s2, s1[0], s1[1]))
			return nil
		}
	}
	headOut := map[string]bool{}
	for _, b := range heads {
		headOut[b.orig] = true
	}
	for _, o := range g.OutputNames() {
		if headOut[o] {
			continue
		}
		s1, _ := p.shape(o)
		s2 := shapeAt(big, o)
		if len(s1) != len(s2) || (len(s1) > 0 && s1[0] != s2[0]) {
			p.declineSpatial(fmt.Sprintf("graph output %q is %v at twice the input size (was %v)", o, s2, s1))
			return nil
		}
	}

	// Drop the flattens.
	newShapes := map[string][2][]int{}
	dropped := map[string]bool{}
	for _, b := range heads {
		s1, _ := p.shape(b.rep)
		newShapes[b.orig] = [2][]int{s1, shapeAt(big, b.rep)}
		if err := g.SetInput(b.node, 0, ""); err != nil {
			return err
		}
		if err := p.replaceValue(b.orig, b.rep); err != nil {
			return err
		}
		if err := g.RemoveNode(b.node); err != nil {
			return err
		}
		dropped[b.node.Name()] = true
		b.node = nil
	}
	// Output value_info: the converted heads get their 4-D shape; dims that follow the input size
	// become symbolic, on every output.
	spatialOuts := 0
	for _, o := range g.OutputNames() {
		s1, _ := p.shape(o)
		s2 := shapeAt(big, o)
		if ns, ok := newShapes[o]; ok {
			s1, s2 = ns[0], ns[1]
		}
		if !slices.Equal(s1, s2) || headOut[o] {
			spatialOuts++
		}
	}
	idx := 0
	for _, vi := range g.Proto.Output {
		o := vi.GetName()
		s1, _ := p.shape(o)
		s2 := shapeAt(big, o)
		if ns, ok := newShapes[o]; ok {
			s1, s2 = ns[0], ns[1]
		}
		if slices.Equal(s1, s2) && !headOut[o] {
			continue
		}
		idx++
		prefix := "out"
		if spatialOuts > 1 {
			prefix = fmt.Sprintf("out%d", idx)
		}
		setShape(vi, s1, s2, prefix, oldParams(vi))
	}
	for i, in := range images {
		vi := g.ValueInfo(in)
		if vi == nil {
			continue
		}
		h, w := "height", "width"
		if i > 0 {
			h, w = fmt.Sprintf("height_%d", i+1), fmt.Sprintf("width_%d", i+1)
		}
		dims := vi.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) == 4 {
			dims[2] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: h}}
			dims[3] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: w}}
		}
		s, _ := p.shape(in)
		eng := &p.ctx.Options.Engine
		eng.Dims = maps.Clone(eng.Dims)
		if eng.Dims == nil {
			eng.Dims = map[string]int{}
		}
		eng.Dims[h], eng.Dims[w] = s[2], s[3]
	}
	// value_info of intermediate values whose size follows the input goes.
	var stale []string
	for _, vi := range g.Proto.ValueInfo {
		if s1, ok := p.shape(vi.GetName()); ok && !slices.Equal(s1, shapeAt(big, vi.GetName())) {
			stale = append(stale, vi.GetName())
		}
	}
	g.DropValueInfo(stale...)
	if err := p.ctx.RefreshShapes(); err != nil {
		return fmt.Errorf("after making the heads spatial: %w", err)
	}
	// Note it on the applications of this pass.
	for i := range p.ctx.Report.Applied {
		a := &p.ctx.Report.Applied[i]
		if a.Pass != p.ctx.pass.Name {
			continue
		}
		a.NewNodes = slices.DeleteFunc(a.NewNodes, func(n string) bool { return dropped[n] })
		for _, b := range heads {
			if b.fc != nil && slices.Contains(a.Replaced, b.fc.n.DisplayName()) {
				if a.Extra == nil {
					a.Extra = map[string]any{}
				}
				a.Extra["spatial"] = true
				a.Extra["dims"] = maps.Clone(p.ctx.Options.Engine.Dims)
				ns := newShapes[b.orig]
				a.Detail += fmt.Sprintf("; spatial: output %q is now %v (%v at twice the input size)", b.orig, ns[0], ns[1])
			}
		}
	}
	return nil
}

// oldParams keeps the symbolic names an output already had, by axis.
func oldParams(vi *onnxpb.ValueInfoProto) map[int]string {
	out := map[int]string{}
	for i, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
		if d.GetDimParam() != "" {
			out[i] = d.GetDimParam()
		}
	}
	return out
}

// setShape rewrites a value_info's shape: dims equal at both sizes keep their value (or their old
// symbolic name), the others become symbolic.
func setShape(vi *onnxpb.ValueInfoProto, s1, s2 []int, prefix string, params map[int]string) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return
	}
	names := []string{"batch", "channels", "height", "width"}
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(s1))
	for i, d := range s1 {
		switch {
		case params[i] != "" && (i == 0 || (i < len(s2) && s2[i] == d)):
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: params[i]}}
		case i < len(s2) && s2[i] == d:
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
		default:
			name := fmt.Sprintf("%s_dim%d", prefix, i)
			if len(s1) == 4 {
				name = prefix + "_" + names[i]
			}
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: name}}
		}
	}
	tt.Shape = &onnxpb.TensorShapeProto{Dim: dims}
}
