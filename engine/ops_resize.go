package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"math"
	"sync"

	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("Resize", buildResize)
	register("Upsample", buildUpsample)
}

// Resize and Upsample are separable: each output value is a weighted sum (one tap for nearest,
// two for linear, four for cubic, more when antialiasing) along every axis in turn. So each axis
// gets a table of taps per output coordinate, and the tensor is resampled one axis at a time,
// skipping axes the resize leaves alone.

// resizeAxis is the resampling of one axis.
type resizeAxis struct {
	inLen, outLen int
	taps          int       // taps per output coordinate
	index         []int     // outLen*taps input coordinates (edge-clamped)
	weight        []float32 // outLen*taps weights
	extrapolate   []bool    // per output coordinate: outside the crop (tf_crop_and_resize)
	identity      bool
}

// resizeParams are a Resize node's attributes.
type resizeParams struct {
	mode            string // nearest, linear, cubic
	coordMode       string
	nearestMode     string
	cubicA          float64
	excludeOutside  bool
	extrapolation   float32
	antialias       bool
	legacyNearest   bool // Resize-10 and Upsample: floor when upsampling, ceil when downsampling
	extrapolationOn bool
	threads         int   // goroutines the kernel may use
	node            *Node // whose memory budget the axis tables are checked against
}

func buildUpsample(n *Node, in []Info) (*Build, error) {
	if len(in) < 1 || in[0].Absent {
		return nil, fmt.Errorf("input X is required")
	}
	x := in[0]
	var scales []float64
	if n.Opset < 9 {
		for _, s := range n.AttrFloats("scales", nil) {
			scales = append(scales, float64(s))
		}
		if scales == nil {
			return nil, fmt.Errorf("the scales attribute is required")
		}
	} else {
		if len(in) < 2 || in[1].Absent || in[1].Const == nil {
			return nil, fmt.Errorf("input scales must be a constant: it decides the output shape, which the engine computes at compile time")
		}
		scales = in[1].Const.Float64s()
	}
	mode := n.AttrString("mode", "nearest")
	if mode == "bilinear" {
		mode = "linear"
	}
	p := resizeParams{mode: mode, coordMode: "asymmetric", legacyNearest: true, threads: n.Threads, node: n}
	return resizeBuild(x, scales, nil, nil, p)
}

