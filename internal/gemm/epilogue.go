package gemm

import "fmt"

// Epilogue is applied to C once its values are final, one column panel at a time right after the
// micro-kernels wrote it, while it is in L1:
//
//	C[i][j] = min(max(C[i][j] + Bias[i], Lo), Hi)
//
// A convolution's bias and ReLU-like activation then cost no pass of their own over an output
// that has long left the cache. NaNs pass through the clamp.
type Epilogue struct {
	Bias   []float32 // one value per row of C; nil for none
	Lo, Hi float32   // the clamp; -Inf and +Inf for none
}

// FastEpilogue reports whether the active kernel applies an Epilogue with vector code. Without it
// the Go loop is slower than a separate vectorised pass, so callers should keep theirs.
func FastEpilogue() bool { return active.epilogue != nil }

// finish applies the problem's epilogue to rows [i0, i0+rows) and columns [j0, j0+cols) of C.
func (pr *problem) finish(i0, rows, j0, cols int) {
	ep := pr.ep
	if ep == nil || rows <= 0 || cols <= 0 {
		return
	}
	c := pr.c[i0*pr.ldc+j0:]
	var bias []float32
	if ep.Bias != nil {
		bias = ep.Bias[i0 : i0+rows]
	}
	if pr.kern.epilogue != nil {
		pr.kern.epilogue(c, pr.ldc, rows, cols, bias, ep.Lo, ep.Hi)
		return
	}
	genericEpilogue(c, pr.ldc, rows, cols, bias, ep.Lo, ep.Hi)
}

func genericEpilogue(c []float32, ldc, rows, cols int, bias []float32, lo, hi float32) {
	for i := range rows {
		var b float32
		if bias != nil {
			b = bias[i]
		}
		row := c[i*ldc : i*ldc+cols]
		for j, v := range row {
			row[j] = min(max(v+b, lo), hi)
		}
	}
}

func checkEpilogue(ep *Epilogue, m int) {
	if ep != nil && ep.Bias != nil && len(ep.Bias) < m {
		panic(fmt.Sprintf("gemm: epilogue bias has %d values for %d rows", len(ep.Bias), m))
	}
}

// SgemmPackedAEpilogue is SgemmPackedA followed by ep.
func SgemmPackedAEpilogue(threads int, pa *PackedA, n int, b []float32, ldb int, transB bool, beta float32, c []float32, ldc int, ep *Epilogue) {
	checkEpilogue(ep, pa.m)
	sgemmPackedA(threads, pa, n, b, ldb, transB, beta, c, ldc, ep)
}

// SgemmPackedAGatherEpilogue is SgemmPackedAGather followed by ep.
func SgemmPackedAGatherEpilogue(threads int, pa *PackedA, n int, b []float32, rows []int, beta float32, c []float32, ldc int, ep *Epilogue) {
	checkEpilogue(ep, pa.m)
	sgemmPackedAGather(threads, pa, n, b, rows, beta, c, ldc, ep)
}
