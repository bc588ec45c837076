package engine

// Depthwise convolution (one input channel per group, any channel multiplier), computed directly:
// im2col would copy each input value taps times to then multiply tiny matrices.

import "unsafe"

//
// Each input plane is copied once into a zero-padded plane, so no window needs bounds checks.
// With a horizontal stride s, every padded row is stored split by column phase (columns 0, s,
// 2s, ... first, then 1, s+1, ..., and so on): the input a tap reads for consecutive outputs is
// then contiguous, and an output row is a sum of taps contiguous vectors, which the vector
// kernel computes in one pass.

// depthwisePlan is a depthwise conv over 1-D or 2-D inputs, seen as 2-D (1-D gets height 1).
type depthwisePlan struct {
	*convShape
	mult             int // output channels per input channel
	h, w, oh, ow     int
	kh, kw           int
	sh, sw, dh, dw   int
	padTop, padLeft  int
	paddedH, paddedW int // extent of the zero-padded copy of an input plane
	phaseStart       []int
	tapOffsets       []int // per tap: offset in the padded plane from the window's first row
	scratch          *nnScratch
}

func newDepthwisePlan(s *convShape) *depthwisePlan {
	win := s.win
	p := &depthwisePlan{convShape: s, mult: s.coutG, h: 1, oh: 1, kh: 1, sh: 1, dh: 1}
	last := win.rank() - 1
	if win.rank() == 2 {
		p.h, p.oh, p.kh, p.sh, p.dh, p.padTop = win.in[0], win.out[0], win.kernel[0], win.stride[0], win.dilation[0], win.padBegin[0]
	}
	p.w, p.ow, p.kw, p.sw, p.dw, p.padLeft = win.in[last], win.out[last], win.kernel[last], win.stride[last], win.dilation[last], win.padBegin[last]
	p.paddedH = max(p.padTop+p.h, (p.oh-1)*p.sh+(p.kh-1)*p.dh+1)
	p.paddedW = max(p.padLeft+p.w, (p.ow-1)*p.sw+(p.kw-1)*p.dw+1)
	// Planes are always copied: the copy also gets depthwiseSlack floats of zeros at its end, so
	// the vector kernel may compute whole vectors past a row's last output (then dropped).
	for ph := 0; ph < p.sw; ph++ {
		start := 0
		if ph > 0 {
			start = p.phaseStart[ph-1] + (p.paddedW-(ph-1)+p.sw-1)/p.sw
		}
		p.phaseStart = append(p.phaseStart, start)
	}
	// The padded plane, its slack, then a buffer for the last output row.
	p.scratch = newNNScratch(p.paddedH*p.paddedW + depthwiseSlack + p.ow + depthwiseSlack)
	rowLen := p.paddedW
	for ky := 0; ky < p.kh; ky++ {
		for kx := 0; kx < p.kw; kx++ {
			col := kx * p.dw
			p.tapOffsets = append(p.tapOffsets, ky*p.dh*rowLen+p.phaseStart[col%p.sw]+col/p.sw)
		}
	}
	return p
}

func (p *depthwisePlan) run(x, w, bias, y []float32) {
	inSize, outSize, taps := p.h*p.w, p.oh*p.ow, p.kh*p.kw
	nnParallel(p.batch*p.cin, p.mult*outSize*taps, func(task int) {
		plane := x[task*inSize : (task+1)*inSize]
		buf := p.scratch.get()
		defer p.scratch.put(buf)
		paddedLen := p.paddedH*p.paddedW + depthwiseSlack
		padded, rowLen, lastRow := (*buf)[:paddedLen], p.paddedW, (*buf)[paddedLen:]
		p.padPlane(padded, plane)
		var tapAddresses [64]uintptr // on the stack for kernels up to 8x8
		srcs := tapAddresses[:0]
		if taps <= len(tapAddresses) {
			srcs = tapAddresses[:taps]
		} else {
			srcs = make([]uintptr, taps)
		}
		c, img := task%p.cin, task/p.cin
		for m := 0; m < p.mult; m++ {
			oc := c*p.mult + m
			var b float32
			if bias != nil {
				b = bias[oc]
			}
			out := y[(img*p.cout+oc)*outSize : (img*p.cout+oc+1)*outSize]
			k := w[oc*taps : (oc+1)*taps]
			for oy := 0; oy < p.oh; oy++ {
				// A row may spill whole vectors into the next row, which then overwrites them; the
				// last row of the plane goes through a buffer instead.
				row := out[oy*p.ow:]
				if oy == p.oh-1 {
					row = lastRow
				}
				p.convolveRow(row, p.ow, padded, oy*p.sh*rowLen, k, b, srcs)
				if oy == p.oh-1 {
					copy(out[oy*p.ow:], lastRow[:p.ow])
				}
			}
		}
	})
}

// padPlane copies an input plane into a zeroed paddedH x paddedW plane, each row split by
// column phase.
func (p *depthwisePlan) padPlane(dst, src []float32) {
	clear(dst)
	for iy := 0; iy < p.h; iy++ {
		row := dst[(iy+p.padTop)*p.paddedW : (iy+p.padTop+1)*p.paddedW]
		in := src[iy*p.w : (iy+1)*p.w]
		if p.sw == 1 {
			copy(row[p.padLeft:], in)
			continue
		}
		for ph := 0; ph < p.sw; ph++ {
			// Padded columns ph, ph+sw, ... hold input columns ph-padLeft, ph-padLeft+sw, ...
			first := ph - p.padLeft
			j := 0
			if first < 0 {
				j = (-first + p.sw - 1) / p.sw
			}
			dst := row[p.phaseStart[ph]:]
			for ix := first + j*p.sw; ix < p.w; ix += p.sw {
				dst[j] = in[ix]
				j++
			}
		}
	}
}

// depthwiseSlack is how far past a row the vector kernel may read and write.
const depthwiseSlack = 8

// convolveRow computes the n outputs of one row whose window starts at offset rowOff of the
// padded plane; out may be written up to n rounded up to a whole vector when it is long enough.
func (p *depthwisePlan) convolveRow(out []float32, n int, padded []float32, rowOff int, k []float32, bias float32, srcs []uintptr) {
	for t, off := range p.tapOffsets {
		// Addresses as integers: storing pointers would cost GC write barriers per tap and row.
		// padded stays alive (and unmoved: Go's heap does not move) for the whole call.
		srcs[t] = uintptr(unsafe.Pointer(&padded[rowOff+off]))
	}
	vectorLen := n
	if rounded := (n + depthwiseSlack - 1) &^ (depthwiseSlack - 1); rounded <= len(out) {
		vectorLen = rounded
	}
	out = out[:vectorLen]
	done := depthwiseRowVector(out, srcs, k, bias)
	out = out[:n]
	if done >= n {
		return
	}
	rest := out[done:]
	for i := range rest {
		rest[i] = bias
	}
	for t, off := range p.tapOffsets {
		wt := k[t]
		src := padded[rowOff+off+done : rowOff+off+len(out)]
		for i := range rest {
			rest[i] += wt * src[i]
		}
	}
}
