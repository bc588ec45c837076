package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"math"

	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("MaxPool", buildMaxPool)
	register("AveragePool", buildAveragePool)
	register("GlobalAveragePool", buildGlobalAveragePool)
	register("GlobalMaxPool", buildGlobalMaxPool)
}

// Pooling windows are boxes, so max and sum over a window split into one pass per spatial dim:
// first over the last dim, then the one before, and so on. Each pass reduces runs of `inner`
// contiguous values at once, so passes over outer dims vectorise over the inner ones. The average's
// divisor (the count of the box's taps) is a product of per-dim counts, applied in each pass.

// poolAxis is how one spatial dim is pooled.
type poolAxis struct {
	inLen, outLen int
	dilation      int
	start         []int     // per output coordinate: input coordinate of tap 0 (may be negative)
	tapLo, tapHi  []int     // per output coordinate: the taps that land inside the input
	scale         []float32 // per output coordinate: 1 / counted taps (average pooling only)
	identity      bool      // kernel 1, stride 1, no padding: nothing to do
	kernel        int
	// interiorLo, interiorHi bound the output coordinates whose whole window lies in the input.
	interiorLo, interiorHi int
}

func (ax *poolAxis) findInterior() {
	lo := 0
	for lo < ax.outLen && (ax.tapLo[lo] != 0 || ax.tapHi[lo] != ax.kernel) {
		lo++
	}
	hi := lo
	for hi < ax.outLen && ax.tapLo[hi] == 0 && ax.tapHi[hi] == ax.kernel {
		hi++
	}
	ax.interiorLo, ax.interiorHi = lo, hi
}

// poolAxes derives the per-dim passes of a window. countPadding counts taps that land in the
// explicit padding (count_include_pad) in the average's divisor.
func poolAxes(w *nnWindow, average, countPadding bool) []*poolAxis {
	axes := make([]*poolAxis, w.rank())
	for d := range axes {
		ax := &poolAxis{inLen: w.in[d], outLen: w.out[d], dilation: w.dilation[d], kernel: w.kernel[d]}
		ax.identity = w.kernel[d] == 1 && w.stride[d] == 1 && w.padBegin[d] == 0 && w.in[d] == w.out[d]
		for o := 0; o < ax.outLen; o++ {
			s := o*w.stride[d] - w.padBegin[d]
			lo, hi, padded := w.kernel[d], 0, 0
			for t := 0; t < w.kernel[d]; t++ {
				i := s + t*w.dilation[d]
				if i >= 0 && i < w.in[d] {
					lo, hi = min(lo, t), t+1
				}
				if i >= -w.padBegin[d] && i < w.in[d]+w.padEnd[d] {
					padded++
				}
			}
			lo = min(lo, hi)
			ax.start = append(ax.start, s)
			ax.tapLo = append(ax.tapLo, lo)
			ax.tapHi = append(ax.tapHi, hi)
			if average {
				count := hi - lo
				if countPadding {
					count = padded
				}
				ax.scale = append(ax.scale, 1/float32(count))
			}
		}
		ax.findInterior()
		axes[d] = ax
	}
	return axes
}

// poolNumber is an element type MaxPool accepts.
type poolNumber interface {
	float32 | uint8 | int8
}

// poolPlan runs the passes of one pooling node over a whole tensor.
type poolPlan struct {
	planes  int // N * C
	spatial []int
	outSp   []int
	axes    []*poolAxis
	threads int // goroutines the kernel may use
}

