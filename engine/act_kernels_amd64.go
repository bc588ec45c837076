package engine

import "golang.org/x/sys/cpu"

//go:generate go run act_genkernels.go

// hasAVX512 tells whether the AVX-512 kernels run: they need DQ (VPMOVQ2M, VXORPS on zmm) and VL
// (masked ymm loads and stores) besides F.
var hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL

// bestVecKernels picks AVX-512, or AVX2 with FMA, else the Go loops.
func bestVecKernels() *vecKernels {
	switch {
	case hasAVX512:
		return avx512VecKernels
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return avx2VecKernels
	}
	return genericVecKernels
}

// availableVecKernels lists the variants this CPU runs, best first (for tests and benchmarks).
func availableVecKernels() []*vecKernels {
	var ks []*vecKernels
	if hasAVX512 {
		ks = append(ks, avx512VecKernels)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2VecKernels)
	}
	return append(ks, genericVecKernels)
}

// The assembly loops (act_kernels_amd64.s, generated). The AVX-512 ones take any n (masked
// tails); the AVX2 ones a multiple of 8.

//go:noescape
func reluAVX512(dst, src *float32, n int)

//go:noescape
func clipAVX512(dst, src *float32, n int, lo, hi float32)

//go:noescape
func leakyReluAVX512(dst, src *float32, n int, alpha float32)

//go:noescape
func hardSigmoidAVX512(dst, src *float32, n int, alpha, beta float32)

//go:noescape
func hardSwishAVX512(dst, src *float32, n int, alpha, beta float32)

//go:noescape
func sigmoidAVX512(dst, src *float32, n int)

//go:noescape
func expAVX512(dst, src *float32, n int)

//go:noescape
func siluAVX512(dst, src *float32, n int)

//go:noescape
func tanhAVX512(dst, src *float32, n int)

//go:noescape
func addAVX512(dst, a, b *float32, n int)

//go:noescape
func subAVX512(dst, a, b *float32, n int)

//go:noescape
func mulAVX512(dst, a, b *float32, n int)

//go:noescape
func addScalarAVX512(dst, src *float32, n int, s float32)

//go:noescape
func mulScalarAVX512(dst, src *float32, n int, s float32)

//go:noescape
func reluAVX2(dst, src *float32, n int)

//go:noescape
func clipAVX2(dst, src *float32, n int, lo, hi float32)

//go:noescape
func leakyReluAVX2(dst, src *float32, n int, alpha float32)

//go:noescape
func hardSigmoidAVX2(dst, src *float32, n int, alpha, beta float32)

//go:noescape
func hardSwishAVX2(dst, src *float32, n int, alpha, beta float32)

//go:noescape
func sigmoidAVX2(dst, src *float32, n int)

//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func siluAVX2(dst, src *float32, n int)

//go:noescape
func tanhAVX2(dst, src *float32, n int)

//go:noescape
func addAVX2(dst, a, b *float32, n int)

//go:noescape
func subAVX2(dst, a, b *float32, n int)

//go:noescape
func mulAVX2(dst, a, b *float32, n int)

//go:noescape
func addScalarAVX2(dst, src *float32, n int, s float32)

//go:noescape
func mulScalarAVX2(dst, src *float32, n int, s float32)

var avx512VecKernels = &vecKernels{
	name: "avx512",
	relu: func(dst, src []float32) {
		if len(src) > 0 {
			reluAVX512(&dst[:len(src)][0], &src[0], len(src))
		}
	},
	clip: func(dst, src []float32, lo, hi float32) {
		if len(src) > 0 {
			clipAVX512(&dst[:len(src)][0], &src[0], len(src), lo, hi)
		}
	},
	leakyRelu: func(dst, src []float32, alpha float32) {
		if len(src) > 0 {
			leakyReluAVX512(&dst[:len(src)][0], &src[0], len(src), alpha)
		}
	},
	hardSigmoid: func(dst, src []float32, alpha, beta float32) {
		if len(src) > 0 {
			hardSigmoidAVX512(&dst[:len(src)][0], &src[0], len(src), alpha, beta)
		}
	},
	hardSwish: func(dst, src []float32, alpha, beta float32) {
		if len(src) > 0 {
			hardSwishAVX512(&dst[:len(src)][0], &src[0], len(src), alpha, beta)
		}
	},
	sigmoid: func(dst, src []float32) {
		if len(src) > 0 {
			sigmoidAVX512(&dst[:len(src)][0], &src[0], len(src))
		}
	},
	exp: func(dst, src []float32) {
		if len(src) > 0 {
			expAVX512(&dst[:len(src)][0], &src[0], len(src))
		}
	},
	tanh: func(dst, src []float32) {
		if len(src) > 0 {
			tanhAVX512(&dst[:len(src)][0], &src[0], len(src))
		}
	},
	silu: func(dst, src []float32) {
		if len(src) > 0 {
			siluAVX512(&dst[:len(src)][0], &src[0], len(src))
		}
	},
	add: binaryAVX512(addAVX512),
	sub: binaryAVX512(subAVX512),
	mul: binaryAVX512(mulAVX512),
	addScalar: func(dst, a []float32, s float32) {
		if len(a) > 0 {
			addScalarAVX512(&dst[:len(a)][0], &a[0], len(a), s)
		}
	},
	mulScalar: func(dst, a []float32, s float32) {
		if len(a) > 0 {
			mulScalarAVX512(&dst[:len(a)][0], &a[0], len(a), s)
		}
	},
}

