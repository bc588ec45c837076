// This file holds float32 loops with a vector (AVX2) body on amd64 (vector_amd64.s) and a Go
// tail: a fill and the bias-and-clamp of fused activations.

package engine

// nnFill sets every element of v to x (a vector loop where there is one: Go does not vectorise).
func nnFill(v []float32, x float32) {
	rest := v[nnFillVector(v, x):]
	for i := range rest {
		rest[i] = x
	}
}

// nnBiasClamp sets v[i] = min(max(v[i]+bias, lo), hi).
func nnBiasClamp(v []float32, bias, lo, hi float32) {
	rest := v[nnBiasClampVector(v, bias, lo, hi):]
	for i, x := range rest {
		rest[i] = min(max(x+bias, lo), hi)
	}
}