// poolRun applies the passes; pass reduces src [outer, inLen, inner] into dst [outer, outLen, inner].
func poolRun[T poolNumber](p *poolPlan, x, y []T, pass func(dst, src []T, outer, inner int, ax *poolAxis)) {
	cur := x
	shape := append([]int{}, p.spatial...)
	last := -1
	for d := len(p.axes) - 1; d >= 0; d-- {
		if !p.axes[d].identity {
			last = d
		}
	}
	for d := len(p.axes) - 1; d >= 0; d-- {
		ax := p.axes[d]
		if ax.identity {
			continue
		}
		outer := p.planes * tensor.NumElements(shape[:d])
		inner := tensor.NumElements(shape[d+1:])
		shape[d] = ax.outLen
		dst := y
		if d != last {
			dst = make([]T, p.planes*tensor.NumElements(shape))
		}
		src := cur
		workers.ForRange(p.threads, outer, max(1, 32768/max(1, ax.inLen*inner)), func(lo, hi int) {
			pass(dst[lo*ax.outLen*inner:hi*ax.outLen*inner], src[lo*ax.inLen*inner:hi*ax.inLen*inner], hi-lo, inner, ax)
		})
		cur = dst
	}
	if last < 0 {
		copy(y, x)
	}
}

// poolMax is MaxPool without indices.
func poolMax[T poolNumber](p *poolPlan, x, y []T) {
	if len(p.axes) <= 2 {
		poolMax2D(p, x, y)
		return
	}
	poolRun(p, x, y, poolMaxPass[T])
}

// poolAxes2D returns the height and width axes of a 1-D or 2-D pooling (1-D gets height 1).
func poolAxes2D(p *poolPlan) (ah, aw *poolAxis) {
	aw = p.axes[len(p.axes)-1]
	if len(p.axes) == 2 {
		return p.axes[0], aw
	}
	return &poolAxis{inLen: 1, outLen: 1, dilation: 1, start: []int{0}, tapLo: []int{0}, tapHi: []int{1}, scale: []float32{1}}, aw
}

// poolMax2D pools plane by plane and output row by output row: the window's input rows are first
// reduced into one row (in L1), which the horizontal windows then read. Each input row is read
// about kernel/stride times and no intermediate plane is written.
func poolMax2D[T poolNumber](p *poolPlan, x, y []T) {
	if xf, ok := any(x).([]float32); ok && p.same3x3() {
		poolMax3x3Same(p, xf, any(y).([]float32))
		return
	}
	if xf, ok := any(x).([]float32); ok && p.stride2() {
		poolMax2DS2(p, xf, any(y).([]float32))
		return
	}
	ah, aw := poolAxes2D(p)
	inSize, outSize := ah.inLen*aw.inLen, ah.outLen*aw.outLen
	lowest := poolLowest[T]()
	workers.ForRange(p.threads, p.planes, max(1, 32768/max(inSize, 1)), func(lo, hi int) {
		rowMax := make([]T, aw.inLen)
		for pl := lo; pl < hi; pl++ {
			plane := x[pl*inSize : (pl+1)*inSize]
			for oy := 0; oy < ah.outLen; oy++ {
				out := y[pl*outSize+oy*aw.outLen : pl*outSize+(oy+1)*aw.outLen]
				if ah.tapLo[oy] == ah.tapHi[oy] {
					for i := range out {
						out[i] = lowest
					}
					continue
				}
				for t := ah.tapLo[oy]; t < ah.tapHi[oy]; t++ {
					iy := ah.start[oy] + t*ah.dilation
					src := plane[iy*aw.inLen : (iy+1)*aw.inLen]
					if t == ah.tapLo[oy] {
						copy(rowMax, src)
						continue
					}
					poolMaxInto(rowMax[:len(src)], src)
				}
				poolMaxRow(out, rowMax, aw, lowest)
			}
		}
	})
}

// stride2 reports a 2-D 2x2 or 3x3 window with stride 2 (any padding, ceil_mode) on rows of at
// least 8, which poolMax2DS2 pools with vector passes.
func (p *poolPlan) stride2() bool {
	if len(p.axes) != 2 || !poolHasAVX2 || p.axes[1].inLen < 8 {
		return false
	}
	for _, ax := range p.axes {
		if (ax.kernel != 2 && ax.kernel != 3) || ax.dilation != 1 || ax.outLen < 2 || ax.start[1]-ax.start[0] != 2 || ax.interiorLo >= ax.interiorHi {
			return false
		}
	}
	return true
}

