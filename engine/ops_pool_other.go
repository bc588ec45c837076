//go:build !amd64

package engine

var poolHasAVX2 = false

func poolMaxIntoVector(dst, src []float32) int { return 0 }

func poolMax3Vector(dst, src []float32) int { return 0 }

func poolMaxS2Vector(dst, src []float32, k int) int { return 0 }

func poolMaxVS2Vector(dst, src []float32, w, rows, k int) bool { return false }
