package engine

// Depthwise convolution (one input channel per group, any channel multiplier), computed directly:
// im2col would copy each input value taps times to then multiply tiny matrices.
//
// Each input plane is zero-padded and split into stride phases as for the wide GEMM lowering
// (see convPhases): every tap then reads the phase planes at a fixed offset from the wide output
// position, so a whole output plane is one long sum of taps shifted vectors, which the vector
// kernel computes in one pass with no per-row overhead. The garbage columns of the wide output are
// dropped when it is compacted into the real plane.

import (
	"github.com/fcconv/fcconv/internal/workers"
	"unsafe"
)

// depthwisePlan is a depthwise conv over 1-D or 2-D inputs.
type depthwisePlan struct {
	*convShape
	*convPhases
	mult    int              // output channels per input channel
	wideLen int              // wide outputs computed per plane: wideCols rounded up to whole vectors
	scratch *nnScratch       // phase planes and wide output
	direct  *depthwiseDirect // the direct AVX-512 kernel, when it applies
}

// depthwiseSlack is how far past the wide positions the vector kernel may read and write.
const depthwiseSlack = 64

func newDepthwisePlan(s *convShape) *depthwisePlan {
	p := &depthwisePlan{convShape: s, convPhases: newConvPhases(s.win), mult: s.coutG}
	if p.direct = newDepthwiseDirect(s.win); p.direct != nil {
		return p
	}
	p.wideLen = (p.wideCols + 7) &^ 7
	// The phase planes (with slack for the reads past the last wide position), then the wide
	// output plane.
	p.scratch = newNNScratch(p.chanStride + depthwiseSlack + p.wideLen)
	return p
}

func (p *depthwisePlan) run(x, w, bias, y []float32) {
	if p.direct != nil {
		p.runDirect(x, w, bias, y)
		return
	}
	inSize, outSize, taps := p.h*p.w, p.oh*p.ow, len(p.tapOffsets)
	planes := p.batch * p.cin
	// Small planes go several to a task, so the per-task costs (scratch, scheduling) are spread.
	perTask := max(1, min(planes, workers.MinParallelWork/max(1, p.mult*outSize*taps)))
	tasks := (planes + perTask - 1) / perTask
	workers.For(p.threads, tasks, perTask*p.mult*outSize*taps, func(task int) {
		buf := p.scratch.get()
		defer p.scratch.put(buf)
		phased, wide := (*buf)[:p.chanStride+depthwiseSlack], (*buf)[p.chanStride+depthwiseSlack:]
		clear(phased[p.chanStride:]) // the slack must hold numbers, not stale NaNs
		var tapAddresses [64]uintptr // on the stack for kernels up to 8x8
		srcs := tapAddresses[:0]
		if taps <= len(tapAddresses) {
			srcs = tapAddresses[:taps]
		} else {
			srcs = make([]uintptr, taps)
		}
		for t, off := range p.tapOffsets {
			// Addresses as integers: storing pointers would cost GC write barriers. phased stays
			// alive (and unmoved: Go's heap does not move) for the whole task.
			srcs[t] = uintptr(unsafe.Pointer(&phased[off]))
		}
		for plane := task * perTask; plane < min(planes, (task+1)*perTask); plane++ {
			p.splitChannel(phased[:p.chanStride], x[plane*inSize:(plane+1)*inSize])
			c, img := plane%p.cin, plane/p.cin
			for m := 0; m < p.mult; m++ {
				oc := c*p.mult + m
				var b float32
				if bias != nil {
					b = bias[oc]
				}
				p.convolveWide(wide, phased, srcs, w[oc*taps:(oc+1)*taps], b)
				dst := y[(img*p.cout+oc)*outSize : (img*p.cout+oc+1)*outSize]
				p.compactPlane(dst, wide, 0, p.wideCols)
				p.activate(dst)
			}
		}
	})
}

// convolveWide computes the wide output plane: wide[j] = bias + sum over taps of k[t] *
// phased[tapOffsets[t] + j].
func (p *depthwisePlan) convolveWide(wide, phased []float32, srcs []uintptr, k []float32, bias float32) {
	done := depthwiseRowVector(wide[:p.wideLen], srcs, k, bias)
	if done >= p.wideCols {
		return
	}
	rest := wide[done:p.wideCols]
	for i := range rest {
		rest[i] = bias
	}
	for t, off := range p.tapOffsets {
		wt := k[t]
		src := phased[off+done : off+p.wideCols]
		for i := range rest {
			rest[i] += wt * src[i]
		}
	}
}
