package engine

import "github.com/fcconv/fcconv/internal/gemm"

// Stride-1 2-D convolutions skip im2col's gathering: on the zero-padded input, with output
// positions numbered jw = oy*Wp + ox over the padded width Wp (a "wide" output whose columns
// ox >= OW are garbage), the value that kernel tap (ky, kx) of channel c sees at jw is
// padded[c][jw + ky*dh*Wp + kx*dw]. Every row of the column matrix is then one contiguous copy,
// and the GEMM's result is compacted to the real output, adding the bias on the way.

// convWide is the plan of a stride-1 2-D convolution lowered this way.
type convWide struct {
	*convPlan
	h, w, oh, ow     int
	paddedH, paddedW int
	padTop, padLeft  int
	needsPadding     bool
	tapOffsets       []int // per kernel tap: offset of its input in the padded plane
	wideCols         int   // (oh-1)*paddedW + ow: the wide positions up to the last real one
	blockCols        int
	paddedImage      *nnScratch
	cols, results    *nnScratch
}

// newConvWide returns the wide lowering of a 1-D or 2-D stride-1 convolution, or nil.
func newConvWide(p *convPlan) *convWide {
	win := p.win
	if win.rank() > 2 {
		return nil
	}
	for _, s := range win.stride {
		if s != 1 {
			return nil
		}
	}
	c := &convWide{convPlan: p, h: 1, oh: 1}
	last := win.rank() - 1
	kh, dh := 1, 1
	if win.rank() == 2 {
		c.h, c.oh, c.padTop, kh, dh = win.in[0], win.out[0], win.padBegin[0], win.kernel[0], win.dilation[0]
	}
	c.w, c.ow, c.padLeft = win.in[last], win.out[last], win.padBegin[last]
	c.paddedH = c.oh + (kh-1)*dh
	c.paddedW = c.ow + (win.kernel[last]-1)*win.dilation[last]
	c.needsPadding = c.paddedH != c.h || c.paddedW != c.w || c.padTop != 0 || c.padLeft != 0
	// The garbage columns cost GEMM work: not worth it when they are a large share.
	c.wideCols = (c.oh-1)*c.paddedW + c.ow
	if 4*(c.wideCols-c.oh*c.ow) > c.oh*c.ow {
		return nil
	}
	for ky := 0; ky < kh; ky++ {
		for kx := 0; kx < win.kernel[last]; kx++ {
			c.tapOffsets = append(c.tapOffsets, ky*dh*c.paddedW+kx*win.dilation[last])
		}
	}
	c.blockCols = min(c.wideCols, max(64, convColumnBudget/p.kdim/32*32))
	if c.needsPadding {
		c.paddedImage = newNNScratch(p.cin * c.paddedH * c.paddedW)
	}
	c.cols = newNNScratch(p.kdim * c.blockCols)
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
	inSize, plane := c.h*c.w, c.paddedH*c.paddedW
	padded := x
	if c.needsPadding {
		buf := c.paddedImage.get()
		defer c.paddedImage.put(buf)
		padded = *buf
		nnParallelRange(c.cin, 8, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				c.padChannel(padded[ch*plane:(ch+1)*plane], x[ch*inSize:(ch+1)*inSize])
			}
		})
	}
	blocks := (c.wideCols + c.blockCols - 1) / c.blockCols
	nnParallel(c.group*blocks, func(task int) {
		g, blk := task/blocks, task%blocks
		j0 := blk * c.blockCols
		c.runBlock(padded[g*c.cinG*plane:(g+1)*c.cinG*plane], w, bias, y, g, j0, min(c.wideCols, j0+c.blockCols))
	})
}

// padChannel copies one input plane into the middle of a zeroed padded plane.
func (c *convWide) padChannel(dst, src []float32) {
	clear(dst[:c.padTop*c.paddedW])
	for iy := 0; iy < c.h; iy++ {
		row := dst[(c.padTop+iy)*c.paddedW : (c.padTop+iy+1)*c.paddedW]
		clear(row[:c.padLeft])
		n := copy(row[c.padLeft:], src[iy*c.w:(iy+1)*c.w])
		clear(row[c.padLeft+n:])
	}
	clear(dst[min(len(dst), (c.padTop+c.h)*c.paddedW):])
}

// runBlock computes the wide columns [j0, j1) of group g.
func (c *convWide) runBlock(padded, w, bias, y []float32, g, j0, j1 int) {
	nb := j1 - j0
	plane := c.paddedH * c.paddedW
	colBuf, resBuf := c.cols.get(), c.results.get()
	defer c.cols.put(colBuf)
	defer c.results.put(resBuf)
	cols, res := *colBuf, *resBuf
	r := 0
	for ch := 0; ch < c.cinG; ch++ {
		src := padded[ch*plane+j0:]
		for _, off := range c.tapOffsets {
			copy(cols[r*nb:(r+1)*nb], src[off:off+nb])
			r++
		}
	}
	if c.packed != nil {
		gemm.SgemmPackedA(c.packed[g], nb, cols, nb, false, 0, res, nb)
	} else {
		wg := w[g*c.coutG*c.kdim : (g+1)*c.coutG*c.kdim]
		gemm.Sgemm(false, false, c.coutG, nb, c.kdim, wg, c.kdim, cols, nb, 0, res, nb)
	}
	c.compact(res, bias, y, g, j0, j1)
}

// compact moves the real output positions of wide columns [j0, j1) to y, adding the bias.
func (c *convWide) compact(res, bias, y []float32, g, j0, j1 int) {
	nb, outSize := j1-j0, c.oh*c.ow
	for m := 0; m < c.coutG; m++ {
		oc := g*c.coutG + m
		var b float32
		if bias != nil {
			b = bias[oc]
		}
		src := res[m*nb : (m+1)*nb]
		dst := y[oc*outSize : (oc+1)*outSize]
		for oy := j0 / c.paddedW; oy*c.paddedW < j1; oy++ {
			x0 := max(j0-oy*c.paddedW, 0)
			x1 := min(j1-oy*c.paddedW, c.ow)
			if x0 >= x1 {
				continue
			}
			from := src[oy*c.paddedW+x0-j0 : oy*c.paddedW+x1-j0]
			to := dst[oy*c.ow+x0 : oy*c.ow+x1]
			for i, v := range from {
				to[i] = v + b
			}
		}
	}
}
