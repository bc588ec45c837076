package engine

import (
	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/internal/workers"
)

// 1-D and 2-D convolutions skip im2col's gathering. The input is zero-padded and split into
// stride phases: phase (py, px) of a channel holds padded rows py, py+sh, ... and columns px,
// px+sw, ..., as a rows x cols plane. Kernel tap (ky, kx) reads, for output (oy, ox), phase
// ((ky*dh) % sh, (kx*dw) % sw) at (oy + ky*dh/sh, ox + kx*dw/sw): with output positions numbered
// jw = oy*cols + ox (a "wide" output whose columns ox >= OW are garbage), that is the phase plane
// at jw plus a fixed offset per tap. So every row of the column matrix is one contiguous copy
// (or, for a single tap, the phase planes are the column matrix), and the GEMM's result is
// compacted to the real output. For stride 1 there is one phase, the padded plane itself.

// convPhases is the stride-phase layout of the zero-padded input planes of a 1-D or 2-D
// convolution, shared by the GEMM lowering below and the depthwise kernel.
type convPhases struct {
	h, w, oh, ow    int
	sh, sw          int
	padTop, padLeft int
	rows, cols      int   // size of a phase plane
	phases          []int // the phases some tap reads, as py*sw + px
	chanStride      int   // floats per channel: its used phase planes back to back
	tapOffsets      []int // per kernel tap: offset in a channel's phase planes at jw = 0
	wideCols        int   // (oh-1)*cols + ow: the wide positions up to the last real one
}

func newConvPhases(win *nnWindow) *convPhases {
	c := &convPhases{h: 1, oh: 1, sh: 1}
	last := win.rank() - 1
	kh, dh := 1, 1
	if win.rank() == 2 {
		c.h, c.oh, c.sh, c.padTop, kh, dh = win.in[0], win.out[0], win.stride[0], win.padBegin[0], win.kernel[0], win.dilation[0]
	}
	kw, dw := win.kernel[last], win.dilation[last]
	c.w, c.ow, c.sw, c.padLeft = win.in[last], win.out[last], win.stride[last], win.padBegin[last]
	paddedH := (c.oh-1)*c.sh + (kh-1)*dh + 1 // the padded extent the windows read
	paddedW := (c.ow-1)*c.sw + (kw-1)*dw + 1
	c.rows, c.cols = (paddedH+c.sh-1)/c.sh, (paddedW+c.sw-1)/c.sw
	c.wideCols = (c.oh-1)*c.cols + c.ow
	phaseSlot := make([]int, c.sh*c.sw)
	for i := range phaseSlot {
		phaseSlot[i] = -1
	}
	for ky := 0; ky < kh; ky++ {
		for kx := 0; kx < kw; kx++ {
			ph := (ky*dh%c.sh)*c.sw + kx*dw%c.sw
			if phaseSlot[ph] < 0 {
				phaseSlot[ph] = len(c.phases)
				c.phases = append(c.phases, ph)
			}
			c.tapOffsets = append(c.tapOffsets, phaseSlot[ph]*c.rows*c.cols+(ky*dh/c.sh)*c.cols+kx*dw/c.sw)
		}
	}
	c.chanStride = len(c.phases) * c.rows * c.cols
	return c
}

// garbageTooCostly reports whether the wide output's garbage columns would add more than a
// quarter to the work.
func (c *convPhases) garbageTooCostly() bool { return 4*(c.wideCols-c.oh*c.ow) > c.oh*c.ow }

// isPlainInput reports whether a channel's phase planes are the input plane itself.
func (c *convPhases) isPlainInput() bool {
	return len(c.phases) == 1 && c.sh == 1 && c.sw == 1 && c.padTop == 0 && c.padLeft == 0 && c.rows == c.h && c.cols == c.w
}