func buildResize(n *Node, in []Info) (*Build, error) {
	if len(in) < 1 || in[0].Absent {
		return nil, fmt.Errorf("input X is required")
	}
	x := in[0]
	rank := len(x.Shape)
	p := resizeParams{
		threads:       n.Threads,
		mode:          n.AttrString("mode", "nearest"),
		coordMode:     n.AttrString("coordinate_transformation_mode", "half_pixel"),
		nearestMode:   n.AttrString("nearest_mode", "round_prefer_floor"),
		cubicA:        float64(n.AttrFloat("cubic_coeff_a", -0.75)),
		extrapolation: n.AttrFloat("extrapolation_value", 0),
		node:          n,
	}
	p.excludeOutside = n.AttrInt("exclude_outside", 0) != 0
	p.antialias = n.AttrInt("antialias", 0) != 0
	constInput := func(i int, what string) (*tensor.Tensor, error) {
		if i >= len(in) || in[i].Absent {
			return nil, nil
		}
		if in[i].Const == nil {
			return nil, fmt.Errorf("input %s must be a constant: it decides the output shape, which the engine computes at compile time", what)
		}
		if in[i].Const.Len() == 0 {
			return nil, nil // an empty tensor stands for an omitted input
		}
		return in[i].Const, nil
	}
	if n.Opset < 11 {
		s, err := constInput(1, "scales")
		if err != nil || s == nil {
			return nil, fmt.Errorf("input scales is required and must be a constant")
		}
		p.coordMode, p.legacyNearest = "asymmetric", true
		return resizeBuild(x, s.Float64s(), nil, nil, p)
	}
	roiT, err := constInput(1, "roi")
	if err != nil {
		return nil, err
	}
	scalesT, err := constInput(2, "scales")
	if err != nil {
		return nil, err
	}
	sizesT, err := constInput(3, "sizes")
	if err != nil {
		return nil, err
	}
	if (scalesT == nil) == (sizesT == nil) {
		return nil, fmt.Errorf("exactly one of scales and sizes must be given")
	}
	axes := make([]int, rank)
	for i := range axes {
		axes[i] = i
	}
	if a := n.AttrInts("axes", nil); a != nil && n.Opset >= 18 {
		axes = axes[:0]
		for _, v := range a {
			if v < 0 {
				v += int64(rank)
			}
			if v < 0 || v >= int64(rank) {
				return nil, fmt.Errorf("axis %d is out of range for rank %d", v, rank)
			}
			axes = append(axes, int(v))
		}
	}
	// Expand scales, sizes and roi from the listed axes to all axes.
	scales := make([]float64, rank)
	for i := range scales {
		scales[i] = 1
	}
	var sizes []int
	if scalesT != nil {
		v := scalesT.Float64s()
		if len(v) != len(axes) {
			return nil, fmt.Errorf("scales has %d values for %d axes", len(v), len(axes))
		}
		for i, a := range axes {
			scales[a] = v[i]
		}
	} else {
		v := sizesT.Int64s()
		if len(v) != len(axes) {
			return nil, fmt.Errorf("sizes has %d values for %d axes", len(v), len(axes))
		}
		sizes = append([]int{}, x.Shape...)
		for i, a := range axes {
			sizes[a] = int(v[i])
		}
		if err := resizeKeepAspectRatio(n.AttrString("keep_aspect_ratio_policy", "stretch"), x.Shape, sizes, axes); err != nil {
			return nil, err
		}
	}
	var roi []float64
	if p.coordMode == "tf_crop_and_resize" {
		p.extrapolationOn = true
		roi = make([]float64, 2*rank)
		for i := 0; i < rank; i++ {
			roi[i], roi[i+rank] = 0, 1
		}
		if roiT != nil {
			v := roiT.Float64s()
			if len(v) != 2*len(axes) {
				return nil, fmt.Errorf("roi has %d values; it needs 2 per axis (%d)", len(v), 2*len(axes))
			}
			for i, a := range axes {
				roi[a], roi[a+rank] = v[i], v[i+len(axes)]
			}
		}
	}
	return resizeBuild(x, scales, sizes, roi, p)
}

// resizeKeepAspectRatio applies keep_aspect_ratio_policy (opset 18) to the requested sizes.
func resizeKeepAspectRatio(policy string, in, sizes, axes []int) error {
	switch policy {
	case "stretch", "":
		return nil
	case "not_larger", "not_smaller":
	default:
		return fmt.Errorf("keep_aspect_ratio_policy %q is not one of stretch, not_larger, not_smaller", policy)
	}
	scale := math.Inf(1)
	if policy == "not_smaller" {
		scale = 0
	}
	for _, a := range axes {
		s := float64(sizes[a]) / float64(in[a])
		if policy == "not_larger" {
			scale = math.Min(scale, s)
		} else {
			scale = math.Max(scale, s)
		}
	}
	for _, a := range axes {
		sizes[a] = int(math.Floor(scale*float64(in[a]) + 0.5))
	}
	return nil
}

