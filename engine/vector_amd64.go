// This file binds the AVX2 loops of vector_amd64.s: each does a leading multiple of 8 elements
// and returns how many, leaving the rest to a Go tail (vector.go).

package engine

import "golang.org/x/sys/cpu"

var nnHasAVX2 = cpu.X86.HasAVX2

//go:noescape
func nnFillAVX2(dst *float32, n int, x float32)

// nnFillVector fills a leading multiple of 8 of v with x and returns how many it did.
func nnFillVector(v []float32, x float32) int {
	n := len(v) &^ 7
	if !nnHasAVX2 || n == 0 {
		return 0
	}
	nnFillAVX2(&v[0], n, x)
	return n
}

//go:noescape
func nnEvensAVX2(dst, src *float32, n int)

// nnEvensVector sets dst[j] = src[2j] for a leading multiple of 8 of dst (src must hold 2j+1
// values for every j done, and is read up to 2j+2) and returns how many it did.
func nnEvensVector(dst, src []float32) int {
	n := len(dst) &^ 7
	for n > 0 && 2*n > len(src) { // the last vector reads src[2n-1]
		n -= 8
	}
	if !nnHasAVX2 || n <= 0 {
		return 0
	}
	nnEvensAVX2(&dst[0], &src[0], n)
	return n
}

//go:noescape
func nnClampAVX2(v *float32, n int, lo, hi float32)

// nnClampVector sets v[i] = min(max(v[i], lo), hi) for a leading multiple of 8 of v (NaNs stay
// NaN) and returns how many it did.
func nnClampVector(v []float32, lo, hi float32) int {
	n := len(v) &^ 7
	if !nnHasAVX2 || n == 0 {
		return 0
	}
	nnClampAVX2(&v[0], n, lo, hi)
	return n
}

//go:noescape
func nnBiasClampAVX2(v *float32, n int, bias, lo, hi float32)

// nnBiasClampVector sets v[i] = min(max(v[i]+bias, lo), hi) for a leading multiple of 8 of v
// and returns how many it did.
func nnBiasClampVector(v []float32, bias, lo, hi float32) int {
	n := len(v) &^ 7
	if !nnHasAVX2 || n == 0 {
		return 0
	}
	nnBiasClampAVX2(&v[0], n, bias, lo, hi)
	return n
}

//go:noescape
func nnSumAVX2(v *float32, n int) float32

// nnSumVector returns the sum of a leading multiple of 8 of v and how many values it added.
func nnSumVector(v []float32) (float32, int) {
	n := len(v) &^ 7
	if !nnHasAVX2 || n == 0 {
		return 0, 0
	}
	return nnSumAVX2(&v[0], n), n
}
