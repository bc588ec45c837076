package engine

// im2col lowers a convolution to a matrix product: for the output columns [j0, j1) of one image
// and group, row (c, tap) of the column matrix holds the input value each output position sees
// through kernel tap `tap` of input channel c (zero where the tap falls into padding). The conv is
// then W[coutG, cinG*taps] x col[cinG*taps, j1-j0]. Building the matrix a block of columns at a
// time keeps it in cache for the GEMM that reads it right after.

// im2colSegment is a run of output positions along the last spatial dim inside one column block:
// they share every other coordinate, so one input row serves them all.
type im2colSegment struct {
	pos        int // offset of the run in the block
	first, end int // range of the last output coordinate
	outerStart int // index into im2colPlan.outerBase of this run's per-dim window starts
}

// im2colPlan is the per-block bookkeeping, reused across the rows of the column matrix.
type im2colPlan struct {
	segments  []im2colSegment
	outerBase []int // for each segment, o*stride - padBegin for every spatial dim but the last
	tap       []int // current kernel tap per spatial dim
}

// im2colBlock fills col[(c*taps+t)*nb + j-j0] for channels c < channels, taps t and output
// columns j in [j0, j1); x holds the channels' input planes back to back.
func (w *nnWindow) im2colBlock(plan *im2colPlan, col, x []float32, channels, j0, j1 int) {
	if w.rank() <= 2 {
		w.im2colBlock2D(col, x, channels, j0, j1)
		return
	}
	nb := j1 - j0
	taps := w.kernelSize()
	inSize := w.inSize()
	w.planSegments(plan, j0, j1)
	r := w.rank()
	last := r - 1
	if cap(plan.tap) < r {
		plan.tap = make([]int, r)
	}
	tap := plan.tap[:r]
	for c := 0; c < channels; c++ {
		plane := x[c*inSize : (c+1)*inSize]
		clear(tap)
		for t := 0; t < taps; t++ {
			row := col[(c*taps+t)*nb : (c*taps+t+1)*nb]
			w.fillRow(plan, row, plane, tap)
			// Advance the tap odometer, last dim fastest.
			for d := last; d >= 0; d-- {
				tap[d]++
				if tap[d] < w.kernel[d] {
					break
				}
				tap[d] = 0
			}
		}
	}
}

// planSegments splits the output columns [j0, j1) into runs along the last spatial dim.
func (w *nnWindow) planSegments(plan *im2colPlan, j0, j1 int) {
	r := w.rank()
	outW := w.out[r-1]
	plan.segments = plan.segments[:0]
	plan.outerBase = plan.outerBase[:0]
	for j := j0; j < j1; {
		ox := j % outW
		end := min(outW, ox+(j1-j))
		seg := im2colSegment{pos: j - j0, first: ox, end: end, outerStart: len(plan.outerBase)}
		outer := j / outW
		base := len(plan.outerBase)
		for d := r - 2; d >= 0; d-- {
			plan.outerBase = append(plan.outerBase, 0)
		}
		for d := r - 2; d >= 0; d-- {
			o := outer % w.out[d]
			outer /= w.out[d]
			plan.outerBase[base+d] = o*w.stride[d] - w.padBegin[d]
		}
		plan.segments = append(plan.segments, seg)
		j += end - ox
	}
}

// fillRow writes one row of the column matrix: the values kernel tap `tap` sees for each output
// position of the block.
func (w *nnWindow) fillRow(plan *im2colPlan, row, plane []float32, tap []int) {
	r := w.rank()
	last := r - 1
	inW, sw := w.in[last], w.stride[last]
	off := tap[last]*w.dilation[last] - w.padBegin[last]
	// Output coordinates whose input coordinate ox*sw+off lies in [0, inW).
	lo := 0
	if off < 0 {
		lo = (-off + sw - 1) / sw
	}
	hi := 0
	if inW-1-off >= 0 {
		hi = (inW-1-off)/sw + 1
	}
	for _, seg := range plan.segments {
		dst := row[seg.pos : seg.pos+seg.end-seg.first]
		rowBase, inside := 0, true
		for d := 0; d < last; d++ {
			i := plan.outerBase[seg.outerStart+d] + tap[d]*w.dilation[d]
			if i < 0 || i >= w.in[d] {
				inside = false
				break
			}
			rowBase = rowBase*w.in[d] + i
		}
		if !inside {
			clear(dst)
			continue
		}
		rowBase *= inW
		a := min(max(lo, seg.first), seg.end)
		b := max(min(hi, seg.end), a)
		clear(dst[:a-seg.first])
		clear(dst[b-seg.first:])
		if a == b {
			continue
		}
		inner := dst[a-seg.first : b-seg.first]
		src := plane[rowBase+a*sw+off:]
		if sw == 1 {
			copy(inner, src[:len(inner)])
			continue
		}
		src = src[:(len(inner)-1)*sw+1]
		for i := range inner {
			inner[i] = src[i*sw]
		}
	}
}

