package gemm

import (
	"sync"

	"github.com/fcconv/fcconv/internal/workers"
)

// minWorkPerThread is the least work, in multiply-adds (m·n·k), each goroutine of a split call
// gets (tens of µs). Below workers.MinParallelWork a call runs on the calling goroutine.
const minWorkPerThread = 1 << 19

// problem is one C = A·B + beta·C call with checked arguments.
type problem struct {
	kern    *kernel
	m, n, k int
	a       matrixA
	pa      *PackedA // if non-nil, A comes pre-packed and a is unused
	b       matrixB
	pb      *PackedB // if non-nil, B comes pre-packed and b is unused
	beta    float32
	c       []float32
	ldc     int
	threads int       // goroutines the call may use; 1 (or less) runs it on the calling one
	ep      *Epilogue // applied to C once final, or nil
}

func (pr *problem) solve() {
	switch {
	case pr.m == 0 || pr.n == 0:
	case pr.k == 0:
		for i := range pr.m {
			scaleRow(pr.c[i*pr.ldc:i*pr.ldc+pr.n], pr.beta)
		}
	case pr.m == 1 && pr.pa == nil && pr.pb == nil:
		// Packing B would cost more than the product itself.
		pr.solveRowVector()
	case pr.n == 1 && pr.pa == nil && pr.pb == nil && !pr.a.trans:
		pr.solveColumnVector()
	case pr.n == 1 && pr.pa != nil:
		pr.solvePackedColumnVector()
	default:
		pr.solveBlocked() // macroKernel applies the epilogue panel by panel
		return
	}
	pr.finish(0, pr.m, 0, pr.n)
}

// scaleRow sets c = beta·c, never reading c when beta == 0.
func scaleRow(c []float32, beta float32) {
	switch beta {
	case 0:
		clear(c)
	case 1:
	default:
		for j := range c {
			c[j] *= beta
		}
	}
}

// threadCount returns how many goroutines a call of the given work should use.
func (pr *problem) threadCount(work int) int {
	if work < workers.MinParallelWork || pr.threads <= 1 {
		return 1
	}
	return max(1, min(pr.threads, work/minWorkPerThread))
}

// splitRange cuts [0, n) into at most parts contiguous ranges whose
// boundaries are multiples of unit, as evenly as units allow.
func splitRange(n, unit, parts int) []int {
	units := (n + unit - 1) / unit
	parts = max(1, min(parts, units))
	bounds := make([]int, parts+1)
	for i := range bounds {
		bounds[i] = min(n, i*units/parts*unit)
	}
	return bounds
}

// parallel runs body on each range of bounds, the first on this goroutine.
func parallel(bounds []int, body func(lo, hi int)) {
	parts := len(bounds) - 1
	workers.Run(parts, parts, func(i int) { body(bounds[i], bounds[i+1]) })
}

// solveBlocked splits C over goroutines along its longer side (so each gets
// whole register tiles) and runs the blocked algorithm on each part.
func (pr *problem) solveBlocked() {
	threads := pr.threadCount(pr.m * pr.n * pr.k)
	if threads == 1 {
		pr.solveBlock(0, pr.m, 0, pr.n)
		return
	}
	if pr.n >= pr.m {
		parallel(splitRange(pr.n, pr.kern.nr, threads), func(lo, hi int) { pr.solveBlock(0, pr.m, lo, hi) })
	} else {
		parallel(splitRange(pr.m, pr.kern.mr, threads), func(lo, hi int) { pr.solveBlock(lo, hi, 0, pr.n) })
	}
}

// Pools of packing buffers, one per operand since their sizes differ.
var packPoolA, packPoolB sync.Pool

func getBuffer(pool *sync.Pool, n int) *[]float32 {
	if buf, ok := pool.Get().(*[]float32); ok && cap(*buf) >= n {
		*buf = (*buf)[:n]
		return buf
	}
	buf := make([]float32, n)
	return &buf
}

// bSource says where macroKernel finds the B panel for each column tile.
type bSource int

const (
	bPrepacked   bSource = iota // already packed (PackedB, or by an earlier M block)
	bPackInPlace                // pack into its place in the block for later M blocks
	bPackScratch                // pack into the start of the buffer: used once, stays in L1
)

