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

//go:noescape
func poolMax3S2AVX2(dst, src *float32, n int)

//go:noescape
func poolMax2S2AVX2(dst, src *float32, n int)

// poolMaxS2Vector sets dst[i] to the maximum of src[2i : 2i+k] (k 2 or 3) for a leading
// multiple of 8 of dst that src covers, and returns how many it did.
func poolMaxS2Vector(dst, src []float32, k int) int {
	n := min(len(dst), (len(src)-k+1)/2) &^ 7
	if !poolHasAVX2 || n <= 0 {
		return 0
	}
	if k == 3 {
		_ = src[2*n+1]
		poolMax3S2AVX2(&dst[0], &src[0], n)
	} else {
		_ = src[2*n-1]
		poolMax2S2AVX2(&dst[0], &src[0], n)
	}
	return n
}

//go:noescape
func poolMaxVS2AVX2(dst, src *float32, w, rows, k int)

// poolMaxVS2Vector sets dst[r*w+x] to the maximum over t < k (2 or 3) of src[(2r+t)*w+x] for
// r < rows, x < w, and reports whether it did (it needs w >= 8).
func poolMaxVS2Vector(dst, src []float32, w, rows, k int) bool {
	if !poolHasAVX2 || w < 8 || rows <= 0 {
		return false
	}
	_ = dst[rows*w-1]
	_ = src[(2*rows-2+k)*w-1]
	poolMaxVS2AVX2(&dst[0], &src[0], w, rows, k)
	return true
}
