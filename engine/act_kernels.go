package engine

// This file is the vector-kernel layer of the element-wise ops: the float32 loops of the hot
// activations (Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Sigmoid, Exp, Tanh) and of same-shape and
// scalar-operand Add, Sub and Mul. Each loop has a portable Go version (genericVecKernels) and,
// on amd64, AVX-512 and AVX2 assembly versions (act_kernels_amd64.go); vec points at the best the
// CPU runs. Ops call through vec at run time, so tests can swap in each variant.

// vecKernels is one implementation of every vector loop. Each writes len(src) (or len(a))
// elements of dst; dst may alias an input.
type vecKernels struct {
	name        string
	relu        func(dst, src []float32)
	clip        func(dst, src []float32, lo, hi float32) // min(max(x, lo), hi); NaN stays NaN
	leakyRelu   func(dst, src []float32, alpha float32)
	hardSigmoid func(dst, src []float32, alpha, beta float32) // clamp(alpha*x + beta, 0, 1)
	hardSwish   func(dst, src []float32, alpha, beta float32) // x * clamp(alpha*x + beta, 0, 1)
	sigmoid     func(dst, src []float32)
	silu        func(dst, src []float32) // x * sigmoid(x), bit for bit as Sigmoid then Mul give it
	exp         func(dst, src []float32)
	tanh        func(dst, src []float32)
	add         func(dst, a, b []float32)
	sub         func(dst, a, b []float32)
	mul         func(dst, a, b []float32)
	addScalar   func(dst, a []float32, s float32)
	mulScalar   func(dst, a []float32, s float32)
}

// vec is the implementation in use: the fastest this CPU supports.
var vec = bestVecKernels()

// genericVecKernels are plain Go loops, for CPUs without the vector kernels and for the tails the
// AVX2 kernels leave.
var genericVecKernels = &vecKernels{
	name: "generic",
	relu: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = max(v, 0) // branch-free: a branch on the sign mispredicts half the time
		}
	},
	clip: func(dst, src []float32, lo, hi float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = min(max(v, lo), hi) // NaN stays NaN, as in numpy.clip
		}
	},
	leakyRelu: func(dst, src []float32, alpha float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = max(v, 0) + alpha*min(v, 0) // branch-free
		}
	},
	hardSigmoid: func(dst, src []float32, alpha, beta float32) {
		dst = dst[:len(src)]
		for i, x := range src {
			dst[i] = min(max(alpha*x+beta, 0), 1)
		}
	},
	hardSwish: func(dst, src []float32, alpha, beta float32) {
		dst = dst[:len(src)]
		for i, x := range src {
			dst[i] = x * min(max(alpha*x+beta, 0), 1)
		}
	},
	sigmoid: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = sigmoid32(v)
		}
	},
	silu: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = v * sigmoid32(v)
		}
	},
	exp: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = exp32(v)
		}
	},
	tanh: func(dst, src []float32) {
		dst = dst[:len(src)]
		for i, v := range src {
			dst[i] = tanh32(v)
		}
	},
	add: func(dst, a, b []float32) {
		dst, b = dst[:len(a)], b[:len(a)]
		for i := range a {
			dst[i] = a[i] + b[i]
		}
	},
	sub: func(dst, a, b []float32) {
		dst, b = dst[:len(a)], b[:len(a)]
		for i := range a {
			dst[i] = a[i] - b[i]
		}
	},
	mul: func(dst, a, b []float32) {
		dst, b = dst[:len(a)], b[:len(a)]
		for i := range a {
			dst[i] = a[i] * b[i]
		}
	},
	addScalar: func(dst, a []float32, s float32) {
		dst = dst[:len(a)]
		for i := range a {
			dst[i] = a[i] + s
		}
	},
	mulScalar: func(dst, a []float32, s float32) {
		dst = dst[:len(a)]
		for i := range a {
			dst[i] = a[i] * s
		}
	},
}

// vecArithRows returns the float32 loops of Add, Sub and Mul through the vector kernels, and false
// for the other ops. a - s is a + (-s) exactly; s - b keeps the Go loop (rare: only constants on
// the left).
func vecArithRows(op arithOp) (binaryRows[float32, float32], bool) {
	switch op {
	case opAdd, opMean:
		return binaryRows[float32, float32]{
			vv: func(o, a, b []float32) { vec.add(o, a, b) },
			vs: func(o, a []float32, b float32) { vec.addScalar(o, a, b) },
			sv: func(o []float32, a float32, b []float32) { vec.addScalar(o, b, a) },
		}, true
	case opSub:
		return binaryRows[float32, float32]{
			vv: func(o, a, b []float32) { vec.sub(o, a, b) },
			vs: func(o, a []float32, b float32) { vec.addScalar(o, a, -b) },
			sv: func(o []float32, a float32, b []float32) {
				o = o[:len(b)]
				for i := range b {
					o[i] = a - b[i]
				}
			},
		}, true
	case opMul:
		return binaryRows[float32, float32]{
			vv: func(o, a, b []float32) { vec.mul(o, a, b) },
			vs: func(o, a []float32, b float32) { vec.mulScalar(o, a, b) },
			sv: func(o []float32, a float32, b []float32) { vec.mulScalar(o, b, a) },
		}, true
	}
	return binaryRows[float32, float32]{}, false
}
