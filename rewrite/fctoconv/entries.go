package fctoconv

// Entries: how a value enters the 4-D world (a head entry, or with --scope all any 2-D, 3-D or
// channels-last activation).

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

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
