//go:build !amd64

package engine

import "unsafe"

// depthwiseHasAVX2 is false off amd64: the Go loop does all outputs.
var depthwiseHasAVX2 = false

// depthwiseRowVector has no vector version off amd64.
func depthwiseRowVector(out []float32, srcs []uintptr, w []float32, bias float32) int { return 0 }

// The direct kernels need AVX-512; newDepthwiseDirect never selects them off amd64.
func depthwiseDirectS1(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32) {
	panic("engine: depthwiseDirectS1 without AVX-512")
}

func depthwiseDirectS2(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32) {
	panic("engine: depthwiseDirectS2 without AVX-512")
}

func depthwiseNarrowS1(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32) {
	panic("engine: depthwiseNarrowS1 without AVX-512")
}

func depthwiseNarrowS2(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32) {
	panic("engine: depthwiseNarrowS2 without AVX-512")
}