// poolMax2DS2 pools stride-2 windows plane by plane in two passes: the vertical maxima of all
// interior output rows in one vector call (windows clamped at the edges in Go), then the
// horizontal stride-2 maxima. When the input width is twice the output width, the reduced rows
// laid end to end line up with the output rows, so the horizontal pass is one flat vector call
// per plane and only the edge columns (windows clamped by padding or ceil_mode) are redone.
func poolMax2DS2(p *poolPlan, x, y []float32) {
	ah, aw := p.axes[0], p.axes[1]
	w, ow, oh := aw.inLen, aw.outLen, ah.outLen
	inSize, outSize := ah.inLen*w, oh*ow
	lowest := float32(math.Inf(-1))
	flat := 2*ow == w
	workers.ForRange(p.threads, p.planes, workers.Grain(inSize), func(lo, hi int) {
		v := make([]float32, oh*w)
		edge := func(out, row []float32, ox int) {
			m := lowest
			for t := aw.tapLo[ox]; t < aw.tapHi[ox]; t++ {
				m = max(m, row[aw.start[ox]+t])
			}
			out[ox] = m
		}
		for pl := lo; pl < hi; pl++ {
			in, out := x[pl*inSize:(pl+1)*inSize], y[pl*outSize:(pl+1)*outSize]
			for oy := 0; oy < oh; oy++ {
				if oy == ah.interiorLo {
					n := ah.interiorHi - ah.interiorLo
					poolMaxVS2Vector(v[oy*w:], in[ah.start[oy]*w:], w, n, ah.kernel)
					oy += n - 1
					continue
				}
				row := v[oy*w : (oy+1)*w]
				if ah.tapLo[oy] == ah.tapHi[oy] {
					for i := range row {
						row[i] = lowest
					}
					continue
				}
				for t := ah.tapLo[oy]; t < ah.tapHi[oy]; t++ {
					iy := ah.start[oy] + t
					if t == ah.tapLo[oy] {
						copy(row, in[iy*w:(iy+1)*w])
						continue
					}
					poolMaxInto(row, in[iy*w:(iy+1)*w])
				}
			}
			if !flat {
				for oy := 0; oy < oh; oy++ {
					poolMaxRow(out[oy*ow:(oy+1)*ow], v[oy*w:(oy+1)*w], aw, lowest)
				}
				continue
			}
			s0 := aw.start[0]
			j0 := max(0, (-s0+1)/2)
			done := j0 + poolMaxS2Vector(out[j0:], v[2*j0+s0:], aw.kernel)
			for oy := 0; oy < oh; oy++ {
				o, row := out[oy*ow:(oy+1)*ow], v[oy*w:(oy+1)*w]
				for ox := 0; ox < aw.interiorLo; ox++ {
					edge(o, row, ox)
				}
				for ox := aw.interiorHi; ox < ow; ox++ {
					edge(o, row, ox)
				}
			}
			for _, r := range [2][2]int{{0, j0}, {done, outSize}} {
				for j := r[0]; j < r[1]; j++ {
					oy := j / ow
					edge(out[oy*ow:(oy+1)*ow], v[oy*w:(oy+1)*w], j-oy*ow)
				}
			}
		}
	})
}

// same3x3 reports a 2-D 3x3 window with stride 1 and padding 1 all round (output size = input
// size), as Inception's pooling branches use.
func (p *poolPlan) same3x3() bool {
	if len(p.axes) != 2 {
		return false
	}
	for _, ax := range p.axes {
		if ax.kernel != 3 || ax.dilation != 1 || ax.outLen != ax.inLen || ax.inLen < 2 || ax.start[0] != -1 || ax.start[ax.outLen-1] != ax.outLen-2 {
			return false
		}
	}
	return true
}

