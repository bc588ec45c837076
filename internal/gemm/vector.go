package gemm

// rowVectorChunk is how many columns of C one pass of the AXPY loop keeps hot
// in L1 (8 KiB) while it streams the matching part of every row of B.
const rowVectorChunk = 2048

// solveColumnVector computes a single column of C (n == 1, as in W·x for a
// fully connected layer with batch 1) as dot products of the rows of A with
// the column of B, reading A once instead of packing it.
func (pr *problem) solveColumnVector() {
	x := pr.columnOfB()
	threads := pr.threadCount(pr.m * pr.k)
	parallel(splitRange(pr.m, 16, threads), func(lo, hi int) {
		a, lda, dot := pr.a.data, pr.a.ld, pr.kern.dot
		for i := lo; i < hi; i++ {
			v := dot(x, a[i*lda:i*lda+pr.k])
			if pr.beta != 0 {
				v += pr.beta * pr.c[i*pr.ldc]
			}
			pr.c[i*pr.ldc] = v
		}
	})
}

// solvePackedColumnVector computes a single column of C from a pre-packed A:
// each panel is multiplied by the vector directly, where a register tile
// would waste all but one of its columns.
func (pr *problem) solvePackedColumnVector() {
	x := pr.columnOfB()
	kern, pa := pr.kern, pr.pa
	step := kern.sliceDepth(pr.k)
	threads := pr.threadCount(pr.m * pr.k)
	parallel(splitRange(pr.m, kern.mr, threads), func(lo, hi int) {
		y := make([]float32, hi-lo)
		for pc := 0; pc < pr.k; pc += step {
			depth := min(step, pr.k-pc)
			panels := pa.panels(pc, depth, lo)
			for i := 0; i < hi-lo; i += kern.mr {
				kern.panelTimesVector(panels[i*depth:], x[pc:pc+depth], y[i:min(i+kern.mr, hi-lo)])
			}
		}
		for i, v := range y {
			ci := (lo + i) * pr.ldc
			if pr.beta != 0 {
				v += pr.beta * pr.c[ci]
			}
			pr.c[ci] = v
		}
	})
}

// columnOfB returns the single column of a k×1 B as a contiguous vector.
func (pr *problem) columnOfB() []float32 {
	if pr.b.trans || pr.b.ld == 1 {
		return pr.b.data[:pr.k:pr.k]
	}
	x := make([]float32, pr.k)
	for p := range x {
		x[p] = pr.b.data[p*pr.b.ld]
	}
	return x
}

// solveRowVector computes a single row of C (m == 1, as in a fully connected
// layer with batch 1) directly from B: each element of B is used once, so
// streaming it beats packing it.
func (pr *problem) solveRowVector() {
	x := pr.a.data[:pr.k:pr.k]
	if pr.a.trans {
		// Column of a k×m matrix: gather it so the kernels see a vector.
		x = make([]float32, pr.k)
		for p := range x {
			x[p] = pr.a.data[p*pr.a.ld]
		}
	}
	unit := 64
	threads := pr.threadCount(pr.n * pr.k)
	parallel(splitRange(pr.n, unit, threads), func(lo, hi int) {
		if pr.b.trans {
			pr.rowVectorDots(x, lo, hi)
		} else {
			pr.rowVectorAxpys(x, lo, hi)
		}
	})
}

// rowVectorDots computes c[j] = x·B[:,j] + beta·c[j] for j in [lo, hi), where
// column j of B is the contiguous row j of the stored transpose.
func (pr *problem) rowVectorDots(x []float32, lo, hi int) {
	b, ld, dot := pr.b.data, pr.b.ld, pr.kern.dot
	for j := lo; j < hi; j++ {
		v := dot(x, b[j*ld:j*ld+pr.k])
		if pr.beta != 0 {
			v += pr.beta * pr.c[j]
		}
		pr.c[j] = v
	}
}

// rowVectorAxpys computes c[lo:hi] = Σ_p x[p]·B[p, lo:hi] + beta·c[lo:hi].
func (pr *problem) rowVectorAxpys(x []float32, lo, hi int) {
	b, ld, axpy := pr.b.data, pr.b.ld, pr.kern.axpy
	for j0 := lo; j0 < hi; j0 += rowVectorChunk {
		j1 := min(hi, j0+rowVectorChunk)
		c := pr.c[j0:j1]
		scaleRow(c, pr.beta)
		for p, xp := range x {
			axpy(xp, b[p*ld+j0:p*ld+j1], c)
		}
	}
}
