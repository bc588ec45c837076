package fctoconv

// Options.Spatial: make converted heads fully convolutional.
//
// After the conversion, each head that ends at a graph output ends with Flatten(axis=1) of a
// [N,M,h,w] Conv output. Spatial drops that Flatten (the output becomes [N,M,h,w]) and makes the
// graph inputs' H and W symbolic ("height", "width"), once two checks pass:
//   - structural: no Reshape with a constant, size-specific target shape (anything but 0 and -1
//     entries) sits upstream of a head; such a Reshape bakes the input size into the graph;
//   - dynamic: the converted graph still infers at twice the input's H and W, each head's Conv
//     output keeps its batch and channels, and every other graph output keeps its rank and batch.
// The pass then returns "height" and "width" bound to the input's sizes (rewrite.Result.Dims), and
// the heads' outputs as reshaped on purpose.

import (
	"fmt"
	"maps"
	"slices"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
)

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

// spatialHeads is what spatial made of the heads, for the report and the pass's result.
type spatialHeads struct {
	heads []*backConv
	// shapes holds each head output's shape at the input size and at twice it.
	shapes map[string][2][]int
	// dropped are the names of the Flatten nodes removed.
	dropped map[string]bool
	// bound are the symbolic input dims spatial introduced, bound to the sizes the graph had;
	// dims are all the dims the result compiles with.
	bound, dims map[string]int
}

// spatial makes the converted heads that end at a graph output fully convolutional, or declines
// with the reason (nil, nil). It runs after apply, on the shapes the pass received: the values it
// looks at are original ones (their shapes did not change) and the heads' stand-ins, whose shapes
// the plan knows.
func (p *fcPlanner) spatial() (*spatialHeads, error) {
	heads := p.spatialCandidates()
	if len(heads) == 0 {
		return nil, nil
	}
	if reason := p.spatialStructural(); reason != "" {
		p.declineSpatial(reason)
		return nil, nil
	}
	big, images, reason := p.inferAtTwiceTheSize(heads)
	if reason != "" {
		p.declineSpatial(reason)
		return nil, nil
	}
	return p.dropFlattens(heads, big, images)
}

// spatialCandidates are the converted heads whose flatten only feeds a graph output.
func (p *fcPlanner) spatialCandidates() []*backConv {
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
	if len(heads) == 0 && len(p.backFlat) == 0 {
		last := p.fcs[len(p.fcs)-1].n
		p.ctx.Declined(last, "spatial: no converted layer ends at a graph output through a flatten; nothing to make fully convolutional")
	}
	return heads
}

// inferAtTwiceTheSize is the dynamic check: the converted graph still infers at twice the input's
// H and W, each head's Conv output keeps its batch and channels, and every other graph output
// keeps its rank and batch. It returns the shapes at that size and the image inputs, or why not.
func (p *fcPlanner) inferAtTwiceTheSize(heads []*backConv) (*engine.Program, []string, string) {
	g := p.g
	opts := p.ctx.Engine
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
		return nil, nil, "the graph has no NxCxHxW input whose size could become symbolic"
	}
	big, err := engine.Compile(g, opts)
	if err != nil {
		return nil, nil, fmt.Sprintf("the graph does not infer shapes at twice the input size (%v): %v", opts.InputShapes[images[0]], err)
	}
	for _, b := range heads {
		s1, s2 := b.repShape, shapeAt(big, b.rep)
		if len(s1) != 4 || len(s2) != 4 || s1[0] != s2[0] || s1[1] != s2[1] {
			return nil, nil, fmt.Sprintf("the head's result %q is %v at twice the input size instead of [%d,%d,h,w]", b.rep, s2, s1[0], s1[1])
		}
	}
	headOut := headOutputs(heads)
	for _, o := range g.OutputNames() {
		if headOut[o] {
			continue
		}
		s1, _ := p.shape(o)
		s2 := shapeAt(big, o)
		if len(s1) != len(s2) || (len(s1) > 0 && s1[0] != s2[0]) {
			return nil, nil, fmt.Sprintf("graph output %q is %v at twice the input size (was %v)", o, s2, s1)
		}
	}
	return big, images, ""
}