// poolMax3x3Same pools each plane with whole-plane vector passes: the horizontal maxima of the
// plane as one flat run (then the two edge columns of each row fixed), and the vertical maxima
// as maxima of the plane shifted by a row. Small planes thus cost a few calls instead of a few
// per row.
func poolMax3x3Same(p *poolPlan, x, y []float32) {
	h, w := p.axes[0].inLen, p.axes[1].inLen
	n := h * w
	workers.ForRange(p.threads, p.planes, workers.Grain(n), func(lo, hi int) {
		rowMax := make([]float32, n)
		for pl := lo; pl < hi; pl++ {
			in, out := x[pl*n:(pl+1)*n], y[pl*n:(pl+1)*n]
			inner := rowMax[1 : n-1]
			done := poolMax3Vector(inner, in)
			for i := done; i < len(inner); i++ {
				inner[i] = max(in[i], in[i+1], in[i+2])
			}
			for r := 0; r < h; r++ {
				row := in[r*w : (r+1)*w]
				rowMax[r*w] = max(row[0], row[1])
				rowMax[r*w+w-1] = max(row[w-2], row[w-1])
			}
			copy(out[:w], rowMax[:w])
			poolMaxInto(out[:w], rowMax[w:2*w])
			if h > 2 {
				middle := out[w : (h-1)*w]
				copy(middle, rowMax[:(h-2)*w])
				poolMaxInto(middle, rowMax[w:(h-1)*w])
				poolMaxInto(middle, rowMax[2*w:])
			}
			last := out[(h-1)*w:]
			copy(last, rowMax[(h-1)*w:])
			poolMaxInto(last, rowMax[(h-2)*w:(h-1)*w])
		}
	})
}

// poolMaxInto sets dst[i] = max(dst[i], src[i]).
func poolMaxInto[T poolNumber](dst, src []T) {
	done := 0
	if f, ok := any(dst).([]float32); ok {
		done = poolMaxIntoVector(f, any(src).([]float32))
	}
	src = src[:len(dst)]
	for i := done; i < len(dst); i++ {
		dst[i] = max(dst[i], src[i]) // branch-free: data-dependent branches mispredict
	}
}

// poolMaxRow takes the horizontal window maxima of one reduced row, with unrolled loops for the
// common 3-wide and 2-wide windows away from the edges.
func poolMaxRow[T poolNumber](out, row []T, aw *poolAxis, lowest T) {
	edge := func(ox int) {
		m := lowest
		for t := aw.tapLo[ox]; t < aw.tapHi[ox]; t++ {
			m = max(m, row[aw.start[ox]+t*aw.dilation])
		}
		out[ox] = m
	}
	lo, hi := aw.interiorLo, aw.interiorHi
	for ox := 0; ox < lo; ox++ {
		edge(ox)
	}
	if f, ok := any(out).([]float32); ok && lo < hi && aw.dilation == 1 && (aw.kernel == 2 || aw.kernel == 3) && aw.start[hi-1]-aw.start[lo] == 2*(hi-1-lo) {
		// Stride 2: the windows of consecutive outputs start two apart.
		lo += poolMaxS2Vector(f[lo:hi], any(row).([]float32)[aw.start[lo]:], aw.kernel)
	}
	switch {
	case aw.kernel == 3 && aw.dilation == 1:
		if f, ok := any(out).([]float32); ok && lo < hi && aw.start[hi-1]-aw.start[lo] == hi-1-lo {
			// Stride 1: the windows of consecutive outputs are consecutive.
			lo += poolMax3Vector(f[lo:hi], any(row).([]float32)[aw.start[lo]:])
		}
		for ox := lo; ox < hi; ox++ {
			w := row[aw.start[ox] : aw.start[ox]+3]
			out[ox] = max(max(w[0], w[1]), w[2])
		}
	case aw.kernel == 2 && aw.dilation == 1:
		for ox := lo; ox < hi; ox++ {
			w := row[aw.start[ox] : aw.start[ox]+2]
			out[ox] = max(w[0], w[1])
		}
	default:
		for ox := lo; ox < hi; ox++ {
			edge(ox)
		}
	}
	for ox := hi; ox < len(out); ox++ {
		edge(ox)
	}
}