// resizeBuild sizes the output and builds the per-axis tables. sizes, when given, wins over
// scales; roi is only used by tf_crop_and_resize.
func resizeBuild(x Info, scales []float64, sizes []int, roi []float64, p resizeParams) (*Build, error) {
	rank := len(x.Shape)
	switch p.mode {
	case "nearest":
	case "linear", "cubic":
		if x.DType != tensor.Float {
			return nil, fmt.Errorf("mode %s needs float input, got %v", p.mode, x.DType)
		}
	default:
		return nil, fmt.Errorf("mode %q is not one of nearest, linear, cubic", p.mode)
	}
	if len(scales) != rank && sizes == nil {
		return nil, fmt.Errorf("scales has %d values for the %d dims of X", len(scales), rank)
	}
	outShape := make([]int, rank)
	axes := make([]*resizeAxis, rank)
	for d := 0; d < rank; d++ {
		scale := 0.0
		if sizes != nil {
			outShape[d] = sizes[d]
			scale = float64(sizes[d]) / float64(x.Shape[d])
		} else {
			scale = scales[d]
			if scale <= 0 {
				return nil, fmt.Errorf("scale %g of axis %d must be positive", scale, d)
			}
			outShape[d] = int(math.Floor(float64(x.Shape[d]) * scale))
		}
		if outShape[d] < 1 && x.Shape[d] > 0 {
			return nil, fmt.Errorf("axis %d would have %d elements", d, outShape[d])
		}
		roiStart, roiEnd := 0.0, 1.0
		if roi != nil {
			roiStart, roiEnd = roi[d], roi[d+rank]
		}
		resized := float64(outShape[d])
		if sizes == nil {
			resized = scale * float64(x.Shape[d])
		}
		// The axis tables hold a few words per output coordinate: check them against the budget
		// before building them (the whole output is checked once the builder returns).
		if err := p.node.fitsBudget(fmt.Sprintf("the tables of output axis %d (%d long)", d, outShape[d]), tensor.Int64, []int{outShape[d], 8}); err != nil {
			return nil, err
		}
		ax, err := resizeAxisTable(x.Shape[d], outShape[d], scale, resized, roiStart, roiEnd, p)
		if err != nil {
			return nil, err
		}
		axes[d] = ax
	}
	plan := &resizePlan{inShape: x.Shape, outShape: outShape, axes: axes, extrapolation: p.extrapolation, threads: p.threads}
	return &Build{
		Outputs: []Info{{DType: x.DType, Shape: outShape}},
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			return plan.run(ins[0], outs[0])
		},
	}, nil
}

// resizeOriginal maps an output coordinate to the input coordinate it samples. resized is the
// resized length: the output size when sizes are given, but in*scale (maybe fractional) when
// scales are, as in the ONNX reference (ONNX Runtime uses the integral output size instead).
func resizeOriginal(mode string, o float64, scale float64, inLen, outLen int, resized, roiStart, roiEnd float64) float64 {
	switch mode {
	case "half_pixel":
		return (o+0.5)/scale - 0.5
	case "half_pixel_symmetric":
		adjustment := float64(outLen) / resized
		center := float64(inLen) / 2
		return center*(1-adjustment) + (o+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		if resized > 1 {
			return (o+0.5)/scale - 0.5
		}
		return 0
	case "align_corners":
		if resized == 1 {
			return 0
		}
		return o * float64(inLen-1) / (resized - 1)
	case "asymmetric":
		return o / scale
	case "tf_half_pixel_for_nn":
		return (o + 0.5) / scale
	case "tf_crop_and_resize":
		if resized > 1 {
			return roiStart*float64(inLen-1) + o*(roiEnd-roiStart)*float64(inLen-1)/(resized-1)
		}
		return 0.5 * (roiStart + roiEnd) * float64(inLen-1)
	}
	return math.NaN()
}

func resizeAxisTable(inLen, outLen int, scale, resized, roiStart, roiEnd float64, p resizeParams) (*resizeAxis, error) {
	switch p.coordMode {
	case "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", p.coordMode)
	}
	ax := &resizeAxis{inLen: inLen, outLen: outLen, extrapolate: make([]bool, outLen)}
	kernelScale := 1.0 // antialiasing widens the kernel by 1/scale when downsampling
	if p.antialias && scale < 1 && p.mode != "nearest" {
		kernelScale = scale
	}
	switch p.mode {
	case "nearest":
		ax.taps = 1
	case "linear":
		ax.taps = 2 - 2*(int(math.Floor(-1/kernelScale))+1)
	case "cubic":
		ax.taps = 2 - 2*(int(math.Floor(-2/kernelScale))+1)
	}
	ax.index = make([]int, outLen*ax.taps)
	ax.weight = make([]float32, outLen*ax.taps)
	clampIndex := func(i int) int { return min(max(i, 0), inLen-1) }
	weights := make([]float64, ax.taps)
	for o := 0; o < outLen; o++ {
		x := resizeOriginal(p.coordMode, float64(o), scale, inLen, outLen, resized, roiStart, roiEnd)
		if p.extrapolationOn && (x < 0 || x > float64(inLen-1)) {
			ax.extrapolate[o] = true
		}
		idx, w := ax.index[o*ax.taps:(o+1)*ax.taps], ax.weight[o*ax.taps:(o+1)*ax.taps]
		if p.mode == "nearest" {
			idx[0], w[0] = clampIndex(resizeNearest(x, scale, p)), 1
			continue
		}
		if p.mode == "linear" && kernelScale == 1 {
			// Plain linear interpolation clamps the coordinate into the input.
			x = math.Min(math.Max(x, 0), float64(inLen-1))
		}
		// Taps at base+start .. base+start+taps-1 with base = ceil(x)-1, so that the fraction
		// r = x - base lies in (0, 1] (the ONNX reference's convention for integral x).
		base := int(math.Ceil(x)) - 1
		r := x - float64(base)
		start := 1 - ax.taps/2
		var sum float64
		for t := range weights {
			dist := float64(start+t) - r // signed distance of the tap from x, in input units
			if p.mode == "linear" {
				weights[t] = math.Max(0, 1-math.Abs(dist*kernelScale))
			} else {
				weights[t] = resizeCubic(dist*kernelScale, p.cubicA)
			}
			if p.excludeOutside && (base+start+t < 0 || base+start+t >= inLen) {
				weights[t] = 0
			}
			sum += weights[t]
		}
		for t := range weights {
			if kernelScale != 1 || p.excludeOutside {
				weights[t] /= sum
			}
			idx[t], w[t] = clampIndex(base+start+t), float32(weights[t])
		}
	}
	ax.identity = inLen == outLen && ax.taps == 1 && !p.extrapolationOn
	for o := 0; ax.identity && o < outLen; o++ {
		ax.identity = ax.index[o] == o
	}
	return ax, nil
}