// col2imAdd is the adjoint of im2col over a whole image: it adds row (c, tap) of col, one value
// per position of the window grid (w.out), into the plane of channel c at the input position that
// tap sees. ConvTranspose uses it with w describing the forward convolution whose input is
// ConvTranspose's output.
func (w *nnWindow) col2imAdd(col, y []float32, channels int) {
	taps := w.kernelSize()
	inSize, outSize := w.inSize(), w.outSize()
	plan := &im2colPlan{}
	w.planSegments(plan, 0, outSize)
	r := w.rank()
	last := r - 1
	tap := make([]int, r)
	inW, sw := w.in[last], w.stride[last]
	for c := 0; c < channels; c++ {
		plane := y[c*inSize : (c+1)*inSize]
		clear(tap)
		for t := 0; t < taps; t++ {
			row := col[(c*taps+t)*outSize : (c*taps+t+1)*outSize]
			off := tap[last]*w.dilation[last] - w.padBegin[last]
			lo := 0
			if off < 0 {
				lo = (-off + sw - 1) / sw
			}
			hi := 0
			if inW-1-off >= 0 {
				hi = (inW-1-off)/sw + 1
			}
			for _, seg := range plan.segments {
				rowBase, inside := 0, true
				for d := 0; d < last; d++ {
					i := plan.outerBase[seg.outerStart+d] + tap[d]*w.dilation[d]
					if i < 0 || i >= w.in[d] {
						inside = false
						break
					}
					rowBase = rowBase*w.in[d] + i
				}
				a := min(max(lo, seg.first), seg.end)
				b := max(min(hi, seg.end), a)
				if !inside || a == b {
					continue
				}
				rowBase *= inW
				src := row[seg.pos+a-seg.first : seg.pos+b-seg.first]
				for i, v := range src {
					plane[rowBase+(a+i)*sw+off] += v
				}
			}
			for d := last; d >= 0; d-- {
				tap[d]++
				if tap[d] < w.kernel[d] {
					break
				}
				tap[d] = 0
			}
		}
	}
}

// im2colBlock2D is im2colBlock for 1-D and 2-D convolutions (1-D as height 1), with the loops
// arranged so each output row of the block costs a few comparisons and one copy.
func (w *nnWindow) im2colBlock2D(col, x []float32, channels, j0, j1 int) {
	h, oh, kh, sh, dh, pt := 1, 1, 1, 1, 1, 0
	if w.rank() == 2 {
		h, oh, kh, sh, dh, pt = w.in[0], w.out[0], w.kernel[0], w.stride[0], w.dilation[0], w.padBegin[0]
	}
	last := w.rank() - 1
	iw, ow, kw, sw, dw, pl := w.in[last], w.out[last], w.kernel[last], w.stride[last], w.dilation[last], w.padBegin[last]
	_ = oh
	nb := j1 - j0
	inSize := h * iw
	oyFirst, oyLast := j0/ow, (j1-1)/ow
	r := 0
	for c := 0; c < channels; c++ {
		plane := x[c*inSize : (c+1)*inSize]
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				row := col[r*nb : (r+1)*nb]
				r++
				off := kx*dw - pl
				// Output columns whose input column ox*sw+off lies in [0, iw).
				lo, hi := 0, 0
				if off < 0 {
					lo = (-off + sw - 1) / sw
				}
				if iw-1-off >= 0 {
					hi = min(ow, (iw-1-off)/sw+1)
				}
				lo = min(lo, ow)
				hi = max(hi, lo)
				pos := 0
				for oy := oyFirst; oy <= oyLast; oy++ {
					xs, xe := 0, ow
					if oy == oyFirst {
						xs = j0 - oy*ow
					}
					if oy == oyLast {
						xe = j1 - oy*ow
					}
					dst := row[pos : pos+xe-xs]
					pos += xe - xs
					iy := oy*sh + ky*dh - pt
					if iy < 0 || iy >= h {
						clear(dst)
						continue
					}
					src := plane[iy*iw : (iy+1)*iw]
					a, b := min(max(lo, xs), xe), min(max(hi, xs), xe)
					b = max(a, b)
					for i := xs; i < a; i++ {
						dst[i-xs] = 0
					}
					inner := dst[a-xs : b-xs]
					if len(inner) == 0 {
						// No tap inside the input (it may be narrower than the padded kernel).
					} else if sw == 1 {
						copy(inner, src[a+off:b+off])
					} else {
						src = src[a*sw+off : (b-1)*sw+off+1]
						for i := range inner {
							inner[i] = src[i*sw]
						}
					}
					for i := b; i < xe; i++ {
						dst[i-xs] = 0
					}
				}
			}
		}
	}
}
