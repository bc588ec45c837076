// This file describes the activations the engine fuses into the node producing their input
// (see fuse.go) and applies them to a float32 slice.

package engine

import (
	"math"
)

// ActivationKind is the function of an Activation.
type ActivationKind int

const (
	ActClamp       ActivationKind = iota // min(max(x, Lo), Hi): Relu and Clip
	ActLeakyRelu                         // x if x >= 0, else Alpha*x
	ActHardSigmoid                       // clamp(Alpha*x + Beta, 0, 1)
	ActHardSwish                         // x * clamp(Alpha*x + Beta, 0, 1)
	ActSiLU                              // x * sigmoid(x): Mul(x, Sigmoid(x))
)

// Activation is an element-wise float function fused into the node producing its input.
type Activation struct {
	Kind        ActivationKind
	Lo, Hi      float32 // ActClamp bounds (Relu: 0, +Inf)
	Alpha, Beta float32
}

// apply computes the activation of v in place, as the activation's own kernel would.
func (a *Activation) apply(v []float32) {
	switch a.Kind {
	case ActClamp:
		lo, hi := a.Lo, a.Hi
		rest := v[nnClampVector(v, lo, hi):]
		for i, x := range rest {
			rest[i] = min(max(x, lo), hi)
		}
	case ActLeakyRelu:
		for i, x := range v {
			v[i] = max(x, 0) + a.Alpha*min(x, 0)
		}
	case ActHardSigmoid:
		for i, x := range v {
			v[i] = min(max(a.Alpha*x+a.Beta, 0), 1)
		}
	case ActHardSwish:
		for i, x := range v {
			v[i] = x * min(max(a.Alpha*x+a.Beta, 0), 1)
		}
	case ActSiLU:
		vec.silu(v, v)
	}
}

// applyWithBias computes the activation of v + bias in place: one pass for clamps, so a GEMM's
// output gets its bias and activation while it is in cache, instead of a bias fill before the
// GEMM (which then reads it back) and an activation pass after.
func (a *Activation) applyWithBias(v []float32, bias float32) {
	if a.Kind != ActClamp {
		nnBiasClamp(v, bias, float32(math.Inf(-1)), float32(math.Inf(1)))
		a.apply(v)
		return
	}
	nnBiasClamp(v, bias, a.Lo, a.Hi)
}