// poolAverage2D is poolMax2D's counterpart for AveragePool: rows are summed, then windows.
func poolAverage2D(p *poolPlan, x, y []float32) {
	ah, aw := poolAxes2D(p)
	inSize, outSize := ah.inLen*aw.inLen, ah.outLen*aw.outLen
	workers.ForRange(p.threads, p.planes, max(1, 32768/max(inSize, 1)), func(lo, hi int) {
		rowSum := make([]float32, aw.inLen)
		for pl := lo; pl < hi; pl++ {
			plane := x[pl*inSize : (pl+1)*inSize]
			for oy := 0; oy < ah.outLen; oy++ {
				clear(rowSum)
				for t := ah.tapLo[oy]; t < ah.tapHi[oy]; t++ {
					iy := ah.start[oy] + t*ah.dilation
					for i, v := range plane[iy*aw.inLen : (iy+1)*aw.inLen] {
						rowSum[i] += v
					}
				}
				out := y[pl*outSize+oy*aw.outLen : pl*outSize+(oy+1)*aw.outLen]
				for ox := range out {
					var sum float32
					for t := aw.tapLo[ox]; t < aw.tapHi[ox]; t++ {
						sum += rowSum[aw.start[ox]+t*aw.dilation]
					}
					out[ox] = sum * aw.scale[ox] * ah.scale[oy]
				}
			}
		}
	})
}

// poolMaxPass takes the maximum over each window of one dim.
func poolMaxPass[T poolNumber](dst, src []T, outer, inner int, ax *poolAxis) {
	lowest := poolLowest[T]()
	for b := 0; b < outer; b++ {
		s := src[b*ax.inLen*inner : (b+1)*ax.inLen*inner]
		d := dst[b*ax.outLen*inner : (b+1)*ax.outLen*inner]
		for o := 0; o < ax.outLen; o++ {
			lo, hi := ax.tapLo[o], ax.tapHi[o]
			if inner == 1 {
				m := lowest
				for t := lo; t < hi; t++ {
					m = max(m, s[ax.start[o]+t*ax.dilation])
				}
				d[o] = m
				continue
			}
			out := d[o*inner : (o+1)*inner]
			if lo == hi {
				for i := range out {
					out[i] = lowest
				}
				continue
			}
			i0 := ax.start[o] + lo*ax.dilation
			copy(out, s[i0*inner:(i0+1)*inner])
			for t := lo + 1; t < hi; t++ {
				i := ax.start[o] + t*ax.dilation
				in := s[i*inner : (i+1)*inner]
				out := out[:len(in)]
				for j, v := range in {
					out[j] = max(out[j], v)
				}
			}
		}
	}
}

// poolAveragePass sums each window of one dim and scales by that dim's share of the divisor.
func poolAveragePass(dst, src []float32, outer, inner int, ax *poolAxis) {
	for b := 0; b < outer; b++ {
		s := src[b*ax.inLen*inner : (b+1)*ax.inLen*inner]
		d := dst[b*ax.outLen*inner : (b+1)*ax.outLen*inner]
		for o := 0; o < ax.outLen; o++ {
			lo, hi, scale := ax.tapLo[o], ax.tapHi[o], ax.scale[o]
			if inner == 1 {
				var sum float32
				for t := lo; t < hi; t++ {
					sum += s[ax.start[o]+t*ax.dilation]
				}
				d[o] = sum * scale
				continue
			}
			out := d[o*inner : (o+1)*inner]
			clear(out)
			for t := lo; t < hi; t++ {
				i := ax.start[o] + t*ax.dilation
				in := s[i*inner : (i+1)*inner]
				for j, v := range in {
					out[j] += v
				}
			}
			for j := range out {
				out[j] *= scale
			}
		}
	}
}