// convWide is the plan of a 1-D or 2-D convolution lowered to a GEMM this way.
type convWide struct {
	*convPlan
	*convPhases
	blockCols int
	needsCopy bool // false when the input itself is the single, unpadded phase
	phased    *nnScratch
	colBlocks *nnScratch // nil when one tap: the phase planes are the column matrix
	// rowStarts holds, for each row (channel, tap) of the column matrix, where it starts in the
	// group's phase planes at wide column 0; nil when one tap.
	rowStarts []int
	results   *nnScratch
}

// newConvWide returns the wide lowering of a 1-D or 2-D convolution, or nil when the garbage
// columns would cost too much.
func newConvWide(p *convPlan) *convWide {
	if p.win.rank() > 2 {
		return nil
	}
	c := &convWide{convPlan: p, convPhases: newConvPhases(p.win)}
	if c.garbageTooCostly() {
		return nil
	}
	c.needsCopy = !c.isPlainInput()
	c.blockCols = c.balancedBlockCols(c.wideCols, min(c.wideCols, max(64, convColumnBudget/p.kdim/32*32)), p.group)
	if c.needsCopy {
		c.phased = newNNScratch(p.cin * c.chanStride)
	}
	if len(c.tapOffsets) > 1 {
		c.colBlocks = newNNScratch(p.kdim * c.blockCols)
		for ch := 0; ch < p.cinG; ch++ {
			for _, off := range c.tapOffsets {
				c.rowStarts = append(c.rowStarts, ch*c.chanStride+off)
			}
		}
	}
	c.results = newNNScratch(p.coutG * c.blockCols)
	return c
}

func (c *convWide) run(x, w, bias, y []float32) {
	inSize, outSize := c.h*c.w, c.oh*c.ow
	for img := 0; img < c.batch; img++ {
		c.runImage(x[img*c.cin*inSize:(img+1)*c.cin*inSize], w, bias, y[img*c.cout*outSize:(img+1)*c.cout*outSize])
	}
}

func (c *convWide) runImage(x, w, bias, y []float32) {
	inSize := c.h * c.w
	phased := x
	if c.needsCopy {
		buf := c.phased.get()
		defer c.phased.put(buf)
		phased = *buf
		workers.ForRange(c.threads, c.cin, workers.Grain(c.chanStride), func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				c.splitChannel(phased[ch*c.chanStride:(ch+1)*c.chanStride], x[ch*inSize:(ch+1)*inSize])
			}
		})
	}
	blocks := (c.wideCols + c.blockCols - 1) / c.blockCols
	c.tasks(c.group*blocks, c.coutG*c.kdim*c.blockCols, func(task int, serial bool) {
		g, blk := task/blocks, task%blocks
		j0 := blk * c.blockCols
		c.runBlock(phased[g*c.cinG*c.chanStride:(g+1)*c.cinG*c.chanStride], w, bias, y, g, j0, min(c.wideCols, j0+c.blockCols), serial)
	})
}

// splitChannel writes the used phase planes of one zero-padded input plane.
func (c *convPhases) splitChannel(dst, src []float32) {
	for slot, ph := range c.phases {
		py, px := ph/c.sw, ph%c.sw
		plane := dst[slot*c.rows*c.cols : (slot+1)*c.rows*c.cols]
		// Columns j whose input column j*sw + px - padLeft lies in [0, w).
		first := px - c.padLeft
		jLo := 0
		if first < 0 {
			jLo = (-first + c.sw - 1) / c.sw
		}
		jHi := 0
		if c.w-1-first >= 0 {
			jHi = min(c.cols, (c.w-1-first)/c.sw+1)
		}
		jLo = min(jLo, jHi)
		// Narrow rows: one clear of the plane beats two small ones per row.
		narrow := c.cols <= 64
		if narrow {
			clear(plane)
		}
		for q := 0; q < c.rows; q++ {
			row := plane[q*c.cols : (q+1)*c.cols]
			iy := q*c.sh + py - c.padTop
			if iy < 0 || iy >= c.h {
				if !narrow {
					clear(row)
				}
				continue
			}
			in := src[iy*c.w : (iy+1)*c.w]
			if !narrow {
				clear(row[:jLo])
				clear(row[jHi:])
			}
			if jLo == jHi {
				continue // the row's columns all fall in the padding
			}
			if c.sw == 1 {
				copy(row[jLo:jHi], in[jLo+first:])
				continue
			}
			j := jLo
			if c.sw == 2 {
				j += nnEvensVector(row[jLo:jHi], in[jLo*2+first:])
			}
			for ; j < jHi; j++ {
				row[j] = in[j*c.sw+first]
			}
		}
	}
}

