package engine

// Depthwise convolution (one input channel per group, any channel multiplier), computed directly:
// im2col would copy each input value taps times to then multiply tiny matrices.

// depthwisePlan is a depthwise conv over 1-D or 2-D inputs, seen as 2-D (1-D gets height 1).
type depthwisePlan struct {
	*convShape
	mult             int // output channels per input channel
	h, w, oh, ow     int
	kh, kw           int
	sh, sw, dh, dw   int
	padTop, padLeft  int
	paddedH, paddedW int // extent of the zero-padded copy of an input plane
	needsCopy        bool
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
	// The padded plane holds every position any window reads, so the inner loops need no bounds
	// checks against the input edges.
	p.paddedH = max(p.padTop+p.h, (p.oh-1)*p.sh+(p.kh-1)*p.dh+1)
	p.paddedW = max(p.padLeft+p.w, (p.ow-1)*p.sw+(p.kw-1)*p.dw+1)
	p.needsCopy = p.padTop > 0 || p.padLeft > 0 || p.paddedH > p.h || p.paddedW > p.w
	if p.needsCopy {
		p.scratch = newNNScratch(p.paddedH * p.paddedW)
	}
	return p
}

func (p *depthwisePlan) run(x, w, bias, y []float32) {
	inSize, outSize, taps := p.h*p.w, p.oh*p.ow, p.kh*p.kw
	nnParallel(p.batch*p.cin, func(task int) {
		plane := x[task*inSize : (task+1)*inSize]
		padded, width := plane, p.w
		if p.needsCopy {
			buf := p.scratch.get()
			defer p.scratch.put(buf)
			padded, width = *buf, p.paddedW
			p.padPlane(padded, plane)
		}
		c := task % p.cin
		for m := 0; m < p.mult; m++ {
			oc := c*p.mult + m
			var b float32
			if bias != nil {
				b = bias[oc]
			}
			img := task / p.cin
			out := y[(img*p.cout+oc)*outSize : (img*p.cout+oc+1)*outSize]
			p.convolvePlane(out, padded, width, w[oc*taps:(oc+1)*taps], b)
		}
	})
}

// padPlane copies an input plane into the middle of a zeroed paddedH x paddedW buffer.
func (p *depthwisePlan) padPlane(dst, src []float32) {
	clear(dst)
	for iy := 0; iy < p.h; iy++ {
		copy(dst[(iy+p.padTop)*p.paddedW+p.padLeft:], src[iy*p.w:(iy+1)*p.w])
	}
}

// convolvePlane computes one output plane from a plane padded so all windows are in bounds.
func (p *depthwisePlan) convolvePlane(out, in []float32, width int, k []float32, bias float32) {
	switch {
	case p.kh == 3 && p.kw == 3 && p.dh == 1 && p.dw == 1:
		for oy := 0; oy < p.oh; oy++ {
			r := in[oy*p.sh*width:]
			depthwiseRow3x3(out[oy*p.ow:(oy+1)*p.ow], r, r[width:], r[2*width:], k, bias, p.sw)
		}
	case p.kh == 5 && p.kw == 5 && p.dh == 1 && p.dw == 1:
		for oy := 0; oy < p.oh; oy++ {
			r := in[oy*p.sh*width:]
			depthwiseRow5x5(out[oy*p.ow:(oy+1)*p.ow], r, width, k, bias, p.sw)
		}
	default:
		for oy := 0; oy < p.oh; oy++ {
			p.depthwiseRowGeneric(out[oy*p.ow:(oy+1)*p.ow], in[oy*p.sh*width:], width, k, bias)
		}
	}
}

// depthwiseRowGeneric accumulates tap by tap over the row: any kernel size, stride and dilation.
func (p *depthwisePlan) depthwiseRowGeneric(out, in []float32, width int, k []float32, bias float32) {
	for i := range out {
		out[i] = bias
	}
	for ky := 0; ky < p.kh; ky++ {
		row := in[ky*p.dh*width:]
		for kx := 0; kx < p.kw; kx++ {
			wv := k[ky*p.kw+kx]
			src := row[kx*p.dw:]
			if p.sw == 1 {
				src = src[:len(out)]
				for i := range out {
					out[i] += wv * src[i]
				}
				continue
			}
			for i := range out {
				out[i] += wv * src[i*p.sw]
			}
		}
	}
}

// depthwiseRow3x3 computes one output row of a 3x3 kernel from three input rows, keeping the
// sum of the nine taps in a register.
func depthwiseRow3x3(out, r0, r1, r2, k []float32, bias float32, stride int) {
	k = k[:9]
	n := len(out)
	if n == 0 {
		return
	}
	need := (n-1)*stride + 3
	r0, r1, r2 = r0[:need], r1[:need], r2[:need]
	if stride == 1 {
		for i := range out {
			a, b, c := r0[i:i+3], r1[i:i+3], r2[i:i+3]
			out[i] = bias + k[0]*a[0] + k[1]*a[1] + k[2]*a[2] +
				k[3]*b[0] + k[4]*b[1] + k[5]*b[2] +
				k[6]*c[0] + k[7]*c[1] + k[8]*c[2]
		}
		return
	}
	for i := range out {
		x := i * stride
		a, b, c := r0[x:x+3], r1[x:x+3], r2[x:x+3]
		out[i] = bias + k[0]*a[0] + k[1]*a[1] + k[2]*a[2] +
			k[3]*b[0] + k[4]*b[1] + k[5]*b[2] +
			k[6]*c[0] + k[7]*c[1] + k[8]*c[2]
	}
}

// depthwiseRow5x5 computes one output row of a 5x5 kernel, row of taps by row of taps.
func depthwiseRow5x5(out, in []float32, width int, k []float32, bias float32, stride int) {
	k = k[:25]
	n := len(out)
	if n == 0 {
		return
	}
	need := (n-1)*stride + 5
	for i := range out {
		out[i] = bias
	}
	for ky := 0; ky < 5; ky++ {
		r := in[ky*width : ky*width+need]
		w := k[ky*5 : ky*5+5]
		for i := range out {
			a := r[i*stride : i*stride+5]
			out[i] += w[0]*a[0] + w[1]*a[1] + w[2]*a[2] + w[3]*a[3] + w[4]*a[4]
		}
	}
}