func poolLowest[T poolNumber]() T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(float32(math.Inf(-1))).(T)
	case int8:
		return any(int8(math.MinInt8)).(T)
	}
	return z // uint8
}

// poolCheck validates X [N, C, D1..Dr] and reads the window attributes.
func poolCheck(n *Node, x Info, ceil bool) (*nnWindow, *poolPlan, error) {
	if len(x.Shape) < 3 {
		return nil, nil, fmt.Errorf("input X has shape %v; pooling needs [N, C, spatial...] with at least one spatial dim", x.Shape)
	}
	if ceil && n.AttrString("auto_pad", "NOTSET") != "NOTSET" && n.AttrString("auto_pad", "NOTSET") != "" {
		ceil = false // auto_pad sizes the output itself
	}
	w, err := nnWindowAttrs(n, x.Shape[2:], nil, ceil)
	if err != nil {
		return nil, nil, err
	}
	if err := poolWindowSane(n, w, x); err != nil {
		return nil, nil, err
	}
	p := &poolPlan{planes: x.Shape[0] * x.Shape[1], spatial: w.in, outSp: w.out, threads: n.Threads}
	return w, p, nil
}

func buildMaxPool(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	switch x.DType {
	case tensor.Float, tensor.Uint8, tensor.Int8:
	default:
		return nil, fmt.Errorf("input X is %v; MaxPool runs on float, uint8 and int8", x.DType)
	}
	w, p, err := poolCheck(n, x, n.AttrInt("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	p.axes = poolAxes(w, false, false)
	outShape := append([]int{x.Shape[0], x.Shape[1]}, w.out...)
	outputs := []Info{{DType: x.DType, Shape: outShape}}
	withIndices := n.Output(1) != ""
	if withIndices {
		outputs = append(outputs, Info{DType: tensor.Int64, Shape: outShape})
	}
	columnMajor := n.AttrInt("storage_order", 0) == 1
	return &Build{
		Outputs: outputs,
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			if withIndices && outs[1] != nil {
				maxPoolWithIndices(w, p.planes, ins[0], outs[0], outs[1].I64, columnMajor)
				return nil
			}
			switch ins[0].DType {
			case tensor.Float:
				poolMax(p, ins[0].F32, outs[0].F32)
			case tensor.Uint8:
				poolMax(p, ins[0].U8, outs[0].U8)
			case tensor.Int8:
				poolMax(p, ins[0].I8, outs[0].I8)
			}
			return nil
		},
	}, nil
}

// maxPoolWithIndices pools window by window, recording where each maximum came from as a flat
// index into X (row-major, or column-major over the spatial dims with storage_order 1).
func maxPoolWithIndices(w *nnWindow, planes int, x, y *tensor.Tensor, idx []int64, columnMajor bool) {
	r := w.rank()
	inSize, outSize := w.inSize(), w.outSize()
	opos, tap, ipos := make([]int, r), make([]int, r), make([]int, r)
	taps := w.kernelSize()
	for pl := 0; pl < planes; pl++ {
		for o := 0; o < outSize; o++ {
			rem := o
			for d := r - 1; d >= 0; d-- {
				opos[d] = rem % w.out[d]
				rem /= w.out[d]
			}
			best, bestAt := math.Inf(-1), -1
			for t := 0; t < taps; t++ {
				rem := t
				for d := r - 1; d >= 0; d-- {
					tap[d] = rem % w.kernel[d]
					rem /= w.kernel[d]
				}
				flat, inside := 0, true
				for d := 0; d < r; d++ {
					ipos[d] = opos[d]*w.stride[d] + tap[d]*w.dilation[d] - w.padBegin[d]
					if ipos[d] < 0 || ipos[d] >= w.in[d] {
						inside = false
						break
					}
					flat = flat*w.in[d] + ipos[d]
				}
				if !inside {
					continue
				}
				if v := x.At(pl*inSize + flat); bestAt < 0 || v > best {
					best, bestAt = v, flat
				}
			}
			out := pl*outSize + o
			switch y.DType {
			case tensor.Float:
				y.F32[out] = float32(best)
			case tensor.Uint8:
				y.U8[out] = uint8(best)
			case tensor.Int8:
				y.I8[out] = int8(best)
			}
			if bestAt >= 0 && columnMajor {
				bestAt = poolColumnMajor(bestAt, w.in)
			}
			idx[out] = int64(pl*inSize + bestAt)
		}
	}
}

// poolColumnMajor converts a row-major flat spatial index to the column-major one.
func poolColumnMajor(flat int, dims []int) int {
	out, stride := 0, 1
	coords := make([]int, len(dims))
	for d := len(dims) - 1; d >= 0; d-- {
		coords[d] = flat % dims[d]
		flat /= dims[d]
	}
	for d := range dims {
		out += coords[d] * stride
		stride *= dims[d]
	}
	return out
}

func buildAveragePool(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 1, 1); err != nil {
		return nil, err
	}
	if err := nnFloatInput(in, 0, "X"); err != nil {
		return nil, err
	}
	w, p, err := poolCheck(n, in[0], n.AttrInt("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	p.axes = poolAxes(w, true, n.AttrInt("count_include_pad", 0) != 0)
	for _, ax := range p.axes {
		ax.identity = ax.identity && ax.scale[0] == 1
	}
	outShape := append([]int{in[0].Shape[0], in[0].Shape[1]}, w.out...)
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: outShape}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			if len(p.axes) <= 2 {
				poolAverage2D(p, ins[0].F32, outs[0].F32)
			} else {
				poolRun(p, ins[0].F32, outs[0].F32, poolAveragePass)
			}
			return nil
		},
	}, nil
}