func shapeAt(prog *engine.Program, name string) []int {
	info, ok := prog.Info(name)
	if !ok {
		return nil
	}
	return info.Shape
}

func headOutputs(heads []*backConv) map[string]bool {
	out := map[string]bool{}
	for _, b := range heads {
		out[b.orig] = true
	}
	return out
}

// dropFlattens removes the heads' flattens, declares the outputs with symbolic dims where their
// size follows the input's, and makes the image inputs' H and W symbolic.
func (p *fcPlanner) dropFlattens(heads []*backConv, big *engine.Program, images []string) (*spatialHeads, error) {
	g := p.g
	sp := &spatialHeads{heads: heads, shapes: map[string][2][]int{}, dropped: map[string]bool{}, bound: map[string]int{}}
	for _, b := range heads {
		sp.shapes[b.orig] = [2][]int{b.repShape, shapeAt(big, b.rep)}
		if err := g.SetInput(b.node, 0, ""); err != nil {
			return nil, err
		}
		if err := p.replaceValue(b.orig, b.rep); err != nil {
			return nil, err
		}
		if err := g.RemoveNode(b.node); err != nil {
			return nil, err
		}
		sp.dropped[b.node.Name()] = true
		b.node = nil
	}
	p.declareOutputs(sp, big)
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
			dims[2], dims[3] = graph.DimParam(h), graph.DimParam(w)
		}
		s, _ := p.shape(in)
		sp.bound[h], sp.bound[w] = s[2], s[3]
	}
	sp.dims = maps.Clone(p.ctx.Engine.Dims)
	if sp.dims == nil {
		sp.dims = map[string]int{}
	}
	maps.Copy(sp.dims, sp.bound)
	// value_info of intermediate values whose size follows the input goes.
	var stale []string
	for _, vi := range g.Proto.ValueInfo {
		if s1, ok := p.shape(vi.GetName()); ok && !slices.Equal(s1, shapeAt(big, vi.GetName())) {
			stale = append(stale, vi.GetName())
		}
	}
	g.DropValueInfo(stale...)
	return sp, nil
}

// declareOutputs rewrites the outputs' value_info: the converted heads get their 4-D shape; dims
// that follow the input size become symbolic, on every output.
func (p *fcPlanner) declareOutputs(sp *spatialHeads, big *engine.Program) {
	g := p.g
	headOut := headOutputs(sp.heads)
	shapesOf := func(o string) (s1, s2 []int) {
		if ns, ok := sp.shapes[o]; ok {
			return ns[0], ns[1]
		}
		s1, _ = p.shape(o)
		return s1, shapeAt(big, o)
	}
	spatialOuts := 0
	for _, o := range g.OutputNames() {
		if s1, s2 := shapesOf(o); !slices.Equal(s1, s2) || headOut[o] {
			spatialOuts++
		}
	}
	idx := 0
	for _, vi := range g.Proto.Output {
		o := vi.GetName()
		s1, s2 := shapesOf(o)
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
	if vi.GetType().GetTensorType() == nil {
		return
	}
	names := []string{"batch", "channels", "height", "width"}
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(s1))
	for i, d := range s1 {
		switch {
		case params[i] != "" && (i == 0 || (i < len(s2) && s2[i] == d)):
			dims[i] = graph.DimParam(params[i])
		case i < len(s2) && s2[i] == d:
			dims[i] = graph.DimValue(int64(d))
		default:
			name := fmt.Sprintf("%s_dim%d", prefix, i)
			if len(s1) == 4 {
				name = prefix + "_" + names[i]
			}
			dims[i] = graph.DimParam(name)
		}
	}
	graph.SetDims(vi, dims)
}
