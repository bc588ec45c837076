package gemm

// matrixA is a view of the left operand: element (i,p) is data[i*ld+p], or
// data[p*ld+i] when trans.
type matrixA struct {
	data  []float32
	ld    int
	trans bool
}

// matrixB is a view of the right operand: element (p,j) is data[p*ld+j], or
// data[j*ld+p] when trans, or data[rows[p]+j] when rows is not nil.
type matrixB struct {
	data  []float32
	ld    int
	trans bool
	rows  []int
}

// packA writes rows [i0, i0+rows) × depth [p0, p0+depth) of A as consecutive
// mr-row panels: element (i0+q·mr+r, p0+p) goes to dst[q·mr·depth + p·mr + r].
// Rows past the end of the block are zero filled.
func packA(kern *kernel, dst []float32, a matrixA, i0, rows, p0, depth int) {
	mr := kern.mr
	for q := 0; q*mr < rows; q++ {
		panel := dst[q*mr*depth : (q+1)*mr*depth]
		valid := min(mr, rows-q*mr)
		first := i0 + q*mr
		if a.trans {
			packLinesAsRows(nil, panel, a.data, a.ld, first, valid, p0, depth, mr)
		} else {
			packLinesAsColumns(kern, panel, a.data, a.ld, first, valid, p0, depth, mr)
		}
	}
}

// packB writes depth [p0, p0+depth) × columns [j0, j0+cols) of B as consecutive
// nr-column panels: element (p0+p, j0+q·nr+c) goes to dst[q·nr·depth + p·nr + c].
// Columns past the end of the block are zero filled.
func packB(kern *kernel, dst []float32, b matrixB, p0, depth, j0, cols int) {
	nr := kern.nr
	for q := 0; q*nr < cols; q++ {
		panel := dst[q*nr*depth : (q+1)*nr*depth]
		valid := min(nr, cols-q*nr)
		first := j0 + q*nr
		if b.rows != nil {
			packGatheredRows(kern.gatherPanelB, panel, b.data, b.rows[p0:p0+depth], first, valid, nr)
		} else if b.trans {
			packLinesAsColumns(kern, panel, b.data, b.ld, first, valid, p0, depth, nr)
		} else {
			packLinesAsRows(kern.copyPanelB, panel, b.data, b.ld, first, valid, p0, depth, nr)
		}
	}
}

// packLinesAsRows fills panel[p·width + r] = src[(p0+p)·ld + first + r]
// for r < valid, zero for valid ≤ r < width: each panel row is one copy.
// fastCopy, if not nil, packs a full panel of kern.nr columns.
func packLinesAsRows(fastCopy func(dst, src *float32, ld, depth int), panel, src []float32, ld, first, valid, p0, depth, width int) {
	if fastCopy != nil && valid == width && depth > 0 {
		last := (p0+depth-1)*ld + first
		_ = src[last : last+width] // the assembly reads up to here
		_ = panel[depth*width-1]   // and writes up to here
		fastCopy(&panel[0], &src[p0*ld+first], ld, depth)
		return
	}
	for p := range depth {
		o := (p0+p)*ld + first
		row := panel[p*width : (p+1)*width]
		copy(row, src[o:o+valid])
		clear(row[valid:])
	}
}

// packGatheredRows fills panel[p·width + r] = src[rows[p] + first + r] for
// r < valid, zero for valid ≤ r < width. fastGather, if not nil, packs a full
// panel of width columns.
func packGatheredRows(fastGather func(dst, src *float32, rows *int, depth int), panel, src []float32, rows []int, first, valid, width int) {
	depth := len(rows)
	if depth == 0 {
		return
	}
	if fastGather != nil && valid == width {
		_ = panel[depth*width-1] // the assembly writes up to here; the caller checked the reads
		fastGather(&panel[0], &src[first], &rows[0], depth)
		return
	}
	for p, start := range rows {
		o := start + first
		row := panel[p*width : (p+1)*width]
		copy(row, src[o:o+valid])
		clear(row[valid:])
	}
}

// packLinesAsColumns fills panel[p·width + r] = src[(first+r)·ld + p0 + p]
// for r < valid, zero for valid ≤ r < width: each source line becomes a
// column of the panel, a transposition. The kernel's assembly transposer, if
// any, handles whole groups of 4 lines and 16 p values; Go does the rest.
func packLinesAsColumns(kern *kernel, panel, src []float32, ld, first, valid, p0, depth, width int) {
	panel = panel[:depth*width]
	fastLines, fastDepth := 0, 0
	if kern.transpose4 != nil && valid >= 4 && depth >= 16 {
		fastLines, fastDepth = valid&^3, depth&^15
		last := (first+fastLines-1)*ld + p0
		_ = src[last : last+fastDepth] // the assembly reads up to here
		for r := 0; r < fastLines; r += 4 {
			kern.transpose4(&panel[r], width, &src[(first+r)*ld+p0], ld, fastDepth)
		}
	}
	transposeLines(panel, src, ld, first, 0, fastLines, p0, fastDepth, depth, width)
	transposeLines(panel, src, ld, first, fastLines, valid, p0, 0, depth, width)
	if valid < width {
		for p := range depth {
			clear(panel[p*width+valid : (p+1)*width])
		}
	}
}

// transposeLines is the portable packLinesAsColumns for lines [r0, r1) and
// p values [pLo, pHi): four lines at a time, so each panel row is written in
// fewer passes.
func transposeLines(panel, src []float32, ld, first, r0, r1, p0, pLo, pHi, width int) {
	if pLo >= pHi {
		return
	}
	r := r0
	for ; r+4 <= r1; r += 4 {
		o := (first+r)*ld + p0
		s0 := src[o+pLo : o+pHi]
		s1 := src[o+ld+pLo : o+ld+pHi]
		s2 := src[o+2*ld+pLo : o+2*ld+pHi]
		s3 := src[o+3*ld+pLo : o+3*ld+pHi]
		for p := range s0 {
			d := (*[4]float32)(panel[(pLo+p)*width+r:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < r1; r++ {
		o := (first+r)*ld + p0
		for p, v := range src[o+pLo : o+pHi] {
			panel[(pLo+p)*width+r] = v
		}
	}
}
