package fctoconv

// Checking: an FC by itself (attributes, weights, bias, types), with the reason when it cannot be converted.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// checkFC checks an FC node by itself: attributes, weights, bias, types.
func (p *fcPlanner) checkFC(n *graph.Node) (*fcPlan, string) {
	fc := &fcPlan{n: n, op: n.OpType(), alpha: 1, beta: 1, out: n.Output(0)}
	fc.macs = p.ctx.MACs(n)
	a, b := n.Input(0), n.Input(1)
	aShape, ok := p.shape(a)
	if !ok || b == "" {
		return nil, fmt.Sprintf("the shape of input %q is unknown", a)
	}
	if info, ok := p.ctx.Info(fc.out); ok && info.DType != tensor.Float {
		return nil, fmt.Sprintf("the layer computes in %v; only float32 layers are converted", info.DType)
	}
	w, reason := p.constOf(b)
	if w == nil {
		if fc.op == "MatMul" && p.g.IsConstant(a) {
			return nil, fmt.Sprintf("the constant %q is the left operand (W·x): only x·W is a fully-connected layer here", a)
		}
		return nil, fmt.Sprintf("weight %q is not a constant: %s", b, reason)
	}
	if w.T.Rank() != 2 {
		return nil, fmt.Sprintf("weight %q is %v, not a 2-D matrix (a batched MatMul, not a fully-connected layer)", b, w.T.Shape)
	}
	if w.T.DType != tensor.Float && w.T.DType != tensor.Double && w.T.DType != tensor.Float16 {
		return nil, fmt.Sprintf("weight %q is %v; only float weights are converted", b, w.T.DType)
	}
	fc.w = w
	var transB bool
	switch fc.op {
	case "Gemm":
		if n.AttrInt("transA", 0) != 0 {
			return nil, "transA=1 (the activations enter transposed, as [K,N]): not handled; re-export the layer without transposing its input"
		}
		transB = n.AttrInt("transB", 0) != 0
		fc.alpha = n.AttrFloat("alpha", 1)
		fc.beta = n.AttrFloat("beta", 1)
		if len(aShape) != 2 {
			return nil, fmt.Sprintf("input %q is %v, not 2-D", a, aShape)
		}
	case "MatMul":
		if len(aShape) < 2 {
			return nil, fmt.Sprintf("input %q is %v (1-D): a vector-matrix product, not a batch of rows", a, aShape)
		}
		if len(aShape) > 4 {
			return nil, fmt.Sprintf("input %q is %v: %d-D activations are not handled", a, aShape, len(aShape))
		}
	}
	fc.inRank = len(aShape)
	fc.tIsMK = transB != w.Transposed
	if fc.tIsMK {
		fc.m, fc.k = w.T.Shape[0], w.T.Shape[1]
	} else {
		fc.k, fc.m = w.T.Shape[0], w.T.Shape[1]
	}
	if aShape[len(aShape)-1] != fc.k {
		return nil, fmt.Sprintf("input %q is %v but the weight has %d input features", a, aShape, fc.k)
	}
	if fc.alpha != 1 {
		fc.notes = append(fc.notes, fmt.Sprintf("alpha %g folded into the weight", fc.alpha))
	}
	if fc.op == "Gemm" && n.Input(2) != "" {
		c, reason := p.constOf(n.Input(2))
		if c == nil {
			return nil, fmt.Sprintf("bias C %q is not a constant: %s", n.Input(2), reason)
		}
		if r := perFeature(c.T, 2, fc.m); r != "" {
			return nil, fmt.Sprintf("bias C %q is %v: %s", n.Input(2), c.T.Shape, r)
		}
		fc.bias = c
		if fc.beta != 1 {
			fc.notes = append(fc.notes, fmt.Sprintf("beta %g folded into the bias", fc.beta))
		}
	}
	if fc.op == "MatMul" {
		fc.add = p.foldableAdd(n, fc.m)
		if fc.add != nil {
			other := fc.add.Input(0)
			if other == n.Output(0) {
				other = fc.add.Input(1)
			}
			c, _ := p.constOf(other)
			fc.bias = c
			fc.out = fc.add.Output(0)
			fc.macs += p.ctx.MACs(fc.add)
			fc.notes = append(fc.notes, fmt.Sprintf("bias Add %q folded", fc.add.DisplayName()))
		}
	}
	return fc, ""
}

// perFeature checks that a constant broadcast against [rows, m] (rank-dim activations) is the same
// for every row: all dims but the last 1, the last m or 1.
func perFeature(t *tensor.Tensor, rank, m int) string {
	if t.Rank() > rank {
		return fmt.Sprintf("it has more dims than the %d-D output", rank)
	}
	for i := 0; i < t.Rank()-1; i++ {
		if t.Shape[i] != 1 {
			return "it varies per row, which a convolution bias cannot express"
		}
	}
	if t.Rank() > 0 && t.Shape[t.Rank()-1] != m && t.Shape[t.Rank()-1] != 1 {
		return fmt.Sprintf("its last dim is neither %d nor 1", m)
	}
	return ""
}

// foldableAdd returns the Add that adds a constant per-feature bias to a MatMul's output, when it
// is the output's only reader.
func (p *fcPlanner) foldableAdd(n *graph.Node, m int) *graph.Node {
	v := p.g.Value(n.Output(0))
	if v == nil || v.IsOutput || len(v.Consumers) != 1 {
		return nil
	}
	add := v.Consumers[0]
	if add.OpType() != "Add" || add.Domain() != "" || add.Graph != p.g || len(add.Inputs()) != 2 || add.Input(0) == add.Input(1) {
		return nil
	}
	other := add.Input(0)
	if other == n.Output(0) {
		other = add.Input(1)
	}
	c, _ := p.constOf(other)
	mmShape, ok1 := p.shape(n.Output(0))
	addShape, ok2 := p.shape(add.Output(0))
	if c == nil || c.Transposed || !ok1 || !ok2 || !tensor.SameShape(mmShape, addShape) || perFeature(c.T, len(mmShape), m) != "" {
		return nil
	}
	if c.T.DType != tensor.Float && c.T.DType != tensor.Double && c.T.DType != tensor.Float16 {
		return nil
	}
	return add
}

// constOf resolves a constant with the resolver all passes share (graph.ResolveConstant: an
// initializer or Constant node, or the same through Transpose (2-D, perm [1,0]), Identity or Cast,
// or a value the engine folds). The reason says why not.
func (p *fcPlanner) constOf(name string) (*graph.ResolvedConstant, string) {
	c, err := p.ctx.Constant(name)
	if c == nil {
		return nil, err.Error()
	}
	return c, ""
}
