package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// This file holds the ops that compute shapes or move data without arithmetic. Reshape, Flatten,
// Squeeze, Unsqueeze, Identity and Dropout are views of their input (no copy). Inputs that decide an
// output's shape (Reshape's shape, Slice's starts...) must be known at compile time; the engine
// folds Shape -> Gather -> Concat chains into constants, so exported models usually qualify.

func init() {
	register("Identity", buildIdentity)
	register("Dropout", buildDropout)
	register("Flatten", buildFlatten)
	register("Reshape", buildReshape)
	register("Squeeze", buildSqueeze)
	register("Unsqueeze", buildUnsqueeze)
	register("Transpose", buildTranspose)
	register("Concat", buildConcat)
	register("Split", buildSplit)
	register("Slice", buildSlice)
	register("Gather", buildGather)
	register("Shape", buildShape)
	register("Size", buildSize)
	register("Expand", buildExpand)
	register("ConstantOfShape", buildConstantOfShape)
	register("Constant", buildConstant)
}

// viewBuild is the build of an op whose output 0 is input 0 with another shape.
func viewBuild(x Info, shape []int) *Build {
	return &Build{Outputs: []Info{{DType: x.DType, Shape: shape}}, Views: map[int]int{0: 0}}
}

func buildIdentity(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	return viewBuild(in[0], cloneShape(in[0].Shape)), nil
}

// buildDropout builds Dropout for inference: the output is the input and the optional mask is all
// true (opset 10 on; before, the mask has the input's type and is all ones). Training mode drops
// values at random, which a verifier cannot reproduce, so it is refused unless the ratio is 0.
func buildDropout(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 3); err != nil {
		return nil, err
	}
	if present(in, 2) {
		training := in[2].Const
		if training == nil {
			return nil, fmt.Errorf("the training_mode input of Dropout is computed at run time; fcconv's engine runs Dropout in inference mode only")
		}
		if training.Len() != 1 || training.DType != tensor.Bool {
			return nil, fmt.Errorf("the training_mode input of Dropout must be one bool, got %v", training)
		}
		if training.B[0] {
			ratio, ok, err := constScalarFloat(n, in, 1, "ratio")
			if err != nil {
				return nil, err
			}
			if !ok || ratio != 0 {
				return nil, fmt.Errorf("Dropout runs in training mode (training_mode is true), which drops values at random; fcconv's engine runs inference graphs only")
			}
		}
	}
	x := in[0]
	b := viewBuild(x, cloneShape(x.Shape))
	maskType := tensor.Bool
	if n.Opset < 10 {
		maskType = x.DType
	}
	b.Outputs = append(b.Outputs, Info{DType: maskType, Shape: cloneShape(x.Shape)})
	if n.Output(1) == "" {
		return b, nil // no mask: a pure view
	}
	b.Kernel = func(_ *RunContext, in, out []*tensor.Tensor) error {
		if out[1].DType == tensor.Bool {
			for i := range out[1].B {
				out[1].B[i] = true
			}
			return nil
		}
		ones := tensor.New(tensor.Bool, out[1].Shape...)
		for i := range ones.B {
			ones.B[i] = true
		}
		castInto(n.Threads, ones, out[1])
		return nil
	}
	return b, nil
}

// buildFlatten builds Flatten: a 2-D view [prod(dims before axis), prod(dims from axis)].
func buildFlatten(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	shape := in[0].Shape
	axis := n.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(len(shape))
	}
	if axis < 0 || axis > int64(len(shape)) {
		return nil, fmt.Errorf("attribute axis %d of Flatten is out of range for a tensor of rank %d", n.AttrInt("axis", 1), len(shape))
	}
	return viewBuild(in[0], []int{tensor.NumElements(shape[:axis]), tensor.NumElements(shape[axis:])}), nil
}

// buildReshape builds Reshape (shape attribute before opset 5, input after).
func buildReshape(n *Node, in []Info) (*Build, error) {
	var target []int64
	if n.Opset < 5 && n.Attr("shape") != nil {
		if err := needInputs(n, in, 1, 1); err != nil {
			return nil, err
		}
		target = n.AttrInts("shape", nil)
	} else {
		if err := needInputs(n, in, 2, 2); err != nil {
			return nil, err
		}
		var err error
		if target, _, err = constInts(n, in, 1, "shape"); err != nil {
			return nil, err
		}
	}
	shape, err := reshapeTarget(in[0].Shape, target, n.AttrInt("allowzero", 0) == 1)
	if err != nil {
		return nil, err
	}
	return viewBuild(in[0], shape), nil
}

// reshapeTarget resolves a Reshape target: 0 copies the input's dim at that position (unless
// allowzero, where 0 is a real 0), and one -1 takes whatever size is left.
func reshapeTarget(in []int, target []int64, allowZero bool) ([]int, error) {
	total := tensor.NumElements(in)
	out := make([]int, len(target))
	infer := -1
	known := 1
	for i, d := range target {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("the shape %v asks to copy dim %d (a 0) of the input, which has only %d dims %v", target, i, len(in), in)
			}
			out[i] = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("the shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d < -1:
			return nil, fmt.Errorf("the shape %v has a negative dim %d", target, d)
		default:
			out[i] = int(d)
		}
		known *= out[i]
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v: the -1 dim cannot be inferred", in, total, target)
		}
		out[infer] = total / known
	}
	if tensor.NumElements(out) != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d elements)", in, total, out, tensor.NumElements(out))
	}
	return out, nil
}

// axesOf returns the axes of Squeeze/Unsqueeze: an attribute before opset 13, an optional input
// from 13. ok is false when none are given.
func axesOf(n *Node, in []Info) (axes []int64, ok bool, err error) {
	if n.Opset < 13 {
		a := n.Attr("axes")
		return n.AttrInts("axes", nil), a != nil, nil
	}
	return constInts(n, in, 1, "axes")
}

// buildSqueeze builds Squeeze: a view without the given dims of size 1 (all of them when no axes
// are given).
func buildSqueeze(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 2); err != nil {
		return nil, err
	}
	shape := in[0].Shape
	axes, ok, err := axesOf(n, in)
	if err != nil {
		return nil, err
	}
	drop := make([]bool, len(shape))
	if ok && len(axes) > 0 { // empty axes, like none, squeeze every dim of size 1 (as ONNX Runtime does)
		norm, err := normAxes(axes, len(shape), "axes")
		if err != nil {
			return nil, err
		}
		for _, a := range norm {
			if shape[a] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of shape %v: its size is %d, not 1", a, shape, shape[a])
			}
			drop[a] = true
		}
	} else {
		for a, d := range shape {
			drop[a] = d == 1
		}
	}
	out := []int{}
	for a, d := range shape {
		if !drop[a] {
			out = append(out, d)
		}
	}
	return viewBuild(in[0], out), nil
}

// buildUnsqueeze builds Unsqueeze: a view with dims of size 1 inserted at the given axes of the
// output.
func buildUnsqueeze(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 2); err != nil {
		return nil, err
	}
	axes, ok, err := axesOf(n, in)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("Unsqueeze needs axes (an attribute before opset 13, the second input from 13)")
	}
	shape := in[0].Shape
	rank := len(shape) + len(axes)
	norm, err := normAxes(axes, rank, "axes")
	if err != nil {
		return nil, err
	}
	inserted := make([]bool, rank)
	for _, a := range norm {
		inserted[a] = true
	}
	out := make([]int, rank)
	next := 0
	for a := range out {
		if inserted[a] {
			out[a] = 1
		} else {
			out[a] = shape[next]
			next++
		}
	}
	return viewBuild(in[0], out), nil
}

// contiguousStrides are the element strides of a row-major tensor of shape s.
func contiguousStrides(s []int) []int {
	st := make([]int, len(s))
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= s[i]
	}
	return st
}

// buildTranspose builds Transpose (perm defaults to reversing the dims).
func buildTranspose(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if err := checkType(n, x.DType, "the input"); err != nil {
		return nil, err
	}
	rank := len(x.Shape)
	perm := n.AttrInts("perm", nil)
	if perm == nil {
		perm = make([]int64, rank)
		for i := range perm {
			perm[i] = int64(rank - 1 - i)
		}
	}
	if len(perm) != rank {
		return nil, fmt.Errorf("attribute perm %v of Transpose must list each of the input's %d dims once", perm, rank)
	}
	axes, err := normAxes(perm, rank, "attribute perm")
	if err != nil {
		return nil, err
	}
	inStrides := contiguousStrides(x.Shape)
	out := make([]int, rank)
	strides := make([]int, rank)
	for i, a := range axes {
		out[i] = x.Shape[a]
		strides[i] = inStrides[a]
	}
	p := newStridedPlan(n.Threads, out, nil, strides)
	if len(p.dims) == 0 && p.innerStep[0] <= 1 { // the permutation keeps the layout: a view
		return viewBuild(x, out), nil
	}
	return &Build{Outputs: []Info{{DType: x.DType, Shape: out}}, Kernel: gatherKernel(p)}, nil
}

// gatherKernel copies in[0] into out[0] along a one-operand walk plan (Transpose, Slice).
func gatherKernel(p *walkPlan) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		switch in[0].DType.Size() {
		case 1:
			gatherWords(p, wordsOf[uint8](in[0]), wordsOf[uint8](out[0]))
		case 2:
			gatherWords(p, wordsOf[uint16](in[0]), wordsOf[uint16](out[0]))
		case 4:
			gatherWords(p, wordsOf[uint32](in[0]), wordsOf[uint32](out[0]))
		case 8:
			gatherWords(p, wordsOf[uint64](in[0]), wordsOf[uint64](out[0]))
		}
		return nil
	}
}

func gatherWords[W word](p *walkPlan, src, dst []W) {
	if isTiledTranspose(p) {
		tiledTranspose(p, src, dst)
		return
	}
	step := p.innerStep[0]
	p.run(func(o int, offs []int, n int) {
		d := dst[o : o+n]
		s := offs[0]
		if step == 1 {
			copy(d, src[s:s+n])
			return
		}
		for i := range d {
			d[i] = src[s]
			s += step
		}
	})
}

// isTiledTranspose reports whether a walk is a batch of 2-D transposes: the innermost output dim
// strides through the input while the next one is contiguous in it (NCHW -> NHWC, or swapping
// the last two dims). Copying element by element would then read each input cache line once per
// output row; tiles keep both sides in cache.
func isTiledTranspose(p *walkPlan) bool {
	last := len(p.dims) - 1
	return last >= 0 && p.strides[0][last] == 1 && p.innerStep[0] > 1 && p.inner >= 8 && p.dims[last] >= 8
}

// tiledTranspose copies a walk seen as blocks of [rows, cols] output elements, where output
// element (r, c) of a block reads input element base + r + c*step.
func tiledTranspose[W word](p *walkPlan, src, dst []W) {
	const tile = 32
	last := len(p.dims) - 1
	rows, cols, step := p.dims[last], p.inner, p.innerStep[0]
	rowTiles := (rows + tile - 1) / tile
	blocks := p.total / (rows * cols)
	workers.ForRange(p.threads, blocks*rowTiles, workers.Grain(tile*cols), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			block, r0 := u/rowTiles, (u%rowTiles)*tile
			base := p.origin[0]
			rem := block
			for d := last - 1; d >= 0; d-- { // the block's offset in the input
				base += (rem % p.dims[d]) * p.strides[0][d]
				rem /= p.dims[d]
			}
			out := dst[block*rows*cols:]
			r1 := min(r0+tile, rows)
			for c0 := 0; c0 < cols; c0 += tile {
				c1 := min(c0+tile, cols)
				for r := r0; r < r1; r++ {
					row := out[r*cols+c0 : r*cols+c1]
					s := base + r + c0*step
					for i := range row {
						row[i] = src[s]
						s += step
					}
				}
			}
		}
	})
}

// concatParallelBytes is the least output of a Concat worth a core of its own.
const concatParallelBytes = 256 << 10

// buildConcat builds Concat along attribute axis (negative from opset 11).
func buildConcat(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, -1); err != nil {
		return nil, err
	}
	if n.Attr("axis") == nil {
		return nil, fmt.Errorf("Concat has no attribute axis")
	}
	idx := make([]int, len(in))
	for i := range idx {
		idx[i] = i
	}
	dt, err := sameTypes(n, in, idx...)
	if err != nil {
		return nil, err
	}
	if err := checkType(n, dt, "the input"); err != nil {
		return nil, err
	}
	first := in[0].Shape
	axis, err := normAxis(n.AttrInt("axis", 0), len(first), "attribute axis")
	if err != nil {
		return nil, err
	}
	out := cloneShape(first)
	out[axis] = 0
	for i, x := range in {
		if len(x.Shape) != len(first) {
			return nil, fmt.Errorf("the inputs of Concat must have one rank: input 0 has shape %v, input %d %v", first, i, x.Shape)
		}
		for d := range first {
			if d != axis && x.Shape[d] != first[d] {
				return nil, fmt.Errorf("the inputs of Concat must match except along axis %d: input 0 has shape %v, input %d %v", axis, first, i, x.Shape)
			}
		}
		out[axis] += x.Shape[axis]
	}
	outer := tensor.NumElements(first[:axis])
	inner := tensor.NumElements(first[axis+1:]) * dt.Size()
	return &Build{
		Outputs: []Info{{DType: dt, Shape: out}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			dst := bytesOf(out[0])
			if outer == 1 {
				// One contiguous block per input (channels of a batch-1 NCHW tensor): one memmove
				// each, with a large output split into byte ranges, one per core.
				workers.ForRange(n.Threads, len(dst), concatParallelBytes, func(lo, hi int) {
					at := 0
					for _, t := range in {
						src := bytesOf(t)
						if a, b := max(lo, at), min(hi, at+len(src)); a < b {
							copy(dst[a:b], src[a-at:b-at])
						}
						at += len(src)
					}
				})
				return nil
			}
			rowOut := out[0].Shape[axis] * inner
			at := 0
			for _, t := range in {
				src := bytesOf(t)
				row := t.Shape[axis] * inner
				for o := 0; o < outer; o++ {
					copy(dst[o*rowOut+at:o*rowOut+at+row], src[o*row:(o+1)*row])
				}
				at += row
			}
			return nil
		},
	}, nil
}

// buildSplit builds Split along attribute axis: sizes from attribute split (before opset 13) or
// input split (from 13), else equal parts, one per output (attribute num_outputs from 18, where the
// last part may be smaller).
func buildSplit(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if err := checkType(n, x.DType, "the input"); err != nil {
		return nil, err
	}
	axis, err := normAxis(n.AttrInt("axis", 0), len(x.Shape), "attribute axis")
	if err != nil {
		return nil, err
	}
	sizes, err := splitSizes(n, in, x.Shape[axis])
	if err != nil {
		return nil, err
	}
	outs := make([]Info, len(sizes))
	for i, s := range sizes {
		outs[i] = Info{DType: x.DType, Shape: cloneShape(x.Shape)}
		outs[i].Shape[axis] = s
	}
	outer := tensor.NumElements(x.Shape[:axis])
	inner := tensor.NumElements(x.Shape[axis+1:]) * x.DType.Size()
	rowIn := x.Shape[axis] * inner
	return &Build{
		Outputs: outs,
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			src := bytesOf(in[0])
			at := 0
			for i, t := range out {
				row := sizes[i] * inner
				if t != nil {
					dst := bytesOf(t)
					for o := 0; o < outer; o++ {
						copy(dst[o*row:(o+1)*row], src[o*rowIn+at:o*rowIn+at+row])
					}
				}
				at += row
			}
			return nil
		},
	}, nil
}

func splitSizes(n *Node, in []Info, dim int) ([]int, error) {
	count := len(n.Outputs())
	var split []int64
	if n.Opset < 13 {
		split = n.AttrInts("split", nil)
	} else {
		var err error
		if split, _, err = constInts(n, in, 1, "split"); err != nil {
			return nil, err
		}
	}
	if split != nil {
		if len(split) != count {
			return nil, fmt.Errorf("Split has %d outputs but %d split sizes %v", count, len(split), split)
		}
		sizes, err := toInts(split, "split sizes")
		if err != nil {
			return nil, err
		}
		sum := 0
		for _, s := range sizes {
			sum += s
		}
		if sum != dim {
			return nil, fmt.Errorf("split sizes %v add up to %d, but the split axis has size %d", split, sum, dim)
		}
		return sizes, nil
	}
	if n.Opset >= 18 && n.Attr("num_outputs") != nil {
		num := int(n.AttrInt("num_outputs", 0))
		if num != count || num < 1 {
			return nil, fmt.Errorf("attribute num_outputs of Split is %d but the node has %d outputs", num, count)
		}
		part := (dim + num - 1) / num // the last part takes what is left
		sizes := make([]int, num)
		for i := range sizes {
			sizes[i] = max(0, min(part, dim-i*part))
		}
		return sizes, nil
	}
	if count == 0 || dim%count != 0 {
		return nil, fmt.Errorf("Split into %d equal parts needs the split axis's size %d to be a multiple of %d", count, dim, count)
	}
	sizes := make([]int, count)
	for i := range sizes {
		sizes[i] = dim / count
	}
	return sizes, nil
}

// buildSlice builds Slice: starts, ends, axes and steps are attributes before opset 10 (no steps)
// and inputs from 10. Out-of-range starts and ends clamp as in numpy; negative steps walk backwards.
func buildSlice(n *Node, in []Info) (*Build, error) {
	x := in[0]
	var starts, ends, axes, steps []int64
	if n.Opset < 10 {
		if err := needInputs(n, in, 1, 1); err != nil {
			return nil, err
		}
		starts, ends, axes = n.AttrInts("starts", nil), n.AttrInts("ends", nil), n.AttrInts("axes", nil)
	} else {
		if err := needInputs(n, in, 3, 5); err != nil {
			return nil, err
		}
		var err error
		if starts, _, err = constInts(n, in, 1, "starts"); err != nil {
			return nil, err
		}
		if ends, _, err = constInts(n, in, 2, "ends"); err != nil {
			return nil, err
		}
		if axes, _, err = constInts(n, in, 3, "axes"); err != nil {
			return nil, err
		}
		if steps, _, err = constInts(n, in, 4, "steps"); err != nil {
			return nil, err
		}
	}
	if err := checkType(n, x.DType, "the input"); err != nil {
		return nil, err
	}
	ranges, err := sliceRanges(x.Shape, starts, ends, axes, steps)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(x.Shape))
	strides := contiguousStrides(x.Shape)
	walk := make([]int, len(x.Shape))
	origin := 0
	for d, r := range ranges {
		out[d] = r.count
		walk[d] = strides[d] * r.step
		origin += r.start * strides[d]
	}
	if tensor.NumElements(out) == 0 {
		origin = 0
	}
	p := newStridedPlan(n.Threads, out, []int{origin}, walk)
	return &Build{Outputs: []Info{{DType: x.DType, Shape: out}}, Kernel: gatherKernel(p)}, nil
}

// sliceRange is what Slice takes along one dim: count elements from start, step apart.
type sliceRange struct{ start, step, count int }

func sliceRanges(shape []int, starts, ends, axes, steps []int64) ([]sliceRange, error) {
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("Slice has %d starts but %d ends", len(starts), len(ends))
	}
	if axes == nil {
		axes = make([]int64, len(starts))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("Slice has %d starts, %d ends, %d axes and %d steps; they must match", len(starts), len(ends), len(axes), len(steps))
	}
	norm, err := normAxes(axes, len(shape), "axes")
	if err != nil {
		return nil, err
	}
	ranges := make([]sliceRange, len(shape))
	for d, size := range shape {
		ranges[d] = sliceRange{start: 0, step: 1, count: size}
	}
	for i, d := range norm {
		if steps[i] == 0 {
			return nil, fmt.Errorf("Slice has a step of 0 for axis %d", d)
		}
		ranges[d] = clampSlice(int64(shape[d]), starts[i], ends[i], steps[i])
	}
	return ranges, nil
}

// clampSlice resolves one axis of a Slice like numpy: negative starts and ends count from the end,
// then both are clamped to the dim (to [0, dim] going forward, [-1, dim-1] going backward).
func clampSlice(dim, start, end, step int64) sliceRange {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	var count int64
	if step > 0 {
		start = min(max(start, 0), dim)
		end = min(max(end, 0), dim)
		if end > start {
			count = (end - start + step - 1) / step
		}
	} else {
		start = min(max(start, -1), dim-1)
		end = min(max(end, -1), dim-1)
		if start > end {
			count = (start - end - step - 1) / -step
		}
	}
	if count == 0 {
		start = 0
	}
	return sliceRange{start: int(start), step: int(step), count: int(count)}
}

// buildGather builds Gather: slices of data along attribute axis picked by indices (int32 or
// int64; negative ones count from the end).
func buildGather(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 2, 2); err != nil {
		return nil, err
	}
	data, idx := in[0], in[1]
	if err := checkType(n, data.DType, "the data"); err != nil {
		return nil, err
	}
	if err := typeIn(n, idx.DType, "the indices", tensor.Int64, tensor.Int32); err != nil {
		return nil, err
	}
	if len(data.Shape) == 0 {
		return nil, fmt.Errorf("the data of Gather must have at least one dim")
	}
	axis, err := normAxis(n.AttrInt("axis", 0), len(data.Shape), "attribute axis")
	if err != nil {
		return nil, err
	}
	out := append(append(cloneShape(data.Shape[:axis]), idx.Shape...), data.Shape[axis+1:]...)
	outer := tensor.NumElements(data.Shape[:axis])
	dim := data.Shape[axis]
	inner := tensor.NumElements(data.Shape[axis+1:]) * data.DType.Size()
	return &Build{
		Outputs: []Info{{DType: data.DType, Shape: out}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			picks, err := resolveIndices(in[1], dim)
			if err != nil {
				return err
			}
			src, dst := bytesOf(in[0]), bytesOf(out[0])
			rows := outer * len(picks)
			workers.ForRange(n.Threads, rows, workers.Grain(inner), func(lo, hi int) {
				for r := lo; r < hi; r++ {
					o, j := r/len(picks), r%len(picks)
					from := (o*dim + picks[j]) * inner
					copy(dst[r*inner:(r+1)*inner], src[from:from+inner])
				}
			})
			return nil
		},
	}, nil
}

// resolveIndices turns Gather indices into positions in [0, dim), rejecting out-of-range ones.
func resolveIndices(t *tensor.Tensor, dim int) ([]int, error) {
	raw := t.Int64s()
	picks := make([]int, len(raw))
	for i, v := range raw {
		if v < -int64(dim) || v >= int64(dim) {
			return nil, fmt.Errorf("Gather index %d is out of range for an axis of size %d", v, dim)
		}
		if v < 0 {
			v += int64(dim)
		}
		picks[i] = int(v)
	}
	return picks, nil
}

// constBuild is the build of an op whose output is known at compile time; the kernel still writes
// it, for the case the engine runs the node rather than folding it.
func constBuild(t *tensor.Tensor) *Build {
	return &Build{
		Outputs: []Info{{DType: t.DType, Shape: cloneShape(t.Shape), Const: t}},
		Kernel: func(_ *RunContext, _, out []*tensor.Tensor) error {
			copy(bytesOf(out[0]), bytesOf(t))
			return nil
		},
	}
}

// buildShape builds Shape: the input's dims as int64, from attribute start to end (opset 15 on;
// negative values count from the end and both clamp to the rank).
func buildShape(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	shape := in[0].Shape
	rank := int64(len(shape))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += rank
		}
		return min(max(v, 0), rank)
	}
	start, end := clamp(n.AttrInt("start", 0)), clamp(n.AttrInt("end", rank))
	dims := []int64{}
	for i := start; i < end; i++ {
		dims = append(dims, int64(shape[i]))
	}
	return constBuild(tensor.FromInt64(dims, len(dims))), nil
}

func buildSize(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	return constBuild(tensor.FromInt64([]int64{int64(tensor.NumElements(in[0].Shape))})), nil
}

// buildExpand builds Expand: the input broadcast (numpy-style, both ways) with the shape input.
func buildExpand(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 2, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if err := checkType(n, x.DType, "the input"); err != nil {
		return nil, err
	}
	target, _, err := constInts(n, in, 1, "shape")
	if err != nil {
		return nil, err
	}
	dims, err := toInts(target, "the shape")
	if err != nil {
		return nil, err
	}
	out, err := broadcastShapes(x.Shape, dims)
	if err != nil {
		return nil, err
	}
	if tensor.NumElements(out) == tensor.NumElements(x.Shape) { // only adds dims of size 1
		return viewBuild(x, out), nil
	}
	return &Build{
		Outputs: []Info{{DType: x.DType, Shape: out}},
		Kernel: func(_ *RunContext, in, out []*tensor.Tensor) error {
			expandInto(n.Threads, in[0], out[0])
			return nil
		},
	}, nil
}

// buildConstantOfShape builds ConstantOfShape: a tensor of the shape input's dims filled with the
// one value of attribute value (default float 0).
func buildConstantOfShape(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 1, 1); err != nil {
		return nil, err
	}
	target, _, err := constInts(n, in, 0, "shape")
	if err != nil {
		return nil, err
	}
	dims, err := toInts(target, "the shape")
	if err != nil {
		return nil, err
	}
	value := tensor.FromFloat32([]float32{0})
	if a := n.Attr("value"); a != nil && a.T != nil {
		if value, err = tensor.FromProto(a.T, nil); err != nil {
			return nil, fmt.Errorf("attribute value of ConstantOfShape: %v", err)
		}
		if value.Len() != 1 {
			return nil, fmt.Errorf("attribute value of ConstantOfShape must hold one element, it has shape %v", value.Shape)
		}
	}
	if err := checkType(n, value.DType, "attribute value"); err != nil {
		return nil, err
	}
	return &Build{
		Outputs: []Info{{DType: value.DType, Shape: dims}},
		Kernel: func(_ *RunContext, _, out []*tensor.Tensor) error {
			fillWith(out[0], value)
			return nil
		},
	}, nil
}

// fillWith sets every element of t to the single element of v (same dtype).
func fillWith(t, v *tensor.Tensor) {
	dst, one := bytesOf(t), bytesOf(v)
	if len(dst) == 0 {
		return
	}
	copy(dst, one)
	for filled := len(one); filled < len(dst); filled *= 2 { // doubling copies
		copy(dst[filled:], dst[:filled])
	}
}

// buildConstant builds Constant. The engine already treats Constant outputs as constants; the
// builder returns the value so that folding and shape inference see it too.
func buildConstant(n *Node, in []Info) (*Build, error) {
	if err := needInputs(n, in, 0, 0); err != nil {
		return nil, err
	}
	var ext tensor.ExternalReader
	if n.Graph != nil && n.Graph.Model != nil {
		ext = n.Graph.Model.ReadExternal
	}
	t, err := graph.ConstantNodeValue(n.Node, ext)
	if err != nil {
		return nil, err
	}
	if err := checkType(n, t.DType, "the value"); err != nil {
		return nil, err
	}
	return constBuild(t), nil
}