// runBlock computes the wide columns [j0, j1) of group g; phased holds the group's channels.
func (c *convWide) runBlock(phased, w, bias, y []float32, g, j0, j1 int, serial bool) {
	nb := j1 - j0
	// Without garbage columns (e.g. 1x1 strided convs) the wide output is the output itself.
	outSize := c.oh * c.ow
	res, ldRes := y[g*c.coutG*outSize+j0:], outSize
	if c.cols != c.ow {
		resBuf := c.results.get()
		defer c.results.put(resBuf)
		res, ldRes = *resBuf, nb
	}
	// The block gets its bias and activation before compacting, which is then plain copies.
	if ep := c.blockEpilogue(g, bias); ep != nil {
		c.multiplyWide(serial, phased, w, g, j0, nb, 0, res, ldRes, ep)
	} else {
		beta := c.prepareBlock(res, ldRes, nb, g, bias)
		c.multiplyWide(serial, phased, w, g, j0, nb, beta, res, ldRes, nil)
		c.finishBlock(res, ldRes, nb, g, bias)
	}
	if c.cols != c.ow {
		c.compact(res, y, g, j0, j1)
	}
}

// multiplyWide computes res = W_g·cols + beta·res for the wide columns [j0, j0+nb) of group g,
// whose phase planes are phased, then applies ep (which needs packed weights).
func (c *convWide) multiplyWide(serial bool, phased, w []float32, g, j0, nb int, beta float32, res []float32, ldRes int, ep *gemm.Epilogue) {
	switch {
	case c.rowStarts == nil: // one tap: the phase planes are the column matrix
		c.multiply(serial, g, nb, w, phased[c.tapOffsets[0]+j0:], c.chanStride, beta, res, ldRes, ep)
	case c.packed != nil:
		// The GEMM packs the column matrix's rows straight from the phase planes into its panels,
		// skipping the copy into a column matrix.
		gemm.SgemmPackedAGatherEpilogue(c.gemmThreads(serial), c.packed[g], nb, phased[j0:], c.rowStarts, beta, res, ldRes, ep)
	default:
		colBuf := c.colBlocks.get()
		defer c.colBlocks.put(colBuf)
		cols := *colBuf
		for r, start := range c.rowStarts {
			copy(cols[r*nb:(r+1)*nb], phased[start+j0:start+j0+nb])
		}
		c.multiply(serial, g, nb, w, cols, nb, beta, res, ldRes, ep)
	}
}

// compact moves the real output positions of wide columns [j0, j1) to y.
func (c *convWide) compact(res, y []float32, g, j0, j1 int) {
	nb, outSize := j1-j0, c.oh*c.ow
	for m := 0; m < c.coutG; m++ {
		oc := g*c.coutG + m
		c.compactPlane(y[oc*outSize:(oc+1)*outSize], res[m*nb:(m+1)*nb], j0, j1)
	}
}

// compactPlane copies the real positions among wide columns [j0, j1), held in src from j0 on,
// to their places in the output plane dst.
func (c *convPhases) compactPlane(dst, src []float32, j0, j1 int) {
	for oy := j0 / c.cols; oy*c.cols < j1; oy++ {
		x0 := max(j0-oy*c.cols, 0)
		x1 := min(j1-oy*c.cols, c.ow)
		if x0 >= x1 {
			continue
		}
		copy(dst[oy*c.ow+x0:oy*c.ow+x1], src[oy*c.cols+x0-j0:oy*c.cols+x1-j0])
	}
}
