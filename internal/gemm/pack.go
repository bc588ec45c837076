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
func packA(dst []float32, a matrixA, i0, rows, p0, depth, mr int) {
	for q := 0; q*mr < rows; q++ {
		panel := dst[q*mr*depth : (q+1)*mr*depth]
		valid := min(mr, rows-q*mr)
		first := i0 + q*mr
		if a.trans {
			packRowsContiguous(panel, a.data, a.ld, first, valid, p0, depth, mr)
		} else {
			packRowsStrided(panel, a.data, a.ld, first, valid, p0, depth, mr)
		}
	}
}

// packB writes depth [p0, p0+depth) × columns [j0, j0+cols) of B as consecutive
// nr-column panels: element (p0+p, j0+q·nr+c) goes to dst[q·nr·depth + p·nr + c].
// Columns past the end of the block are zero filled.
func packB(dst []float32, b matrixB, p0, depth, j0, cols, nr int) {
	for q := 0; q*nr < cols; q++ {
		panel := dst[q*nr*depth : (q+1)*nr*depth]
		valid := min(nr, cols-q*nr)
		first := j0 + q*nr
		if b.trans {
			packRowsStrided(panel, b.data, b.ld, first, valid, p0, depth, nr)
		} else {
			packRowsContiguous(panel, b.data, b.ld, first, valid, p0, depth, nr)
		}
	}
}

// packRowsContiguous fills panel[p·width + r] = src[(p0+p)·ld + first + r]
// for r < valid, zero for valid ≤ r < width: each panel row is one copy.
func packRowsContiguous(panel, src []float32, ld, first, valid, p0, depth, width int) {
	if valid == width {
		switch width {
		case 32:
			for p := range depth {
				o := (p0+p)*ld + first
				*(*[32]float32)(panel[p*32:]) = *(*[32]float32)(src[o:])
			}
			return
		case 16:
			for p := range depth {
				o := (p0+p)*ld + first
				*(*[16]float32)(panel[p*16:]) = *(*[16]float32)(src[o:])
			}
			return
		}
	}
	for p := range depth {
		o := (p0+p)*ld + first
		row := panel[p*width : (p+1)*width]
		copy(row, src[o:o+valid])
		clear(row[valid:])
	}
}

// packRowsStrided fills panel[p·width + r] = src[(first+r)·ld + p0 + p]: each
// source line is read sequentially and scattered with stride width. Four lines
// go together so each panel row is written in fewer passes.
func packRowsStrided(panel, src []float32, ld, first, valid, p0, depth, width int) {
	panel = panel[:depth*width]
	r := 0
	for ; r+4 <= valid; r += 4 {
		o := (first+r)*ld + p0
		s0 := src[o : o+depth]
		s1 := src[o+ld : o+ld+depth]
		s2 := src[o+2*ld : o+2*ld+depth]
		s3 := src[o+3*ld : o+3*ld+depth]
		for p := range s0 {
			d := (*[4]float32)(panel[p*width+r:])
			d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < valid; r++ {
		o := (first+r)*ld + p0
		for p, v := range src[o : o+depth] {
			panel[p*width+r] = v
		}
	}
	if valid < width {
		for p := range depth {
			clear(panel[p*width+valid : (p+1)*width])
		}
	}
}
