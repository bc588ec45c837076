package engine

//go:generate go run dw_genkernels.go

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// depthwiseHasAVX2 selects the assembly row kernel.
var depthwiseHasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func depthwiseRowAVX2(out *float32, n int, srcs *uintptr, w *float32, k int, bias float32)

// depthwiseRowVector computes the first multiple-of-8 outputs of a row with AVX2 and returns how
// many it did; the caller finishes the rest.
func depthwiseRowVector(out []float32, srcs []uintptr, w []float32, bias float32) int {
	n := len(out) &^ 7
	if !depthwiseHasAVX2 || n == 0 || len(srcs) == 0 {
		return 0
	}
	_ = w[len(srcs)-1]
	depthwiseRowAVX2(&out[0], n, &srcs[0], &w[0], len(srcs), bias)
	return n
}

// depthwiseDirectS1 and depthwiseDirectS2 compute one output plane of a direct depthwise conv of
// horizontal stride 1 or 2 (see ops_conv_depthwise_direct.go); they need AVX-512.
//
//go:noescape
func depthwiseDirectS1(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32)

//go:noescape
func depthwiseDirectS2(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32)

// depthwiseNarrowS1 and depthwiseNarrowS2 compute one output plane of at most 16 columns (see
// dwNarrowDesc); they need AVX-512.
//
//go:noescape
func depthwiseNarrowS1(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32)

//go:noescape
func depthwiseNarrowS2(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32)
