// This file folds constants: a node whose inputs are all known at compile time runs once while
// compiling, and its outputs become constants (shape arithmetic such as Shape -> Gather -> Concat
// -> Reshape).

package engine

import (
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// tryFold runs a node at compile time when all its inputs are constants and its outputs are small,
// turning its outputs into constants.
func (c *compiler) tryFold(n *graph.Node, b *Build, infos []Info) (bool, error) {
	if len(c.subReads) > 0 { // its subgraphs read values only known at run time
		return false, nil
	}
	for _, in := range infos {
		if !in.Absent && in.Const == nil {
			return false, nil
		}
	}
	// Every output the builder declared gets a tensor, omitted ones too (see absent.go).
	outs := make([]*tensor.Tensor, outputCount(n, b))
	for i, info := range b.Outputs {
		if info.Const != nil {
			outs[i] = info.Const
			continue
		}
		if tensor.NumElements(info.Shape) > c.opts.FoldLimit {
			return false, nil
		}
	}
	in := make([]*tensor.Tensor, len(infos))
	for i, info := range infos {
		in[i] = info.Const
	}
	needKernel := false
	for i := range outs {
		if outs[i] != nil || i >= len(b.Outputs) {
			continue
		}
		if src, isView := b.Views[i]; isView {
			outs[i] = in[src].Reshaped(b.Outputs[i].Shape...)
		} else {
			outs[i] = tensor.New(b.Outputs[i].DType, b.Outputs[i].Shape...)
			needKernel = true
		}
	}
	if needKernel {
		if kernel := b.kernel(); kernel != nil {
			if err := kernel(&RunContext{prog: c.prog, outer: c.outerConst}, in, outs); err != nil {
				return false, err
			}
		}
	}
	for i, name := range n.Outputs() {
		if name != "" {
			c.newSlot(name, Info{DType: outs[i].DType, Shape: outs[i].Shape, Const: outs[i]}, slotConst)
		}
	}
	return true, nil
}

// outerConst serves outer-scope constants to kernels folded at compile time.
func (c *compiler) outerConst(name string) *tensor.Tensor {
	if info, ok := c.lookup(name); ok {
		return info.Const
	}
	return nil
}
