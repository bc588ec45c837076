//go:build !amd64

// Without amd64 the vector loops do no elements: the Go tails (vector.go) do them all.

package engine

func nnFillVector(v []float32, x float32) int { return 0 }

func nnEvensVector(dst, src []float32) int { return 0 }

func nnClampVector(v []float32, lo, hi float32) int { return 0 }

func nnBiasClampVector(v []float32, bias, lo, hi float32) int { return 0 }

func nnSumVector(v []float32) (float32, int) { return 0, 0 }
