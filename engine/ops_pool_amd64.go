package engine

import "golang.org/x/sys/cpu"

var poolHasAVX2 = cpu.X86.HasAVX2

//go:noescape
func poolMaxIntoAVX2(dst, src *float32, n int)

//go:noescape
func poolMax3AVX2(dst, src *float32, n int)

// poolMaxIntoVector sets dst[i] = max(dst[i], src[i]) for a leading multiple of 8 of the
// elements and returns how many it did.
func poolMaxIntoVector(dst, src []float32) int {
	n := len(dst) &^ 7
	if !poolHasAVX2 || n == 0 {
		return 0
	}
	_ = src[n-1]
	poolMaxIntoAVX2(&dst[0], &src[0], n)
	return n
}

// poolMax3Vector sets dst[i] = max(src[i], src[i+1], src[i+2]) for a leading multiple of 8 of
// dst and returns how many it did.
func poolMax3Vector(dst, src []float32) int {
	n := len(dst) &^ 7
	if !poolHasAVX2 || n == 0 {
		return 0
	}
	_ = src[n+1]
	poolMax3AVX2(&dst[0], &src[0], n)
	return n
}