// resizeNearest picks the input coordinate nearest to x by the node's rounding rule.
func resizeNearest(x, scale float64, p resizeParams) int {
	if p.legacyNearest {
		if scale < 1 {
			return int(math.Ceil(x))
		}
		return int(x)
	}
	switch p.nearestMode {
	case "floor":
		return int(math.Floor(x))
	case "ceil":
		return int(math.Ceil(x))
	case "round_prefer_ceil":
		if x == math.Floor(x)+0.5 {
			return int(math.Ceil(x))
		}
		return int(math.Round(x))
	}
	if x == math.Floor(x)+0.5 { // round_prefer_floor
		return int(math.Floor(x))
	}
	return int(math.Round(x))
}

// resizeCubic is the cubic convolution kernel with coefficient a at signed distance d.
func resizeCubic(d, a float64) float64 {
	d = math.Abs(d)
	switch {
	case d <= 1:
		return ((a+2)*d-(a+3))*d*d + 1
	case d < 2:
		return ((a*d-5*a)*d+8*a)*d - 4*a
	}
	return 0
}

type resizePlan struct {
	inShape, outShape []int
	axes              []*resizeAxis
	extrapolation     float32
	threads           int // goroutines the passes may use
	// intermediates holds *[]T buffers for the results of all passes but the last: two halves
	// used in turn, kept between runs.
	intermediates sync.Pool
}

func (p *resizePlan) run(x, y *tensor.Tensor) error {
	if x.DType == tensor.Float {
		resizeApply(p, x.F32, y.F32, resizePassFloat(p.extrapolation))
		return nil
	}
	switch x.DType {
	case tensor.Uint8:
		resizeApply(p, x.U8, y.U8, resizePassNearest[uint8])
	case tensor.Int8:
		resizeApply(p, x.I8, y.I8, resizePassNearest[int8])
	case tensor.Int32:
		resizeApply(p, x.I32, y.I32, resizePassNearest[int32])
	case tensor.Int64:
		resizeApply(p, x.I64, y.I64, resizePassNearest[int64])
	case tensor.Bool:
		resizeApply(p, x.B, y.B, resizePassNearest[bool])
	case tensor.Float16, tensor.BFloat16:
		resizeApply(p, x.U16, y.U16, resizePassNearest[uint16])
	case tensor.Double:
		resizeApply(p, x.F64, y.F64, resizePassNearest[float64])
	default:
		return fmt.Errorf("Resize does not support element type %v", x.DType)
	}
	return nil
}