// binaryAVX512 wraps a same-shape loop; the slicing checks the lengths.
func binaryAVX512(loop func(dst, a, b *float32, n int)) func(dst, a, b []float32) {
	return func(dst, a, b []float32) {
		if len(a) > 0 {
			loop(&dst[:len(a)][0], &a[0], &b[:len(a)][0], len(a))
		}
	}
}

// The AVX2 loops do whole vectors of 8; the generic loops finish the last few elements.
var avx2VecKernels = &vecKernels{
	name: "avx2",
	relu: func(dst, src []float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			reluAVX2(&dst[0], &src[0], n)
		}
		genericVecKernels.relu(dst[n:], src[n:])
	},
	clip: func(dst, src []float32, lo, hi float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			clipAVX2(&dst[0], &src[0], n, lo, hi)
		}
		genericVecKernels.clip(dst[n:], src[n:], lo, hi)
	},
	leakyRelu: func(dst, src []float32, alpha float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			leakyReluAVX2(&dst[0], &src[0], n, alpha)
		}
		genericVecKernels.leakyRelu(dst[n:], src[n:], alpha)
	},
	hardSigmoid: func(dst, src []float32, alpha, beta float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			hardSigmoidAVX2(&dst[0], &src[0], n, alpha, beta)
		}
		genericVecKernels.hardSigmoid(dst[n:], src[n:], alpha, beta)
	},
	hardSwish: func(dst, src []float32, alpha, beta float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			hardSwishAVX2(&dst[0], &src[0], n, alpha, beta)
		}
		genericVecKernels.hardSwish(dst[n:], src[n:], alpha, beta)
	},
	sigmoid: func(dst, src []float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			sigmoidAVX2(&dst[0], &src[0], n)
		}
		genericVecKernels.sigmoid(dst[n:], src[n:])
	},
	exp: func(dst, src []float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			expAVX2(&dst[0], &src[0], n)
		}
		genericVecKernels.exp(dst[n:], src[n:])
	},
	tanh: func(dst, src []float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			tanhAVX2(&dst[0], &src[0], n)
		}
		genericVecKernels.tanh(dst[n:], src[n:])
	},
	silu: func(dst, src []float32) {
		n := vectorPart(dst, src, 8)
		if n > 0 {
			siluAVX2(&dst[0], &src[0], n)
		}
		genericVecKernels.silu(dst[n:], src[n:])
	},
	add: binaryAVX2(addAVX2, genericVecKernels.add),
	sub: binaryAVX2(subAVX2, genericVecKernels.sub),
	mul: binaryAVX2(mulAVX2, genericVecKernels.mul),
	addScalar: func(dst, a []float32, s float32) {
		n := vectorPart(dst, a, 8)
		if n > 0 {
			addScalarAVX2(&dst[0], &a[0], n, s)
		}
		genericVecKernels.addScalar(dst[n:], a[n:], s)
	},
	mulScalar: func(dst, a []float32, s float32) {
		n := vectorPart(dst, a, 8)
		if n > 0 {
			mulScalarAVX2(&dst[0], &a[0], n, s)
		}
		genericVecKernels.mulScalar(dst[n:], a[n:], s)
	},
}

// vectorPart returns the length of the leading whole vectors of src, checking that dst holds as
// many elements as src (the assembly does not).
func vectorPart(dst, src []float32, lanes int) int {
	_ = dst[:len(src)]
	return len(src) / lanes * lanes
}

func binaryAVX2(loop func(dst, a, b *float32, n int), tail func(dst, a, b []float32)) func(dst, a, b []float32) {
	return func(dst, a, b []float32) {
		_ = b[:len(a)]
		n := vectorPart(dst, a, 8)
		if n > 0 {
			loop(&dst[0], &a[0], &b[0], n)
		}
		tail(dst[n:], a[n:], b[n:])
	}
}
