// This file fuses activations into the node that produces their input: the producer's kernel (or
// the engine right after it) applies the activation while the output is in cache, and the
// activation node compiles to a view. SiLU, exported as Mul(x, Sigmoid(x)), fuses the same way or
// runs as one pass.

package engine

import (
	"math"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// activationAfterKernel are the ops whose following activation the engine applies right after
// their kernel when their builder does not apply it itself: the output is then still in cache,
// and the activation's step and pass over memory go away (Add + Relu ends each ResNet block).
var activationAfterKernel = map[string]bool{"Add": true, "BatchNormalization": true, "Gemm": true, "MatMul": true}

// applyAfterKernel makes b's kernel apply act to its single float output after computing it.
func applyAfterKernel(b *Build, act *Activation) {
	makeKernel := b.kernelMaker()
	b.Kernel, b.AppliesFused = nil, true
	b.Prepare = func() Kernel {
		kernel := makeKernel()
		return func(rc *RunContext, in, out []*tensor.Tensor) error {
			if err := kernel(rc, in, out); err != nil {
				return err
			}
			act.apply(out[0].F32)
			return nil
		}
	}
}

// fusedActivationView is the build of an activation node fused into its input's producer: its
// output is that input, already activated.
func fusedActivationView(in Info) *Build {
	return &Build{Outputs: []Info{{DType: in.DType, Shape: append([]int{}, in.Shape...)}}, Views: map[int]int{0: 0}}
}

// fusibleActivation returns the activation that n's builder may apply to its output, and the
// activation's nodes: n must have one output, not a graph output, read only by an activation of
// fixed parameters, or only by the Sigmoid and Mul of a SiLU pattern (see siluPattern). With
// KeepIntermediates nothing is fused: every value must then keep its own contents for the
// layerwise comparison.
func (c *compiler) fusibleActivation(n *graph.Node) (*Activation, []*graph.Node) {
	if c.opts.KeepIntermediates || len(n.Outputs()) != 1 || n.Output(0) == "" {
		return nil, nil
	}
	g := c.prog.graph
	v := g.Value(n.Output(0))
	if v == nil || v.IsOutput {
		return nil, nil
	}
	if len(v.Consumers) == 2 {
		for i, s := range v.Consumers {
			if m, x, ok := c.siluPattern(s); ok && x == v.Name && v.Consumers[1-i] == m {
				return &Activation{Kind: ActSiLU}, []*graph.Node{s, m}
			}
		}
		return nil, nil
	}
	if len(v.Consumers) != 1 {
		return nil, nil
	}
	act := v.Consumers[0]
	if act.Domain() != "" || len(act.Outputs()) != 1 || act.Input(0) != v.Name {
		return nil, nil
	}
	for _, in := range act.Inputs()[1:] {
		if in == v.Name {
			return nil, nil
		}
	}
	if a := activationOf(act, g); a != nil {
		return a, []*graph.Node{act}
	}
	return nil, nil
}

// siluPattern reports whether s is the Sigmoid of a SiLU exported as Mul(x, Sigmoid(x)) (either
// operand order), and returns the Mul and x: s's output is read only by the Mul and is not a graph
// output (the Mul's may be: it gets SiLU's value either way). Never with KeepIntermediates, which
// needs the sigmoid's own values.
func (c *compiler) siluPattern(s *graph.Node) (m *graph.Node, x string, ok bool) {
	if c.opts.KeepIntermediates || s.OpType() != "Sigmoid" || s.Domain() != "" ||
		len(s.Inputs()) != 1 || len(s.Outputs()) != 1 || s.Input(0) == "" || s.Output(0) == "" {
		return nil, "", false
	}
	g := c.prog.graph
	x = s.Input(0)
	sv := g.Value(s.Output(0))
	if sv == nil || sv.IsOutput || len(sv.Consumers) != 1 {
		return nil, "", false
	}
	m = sv.Consumers[0]
	if m.OpType() != "Mul" || m.Domain() != "" || len(m.Inputs()) != 2 || len(m.Outputs()) != 1 || m.Output(0) == "" {
		return nil, "", false
	}
	if a, b := m.Input(0), m.Input(1); !(a == x && b == sv.Name || a == sv.Name && b == x) {
		return nil, "", false
	}
	return m, x, true
}

// siluBuild compiles the Sigmoid and Mul of a SiLU pattern whose x's producer did not apply it:
// the Mul runs one SiLU pass over x, and the Sigmoid becomes a view of x that nothing reads (its
// value is only the Mul's operand, which reads x instead). It returns nil for other nodes.
func (c *compiler) siluBuild(n *graph.Node, infos []Info) *Build {
	if xname, ok := c.siluMuls[n]; ok {
		xi := 0
		if n.Input(1) == xname {
			xi = 1
		}
		x := infos[xi]
		return &Build{
			Outputs: []Info{{DType: tensor.Float, Shape: append([]int{}, x.Shape...)}},
			Kernel: func(rc *RunContext, in, out []*tensor.Tensor) error {
				vec.silu(out[0].F32, in[xi].F32)
				return nil
			},
		}
	}
	m, xname, ok := c.siluPattern(n)
	if !ok || len(infos) != 1 || infos[0].DType != tensor.Float || infos[0].Const != nil {
		return nil
	}
	if c.siluMuls == nil {
		c.siluMuls = map[*graph.Node]string{}
	}
	c.siluMuls[m] = xname
	return fusedActivationView(infos[0])
}

// activationOf describes an activation node as an Activation, or returns nil when the node is
// not an activation or its parameters are not compile-time constants.
func activationOf(n *graph.Node, g *graph.Graph) *Activation {
	inf := float32(math.Inf(1))
	typed := &Node{Node: n} // typed attribute reads: a mistyped one leaves the node unfused, to fail in its builder
	switch n.OpType() {
	case "Relu":
		return &Activation{Kind: ActClamp, Lo: 0, Hi: inf}
	case "Clip":
		return clipActivation(n, g)
	case "LeakyRelu":
		alpha := typed.AttrFloat("alpha", 0.01)
		if typed.attrErr == nil {
			return &Activation{Kind: ActLeakyRelu, Alpha: alpha}
		}
	case "HardSigmoid":
		alpha, beta := typed.AttrFloat("alpha", 0.2), typed.AttrFloat("beta", 0.5)
		if typed.attrErr == nil {
			return &Activation{Kind: ActHardSigmoid, Alpha: alpha, Beta: beta}
		}
	case "HardSwish":
		return &Activation{Kind: ActHardSwish, Alpha: 1.0 / 6, Beta: 0.5}
	}
	return nil
}

// clipActivation reads Clip's bounds: attributes before opset 11, constant scalar inputs after.
func clipActivation(n *graph.Node, g *graph.Graph) *Activation {
	a := &Activation{Kind: ActClamp, Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
	if n.Opset() < 11 {
		a.Lo, a.Hi = n.AttrFloat("min", a.Lo), n.AttrFloat("max", a.Hi)
		return a
	}
	for i, bound := range []*float32{&a.Lo, &a.Hi} {
		name := n.Input(i + 1)
		if name == "" {
			continue
		}
		t, ok := g.Constant(name)
		if !ok || t.DType != tensor.Float || t.Len() != 1 {
			return nil
		}
		*bound = t.F32[0]
	}
	return a
}