// resizeApply resamples axis by axis, last axis first; pass maps src [outer, inLen, inner] to
// dst [outer, outLen, inner].
func resizeApply[T any](p *resizePlan, x, y []T, pass func(dst, src []T, outer, inner int, ax *resizeAxis)) {
	cur := x
	shape := append([]int{}, p.inShape...)
	last := -1
	for d := range p.axes {
		if !p.axes[d].identity && last < 0 {
			last = d
		}
	}
	if last < 0 {
		copy(y, x)
		return
	}
	// The largest intermediate result: the passes' outputs grow or shrink towards y's size.
	largest, sizes := 0, append([]int{}, p.inShape...)
	for d := len(p.axes) - 1; d > last; d-- {
		sizes[d] = p.axes[d].outLen
		largest = max(largest, tensor.NumElements(sizes))
	}
	var halves []T
	if largest > 0 {
		buf, ok := p.intermediates.Get().(*[]T)
		if !ok || cap(*buf) < 2*largest {
			b := make([]T, 2*largest)
			buf = &b
		}
		defer p.intermediates.Put(buf)
		halves = (*buf)[:2*largest]
	}
	half := 0
	for d := len(p.axes) - 1; d >= 0; d-- {
		ax := p.axes[d]
		if ax.identity {
			continue
		}
		outer := tensor.NumElements(shape[:d])
		inner := tensor.NumElements(shape[d+1:])
		shape[d] = ax.outLen
		dst := y
		if d != last {
			dst = halves[half*largest : half*largest+tensor.NumElements(shape)]
			half = 1 - half
		}
		src := cur
		workers.ForRange(p.threads, outer, max(1, 16384/max(1, ax.outLen*inner)), func(lo, hi int) {
			pass(dst[lo*ax.outLen*inner:hi*ax.outLen*inner], src[lo*ax.inLen*inner:hi*ax.inLen*inner], hi-lo, inner, ax)
		})
		cur = dst
	}
}

// resizePassNearest gathers one axis (nearest mode, any element type; never extrapolates).
func resizePassNearest[T any](dst, src []T, outer, inner int, ax *resizeAxis) {
	for b := 0; b < outer; b++ {
		s := src[b*ax.inLen*inner : (b+1)*ax.inLen*inner]
		d := dst[b*ax.outLen*inner : (b+1)*ax.outLen*inner]
		for o := 0; o < ax.outLen; o++ {
			i := ax.index[o*ax.taps]
			copy(d[o*inner:(o+1)*inner], s[i*inner:(i+1)*inner])
		}
	}
}

// resizePassFloat interpolates one axis of float data.
func resizePassFloat(extrapolation float32) func(dst, src []float32, outer, inner int, ax *resizeAxis) {
	return func(dst, src []float32, outer, inner int, ax *resizeAxis) {
		for b := 0; b < outer; b++ {
			s := src[b*ax.inLen*inner : (b+1)*ax.inLen*inner]
			d := dst[b*ax.outLen*inner : (b+1)*ax.outLen*inner]
			for o := 0; o < ax.outLen; o++ {
				out := d[o*inner : (o+1)*inner]
				if ax.extrapolate[o] {
					for i := range out {
						out[i] = extrapolation
					}
					continue
				}
				idx, w := ax.index[o*ax.taps:(o+1)*ax.taps], ax.weight[o*ax.taps:(o+1)*ax.taps]
				if inner == 1 {
					var v float32
					for t, i := range idx {
						v += w[t] * s[i]
					}
					out[0] = v
					continue
				}
				if ax.taps == 1 {
					copy(out, s[idx[0]*inner:(idx[0]+1)*inner])
					continue
				}
				clear(out)
				for t, i := range idx {
					wt := w[t]
					if wt == 0 {
						continue
					}
					for j, v := range s[i*inner : (i+1)*inner] {
						out[j] += wt * v
					}
				}
			}
		}
	}
}