// globalPoolCheck validates X and returns the output shape [N, C, 1, ...] and the plane size.
func globalPoolCheck(in []Info) ([]int, int, error) {
	if err := nnNeedInputs(in, 1, 1); err != nil {
		return nil, 0, err
	}
	if err := nnFloatInput(in, 0, "X"); err != nil {
		return nil, 0, err
	}
	x := in[0].Shape
	if len(x) < 3 {
		return nil, 0, fmt.Errorf("input X has shape %v; global pooling needs [N, C, spatial...] with at least one spatial dim", x)
	}
	out := []int{x[0], x[1]}
	for range x[2:] {
		out = append(out, 1)
	}
	return out, tensor.NumElements(x[2:]), nil
}

func buildGlobalAveragePool(n *Node, in []Info) (*Build, error) {
	outShape, plane, err := globalPoolCheck(in)
	if err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: outShape}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			x, y := ins[0].F32, outs[0].F32
			workers.ForRange(n.Threads, len(y), max(1, 16384/max(plane, 1)), func(lo, hi int) {
				for c := lo; c < hi; c++ {
					y[c] = nnSum(x[c*plane:(c+1)*plane]) / float32(plane)
				}
			})
			return nil
		},
	}, nil
}

func buildGlobalMaxPool(n *Node, in []Info) (*Build, error) {
	outShape, plane, err := globalPoolCheck(in)
	if err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: outShape}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			x, y := ins[0].F32, outs[0].F32
			for c := range y {
				m := float32(math.Inf(-1))
				for _, v := range x[c*plane : (c+1)*plane] {
					m = max(m, v)
				}
				y[c] = m
			}
			return nil
		},
	}, nil
}

// nnSum adds up values with several accumulators (vector lanes where there are vectors), which
// is faster and more accurate than one.
func nnSum(v []float32) float32 {
	var s0, s1, s2, s3 float32
	s0, i := nnSumVector(v)
	for ; i+4 <= len(v); i += 4 {
		s0 += v[i]
		s1 += v[i+1]
		s2 += v[i+2]
		s3 += v[i+3]
	}
	for ; i < len(v); i++ {
		s0 += v[i]
	}
	return (s0 + s1) + (s2 + s3)
}