// solveBlock computes rows [m0, m1) × columns [n0, n1) of C with the
// Goto/BLIS loop nest; m0 and n0 are multiples of mr and nr.
//
// B panels are packed by the first M block right before the kernel uses them,
// while they are hot in L1, rather than in a separate pass over an L3-sized
// block: for the common case of a single M block, B is then read exactly once
// and the packed copy never leaves L1.
func (pr *problem) solveBlock(m0, m1, n0, n1 int) {
	kern := pr.kern
	depthStep := kern.sliceDepth(pr.k)
	singleMBlock := m1-m0 <= kern.mc
	var aBuf, bBuf []float32
	if pr.pa == nil {
		buf := getBuffer(&packPoolA, depthStep*min(kern.mc, roundUp(m1-m0, kern.mr)))
		defer packPoolA.Put(buf)
		aBuf = *buf
	}
	if pr.pb == nil {
		size := depthStep * kern.nr
		if !singleMBlock {
			size = depthStep * min(kern.nc, roundUp(n1-n0, kern.nr))
		}
		buf := getBuffer(&packPoolB, size)
		defer packPoolB.Put(buf)
		bBuf = *buf
	}
	for jc := n0; jc < n1; jc += kern.nc {
		cols := min(kern.nc, n1-jc)
		for pc := 0; pc < pr.k; pc += depthStep {
			depth := min(depthStep, pr.k-pc)
			beta := pr.beta
			if pc > 0 {
				beta = 1 // later K slices accumulate onto the first
			}
			for ic := m0; ic < m1; ic += kern.mc {
				rows := min(kern.mc, m1-ic)
				aPanels := aBuf
				if pr.pa != nil {
					aPanels = pr.pa.panels(pc, depth, ic)
				} else {
					packA(kern, aBuf, pr.a, ic, rows, pc, depth)
				}
				bPanels, source := bBuf, bPrepacked
				switch {
				case pr.pb != nil:
					bPanels = pr.pb.panels(pc, depth, jc)
				case singleMBlock:
					source = bPackScratch
				case ic == m0:
					source = bPackInPlace
				}
				pr.macroKernel(aPanels, bPanels, source, ic, rows, jc, cols, pc, depth, beta)
			}
		}
	}
}

// prefetchPlan spreads the prefetch of the next B panel's source rows over
// the tile calls of the current panel: tile t prefetches rows [t·per, (t+1)·per).
// Packing that panel then finds it in cache instead of waiting on DRAM for
// each of its widely strided rows.
type prefetchPlan struct {
	b       matrixB
	row0    int // first source row (pc) and column of the next panel
	col     int
	depth   int
	per     int      // rows prefetched per tile
	idle    *float32 // harmless target once all rows are covered
	enabled bool
}

func (pr *problem) prefetchPlan(source bSource, idle *float32, pc, depth, nextCol, endCol int) prefetchPlan {
	per := pr.kern.prefetchesPerTile(depth)
	return prefetchPlan{
		b: pr.b, row0: pc, col: nextCol, depth: depth, per: per, idle: idle,
		enabled: source != bPrepacked && !pr.b.trans && pr.b.rows == nil && nextCol < endCol && per > 0,
	}
}

// forTile returns the prefetch stream for tile call t of the panel.
func (pl *prefetchPlan) forTile(t int) (*float32, int) {
	if !pl.enabled || t*pl.per >= pl.depth {
		return pl.idle, 0
	}
	return &pl.b.data[(pl.row0+t*pl.per)*pl.b.ld+pl.col], pl.b.ld
}

// macroKernel multiplies a packed block of A (rows × depth, at row i0) by a
// block of B (depth × cols, at row pc and column j0) into C. The B panel is
// the outer loop so it stays in L1 while the A panels stream from L2.
func (pr *problem) macroKernel(aPanels, bPanels []float32, source bSource, i0, rows, j0, cols, pc, depth int, beta float32) {
	kern := pr.kern
	for jr := 0; jr < cols; jr += kern.nr {
		tileCols := min(kern.nr, cols-jr)
		var panel []float32
		switch source {
		case bPrepacked:
			panel = bPanels[jr*depth:]
		case bPackInPlace:
			panel = bPanels[jr*depth:]
			packB(kern, panel, pr.b, pc, depth, j0+jr, tileCols)
		case bPackScratch:
			panel = bPanels
			packB(kern, panel, pr.b, pc, depth, j0+jr, tileCols)
		}
		b := &panel[0]
		plan := pr.prefetchPlan(source, b, pc, depth, j0+jr+kern.nr, j0+cols)
		for ir := 0; ir < rows; ir += kern.mr {
			c := &pr.c[(i0+ir)*pr.ldc+j0+jr]
			pf, pfStride := plan.forTile(ir / kern.mr)
			kern.tile(depth, &aPanels[ir*depth], b, c, pr.ldc, beta, min(kern.mr, rows-ir), tileCols, pf, pfStride)
		}
		if pc+depth == pr.k {
			pr.finish(i0, rows, j0+jr, tileCols) // the panel is final and still in L1
		}
	}
}
