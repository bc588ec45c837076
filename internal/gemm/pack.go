package gemm

// matrixA is a view of the left operand: element (i,p) is data[i*ld+p], or
// data[p*ld+i] when trans.
type matrixA struct {
	data  []float32
	ld    int
	trans bool
}

// matrixB is a view of the right operand: element (p,j) is data[p*ld+j], or
// data[j*ld+p] when trans.
type matrixB struct {
	data  []float32
	ld    int
	trans bool
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
			packLinesAsRows(kern, panel, a.data, a.ld, first, valid, p0, depth, mr)
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
		if b.trans {
			packLinesAsColumns(kern, panel, b.data, b.ld, first, valid, p0, depth, nr)
		} else {
			packLinesAsRows(kern, panel, b.data, b.ld, first, valid, p0, depth, nr)
		}
	}
}

// packLinesAsRows fills panel[p·width + r] = src[(p0+p)·ld + first + r]
// for r < valid, zero for valid ≤ r < width: each panel row is one copy.
func packLinesAsRows(kern *kernel, panel, src []float32, ld, first, valid, p0, depth, width int) {
	if valid == width && width == 32 && kern.copyRows32 != nil && depth > 0 {
		last := (p0+depth-1)*ld + first
		_ = src[last : last+32] // the assembly reads up to here
		kern.copyRows32(&panel[:depth*32][0], &src[p0*ld+first], ld, depth)
		return
	}
	for p := range depth {
		o := (p0+p)*ld + first
		row := panel[p*width : (p+1)*width]
		copy(row, src[o:o+valid])
		clear(row[valid:])
	}
}

// packLinesAsColumns fills panel[p·width + r] = src[(first+r)·ld + p0 + p]:
// each source line becomes a column of the panel, a transposition.
func packLinesAsColumns(kern *kernel, panel, src []float32, ld, first, valid, p0, depth, width int) {
	panel = panel[:depth*width]
	done := 0 // leading p values already packed
	if valid == width && width%4 == 0 && kern.transpose4 != nil && depth >= 16 {
		done = depth &^ 15
		last := (first+width-1)*ld + p0
		_ = src[last : last+done] // the assembly reads up to here
		for r := 0; r < width; r += 4 {
			kern.transpose4(&panel[r], width, &src[(first+r)*ld+p0], ld, done/16)
		}
	}
	r := 0
	for ; r+4 <= valid; r += 4 {
		o := (first+r)*ld + p0
		s0 := src[o+done : o+depth]
		s1 := src[o+ld+done : o+ld+depth]
		s2 := src[o+2*ld+done : o+2*ld+depth]
		s3 := src[o+3*ld+done : o+3*ld+depth]
		for p := range s0 {
			d := (*[4]float32)(panel[(done+p)*width+r:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < valid; r++ {
		o := (first+r)*ld + p0
		for p, v := range src[o+done : o+depth] {
			panel[(done+p)*width+r] = v
		}
	}
	if valid < width {
		for p := range depth {
			clear(panel[p*width+valid : (p+1)*width])
		}
	}
}
