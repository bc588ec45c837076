package fctoconv

// Weights: the Conv weights and biases of converted FCs, and the remapped constants of carried ops.

import (
	"fmt"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// emitConv adds the Conv of a converted FC, with its weight and bias initializers.
func (p *fcPlanner) emitConv(ln *lnode) (string, error) {
	fc := ln.fc
	c, kh, kw := ln.kernel()
	wShape := []int{fc.m, c, kh, kw}
	key := fmt.Sprintf("%s|mk=%v|t=%v|alpha=%g|%v", fc.w.Name, fc.tIsMK, fc.w.Transposed, fc.alpha, wShape)
	wName, ok := p.weightDone[key]
	if !ok {
		wName = p.g.AddInitializer(fc.w.Name+"_conv_w", convWeight(fc, wShape))
		p.weightDone[key] = wName
	}
	inputs := []string{ln.ins[0].val.name, wName}
	if fc.bias != nil {
		bkey := fmt.Sprintf("bias|%s|beta=%g|m=%d", fc.bias.Name, fc.beta, fc.m)
		bName, ok := p.weightDone[bkey]
		if !ok {
			bName = p.g.AddInitializer(fc.bias.Name+"_conv_b", convBias(fc))
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
	src := fc.w.T.AsFloat32()[:m*k]
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
	src := fc.bias.T.AsFloat32()
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
