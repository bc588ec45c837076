package bottleneck

// Factorising: a chosen conv becomes the reducing 1x1 conv and the conv from r channels.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/lowrank"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// factorisation is the site's factorisation, made now (plain SVD) if only the values were computed.
func (s *convSite) factorisation() (*lowrank.Factorisation, error) {
	if s.fact == nil {
		f, err := lowrank.Plain(s.matrix)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", s.node, err)
		}
		s.fact = f
	}
	return s.fact, nil
}

// convWeights are the two convs' weights at rank r, as tensors.
func (s *convSite) convWeights(r int) (reduce, expand *tensor.Tensor) {
	left, right := s.fact.Factors(r)
	red, exp := lowrank.ConvWeights(left, right, s.cout, s.taps)
	reduceShape := append([]int{r, s.cin}, ones(len(s.kernel))...)
	expandShape := append([]int{s.cout, r}, s.kernel...)
	return tensor.FromFloat32(red, reduceShape...), tensor.FromFloat32(exp, expandShape...)
}

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// factoriseConv rewrites conv n of g in place into the two convs with the given weights: a new 1x1
// reducing conv is inserted before it, and n itself keeps its name, output, bias and attributes but
// reads the reduced activation with the new weight. It returns the new node's name.
func factoriseConv(g *graph.Graph, n *graph.Node, reduce, expand *tensor.Tensor, strideReduced bool) (string, error) {
	base := n.DisplayName()
	reduceW := g.AddInitializer(base+"_reduce_weight", reduce)
	expandW := g.AddInitializer(base+"_expand_weight", expand)
	mid := g.UniqueName(n.Output(0) + "_bottleneck")
	attrs := []*onnxpb.AttributeProto{graph.IntsAttr("kernel_shape", ones64(len(reduce.Shape)-2)...)}
	if strideReduced {
		attrs = append(attrs, graph.IntsAttr("strides", n.AttrInts("strides", nil)...))
		removeAttr(n, "strides")
	}
	reducer, err := g.AddNode(n, "Conv", base+"_reduce", []string{n.Input(0), reduceW}, []string{mid}, attrs...)
	if err != nil {
		return "", err
	}
	oldW := n.Input(1)
	if err := g.SetInput(n, 0, mid); err != nil {
		return "", err
	}
	if err := g.SetInput(n, 1, expandW); err != nil {
		return "", err
	}
	removeUnusedConstant(g, oldW)
	return reducer.Name(), nil
}

func ones64(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// removeAttr deletes a node attribute (the editing API has none; attributes are not indexed).
func removeAttr(n *graph.Node, name string) {
	kept := n.Proto.Attribute[:0]
	for _, a := range n.Proto.Attribute {
		if a.GetName() != name {
			kept = append(kept, a)
		}
	}
	n.Proto.Attribute = kept
}

// removeUnusedConstant deletes a weight nothing reads any more: its initializer or Constant node,
// and the Identity, Cast or Transpose nodes the shared constant resolver found it through.
func removeUnusedConstant(g *graph.Graph, name string) {
	for len(g.Consumers(name)) == 0 {
		if g.Initializer(name) != nil {
			_ = g.RemoveInitializer(name) // fails only for a graph input, which must stay
			return
		}
		p := g.Producer(name)
		if p == nil || p.Graph != g || p.Domain() != "" {
			return
		}
		switch p.OpType() {
		case "Constant":
			_ = g.RemoveNode(p)
			return
		case "Identity", "Cast", "Transpose":
			next := p.Input(0)
			if err := g.RemoveNode(p); err != nil {
				return
			}
			name = next
		default:
			return
		}
	}
}
