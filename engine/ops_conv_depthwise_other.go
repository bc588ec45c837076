//go:build !amd64

package engine

// depthwiseHasAVX2 is false off amd64: the Go loop does all outputs.
var depthwiseHasAVX2 = false

// depthwiseRowVector has no vector version off amd64.
func depthwiseRowVector(out []float32, srcs []uintptr, w []float32, bias float32) int { return 0 }
