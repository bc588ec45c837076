// Package gemm is a float32 matrix multiply for CNN inference: convolutions
// lowered to GEMM (im2col or 1×1) and fully connected layers.
//
// It follows the Goto/BLIS structure: operands are packed into panels that
// match a register-tile micro-kernel, and loops around the kernel block K, M
// and N so each packed block stays in the cache level it is reused from.
// The micro-kernel is chosen at run time (AVX-512, AVX2/FMA or portable Go).
// Constant operands (weights) can be packed once with PackA or PackB.
package gemm

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// Sgemm computes C = A·B + beta·C for row-major matrices.
// A is m×k (element (i,p) at a[i*lda+p]), or if transA, stored k×m (element (i,p) at a[p*lda+i]).
// B is k×n (element (p,j) at b[p*ldb+j]), or if transB, stored n×k (element (p,j) at b[j*ldb+p]).
// C is m×n at c[i*ldc+j]. With beta == 0, C is overwritten without being read,
// so it may hold garbage or NaN; any other beta scales the old C.
func Sgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkDims(m, n, k)
	checkMatrix("A", transA, m, k, a, lda)
	checkMatrix("B", transB, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	pr := problem{
		kern: active,
		m:    m, n: n, k: k,
		a:    matrixA{a, lda, transA},
		b:    matrixB{b, ldb, transB},
		beta: beta,
		c:    c, ldc: ldc,
	}
	pr.solve()
}

// PackedA holds a constant left operand (e.g. conv weights [Cout, Cin*kh*kw])
// packed once for reuse by SgemmPackedA.
type PackedA struct {
	kern *kernel
	m, k int
	// data holds, for each slice of K (see sliceDepth) in turn, the ceil(m/mr) panels
	// of mr rows that packA produces for it.
	data []float32
}

// Rows returns m, the number of rows of the packed matrix.
func (p *PackedA) Rows() int { return p.m }

// Cols returns k, the number of columns of the packed matrix.
func (p *PackedA) Cols() int { return p.k }

// PackA packs the m×k matrix A (stored as for Sgemm) for the current kernel.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	checkDims(m, 0, k)
	checkMatrix("A", transA, m, k, a, lda)
	kern := active
	rowsPadded := roundUp(m, kern.mr)
	pa := &PackedA{kern: kern, m: m, k: k, data: make([]float32, rowsPadded*k)}
	src := matrixA{a, lda, transA}
	step := kern.sliceDepth(k)
	for pc := 0; pc < k; pc += step {
		depth := min(step, k-pc)
		packA(kern, pa.data[pc*rowsPadded:], src, 0, m, pc, depth)
	}
	return pa
}

// panels returns the packed A panels of the K slice starting at pc (of the
// given depth) from row i0 on; i0 is a multiple of mr.
func (p *PackedA) panels(pc, depth, i0 int) []float32 {
	return p.data[pc*roundUp(p.m, p.kern.mr)+i0*depth:]
}

// SgemmPackedA computes C = A·B + beta·C with A pre-packed by PackA; B and C
// are as for Sgemm with n columns.
func SgemmPackedA(pa *PackedA, n int, b []float32, ldb int, transB bool, beta float32, c []float32, ldc int) {
	checkDims(pa.m, n, pa.k)
	checkMatrix("B", transB, pa.k, n, b, ldb)
	checkMatrix("C", false, pa.m, n, c, ldc)
	pr := problem{
		kern: pa.kern,
		m:    pa.m, n: n, k: pa.k,
		pa:   pa,
		b:    matrixB{b, ldb, transB},
		beta: beta,
		c:    c, ldc: ldc,
	}
	pr.solve()
}

// PackedB holds a constant right operand (e.g. FC weights) packed once for
// reuse by SgemmPackedB.
type PackedB struct {
	kern *kernel
	k, n int
	// data holds, for each slice of K (see sliceDepth) in turn, the ceil(n/nr) panels
	// of nr columns that packB produces for it.
	data []float32
}

// Rows returns k, the number of rows of the packed matrix.
func (p *PackedB) Rows() int { return p.k }

// Cols returns n, the number of columns of the packed matrix.
func (p *PackedB) Cols() int { return p.n }

// PackB packs the k×n matrix B (stored as for Sgemm) for the current kernel.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	checkDims(0, n, k)
	checkMatrix("B", transB, k, n, b, ldb)
	kern := active
	colsPadded := roundUp(n, kern.nr)
	pb := &PackedB{kern: kern, k: k, n: n, data: make([]float32, colsPadded*k)}
	src := matrixB{b, ldb, transB}
	step := kern.sliceDepth(k)
	for pc := 0; pc < k; pc += step {
		depth := min(step, k-pc)
		packB(kern, pb.data[pc*colsPadded:], src, pc, depth, 0, n)
	}
	return pb
}

// panels returns the packed B panels of the K slice starting at pc (of the
// given depth) from column j0 on; j0 is a multiple of nr.
func (p *PackedB) panels(pc, depth, j0 int) []float32 {
	return p.data[pc*roundUp(p.n, p.kern.nr)+j0*depth:]
}

// SgemmPackedB computes C = A·B + beta·C with B pre-packed by PackB; A and C
// are as for Sgemm with m rows.
func SgemmPackedB(m int, a []float32, lda int, transA bool, pb *PackedB, beta float32, c []float32, ldc int) {
	checkDims(m, pb.n, pb.k)
	checkMatrix("A", transA, m, pb.k, a, lda)
	checkMatrix("C", false, m, pb.n, c, ldc)
	pr := problem{
		kern: pb.kern,
		m:    m, n: pb.n, k: pb.k,
		a:    matrixA{a, lda, transA},
		pb:   pb,
		beta: beta,
		c:    c, ldc: ldc,
	}
	pr.solve()
}

// threadLimit is the SetThreads value; 0 means runtime.GOMAXPROCS(0).
var threadLimit atomic.Int64

// SetThreads sets how many goroutines a single call may use. n < 1 restores
// the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) { threadLimit.Store(int64(max(n, 0))) }

// Threads reports how many goroutines a single call may use.
func Threads() int {
	if n := threadLimit.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Kernel names the micro-kernel in use: "avx512", "avx2fma" or "generic".
func Kernel() string { return active.name }

func checkDims(m, n, k int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
}

// checkMatrix panics unless data holds a rows×cols matrix with leading
// dimension ld, stored transposed (cols×rows) when trans.
func checkMatrix(name string, trans bool, rows, cols int, data []float32, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("gemm: leading dimension of %s is %d, less than its %d stored columns", name, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(data) < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, needs %d", name, len(data), need))
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }
