//go:build !amd64

package engine

var poolHasAVX2 = false

func poolMaxIntoVector(dst, src []float32) int { return 0 }

func poolMax3Vector(dst, src []float32) int { return 0 }
