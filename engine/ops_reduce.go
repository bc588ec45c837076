package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"math"

	"github.com/fcconv/fcconv/tensor"
)

// This file holds ReduceSum, ReduceMean, ReduceMax, ReduceMin and ReduceProd. The reduced axes are
// merged into groups of adjacent axes; each group reduces as a [outer, R, inner] block, so the
// common cases (the last axis, or H and W together) are one pass over contiguous memory.

func init() {
	for name, op := range map[string]reduceOp{"ReduceSum": redSum, "ReduceMean": redMean, "ReduceMax": redMax, "ReduceMin": redMin, "ReduceProd": redProd} {
		register(name, halfAsFloat(buildReduce(op)))
	}
}

type reduceOp int

const (
	redSum reduceOp = iota
	redMean
	redMax
	redMin
	redProd
)

// axesInputSince is the opset from which an op takes its axes as an input instead of an attribute:
// 13 for ReduceSum, 18 for the others.
func axesInputSince(op reduceOp) int64 {
	if op == redSum {
		return 13
	}
	return 18
}

func buildReduce(op reduceOp) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 1, 2); err != nil {
			return nil, err
		}
		x := in[0]
		if err := typeIn(n, x.DType, "the input", numericTypes...); err != nil {
			return nil, err
		}
		var axes []int64
		if n.Opset < axesInputSince(op) {
			axes = n.AttrInts("axes", nil)
		} else {
			var err error
			if axes, _, err = constInts(n, in, 1, "axes"); err != nil {
				return nil, err
			}
		}
		if len(axes) == 0 && n.AttrInt("noop_with_empty_axes", 0) == 1 {
			return viewBuild(x, cloneShape(x.Shape)), nil // "reduce nothing": the input as is
		}
		reduced := make([]bool, len(x.Shape))
		if len(axes) == 0 {
			for i := range reduced {
				reduced[i] = true
			}
		} else {
			norm, err := normAxes(axes, len(x.Shape), "axes")
			if err != nil {
				return nil, err
			}
			for _, a := range norm {
				reduced[a] = true
			}
		}
		keep := n.AttrInt("keepdims", 1) == 1
		out := []int{}
		count := 1
		for d, size := range x.Shape {
			switch {
			case !reduced[d]:
				out = append(out, size)
			case keep:
				out = append(out, 1)
			}
			if reduced[d] {
				count *= size
			}
		}
		plan := planReduction(x.Shape, reduced)
		return &Build{
			Outputs: []Info{{DType: x.DType, Shape: out}},
			Kernel:  reduceKernel(x.DType, op, plan, count, n.Threads),
		}, nil
	}
}

// reduceStep reduces one group of adjacent axes: the tensor is seen as [outer, r, inner].
type reduceStep struct{ outer, r, inner int }

// planReduction lists the steps that reduce the marked axes, innermost group first (so that each
// step's inner dims are all kept dims or already reduced).
func planReduction(shape []int, reduced []bool) []reduceStep {
	type group struct {
		size    int
		reduced bool
	}
	var groups []group
	for d, size := range shape {
		if size == 1 { // reducing or keeping a dim of size 1 changes nothing
			continue
		}
		if k := len(groups) - 1; k >= 0 && groups[k].reduced == reduced[d] {
			groups[k].size *= size
			continue
		}
		groups = append(groups, group{size, reduced[d]})
	}
	var steps []reduceStep
	for i := len(groups) - 1; i >= 0; i-- {
		if !groups[i].reduced {
			continue
		}
		st := reduceStep{outer: 1, r: groups[i].size, inner: 1}
		for _, g := range groups[:i] {
			st.outer *= g.size
		}
		for _, g := range groups[i+1:] {
			if !g.reduced {
				st.inner *= g.size
			}
		}
		steps = append(steps, st)
	}
	return steps
}

func reduceKernel(dt tensor.DType, op reduceOp, steps []reduceStep, count, threads int) Kernel {
	switch dt {
	case tensor.Float:
		return reduceKernelOf[float32](op, steps, count, threads)
	case tensor.Double:
		return reduceKernelOf[float64](op, steps, count, threads)
	case tensor.Int64:
		return reduceKernelOf[int64](op, steps, count, threads)
	case tensor.Int32:
		return reduceKernelOf[int32](op, steps, count, threads)
	case tensor.Int8:
		return reduceKernelOf[int8](op, steps, count, threads)
	case tensor.Uint8:
		return reduceKernelOf[uint8](op, steps, count, threads)
	}
	panic(fmt.Sprintf("engine: no reduction on %v", dt))
}

func reduceKernelOf[T number](op reduceOp, steps []reduceStep, count, threads int) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		src, dst := dataOf[T](in[0]), dataOf[T](out[0])
		if len(steps) == 0 { // nothing to reduce (e.g. all reduced dims have size 1)
			copy(dst, src)
		}
		for i, st := range steps {
			target := dst
			if i < len(steps)-1 {
				target = make([]T, st.outer*st.inner)
			}
			reduceBlock(threads, src, target, st, op)
			src = target
		}
		if op == redMean {
			if count == 0 {
				for i := range dst {
					dst[i] = T(math.NaN()) // the mean of nothing
				}
				return nil
			}
			c := T(count)
			for i := range dst {
				dst[i] /= c
			}
		}
		return nil
	}
}

// reduceBlock reduces src, seen as [outer, r, inner], into dst [outer, inner].
func reduceBlock[T number](threads int, src, dst []T, st reduceStep, op reduceOp) {
	if st.inner == 1 {
		workers.ForRange(threads, st.outer, workers.Grain(st.r), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				dst[o] = foldRun(src[o*st.r:(o+1)*st.r], op)
			}
		})
		return
	}
	// Rows of inner elements combine elementwise; work is split by (outer, column block).
	const block = 256
	blocks := (st.inner + block - 1) / block
	combine := arithRows[T](combineOp(op)).vv
	workers.ForRange(threads, st.outer*blocks, workers.Grain(st.r*block), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, c0 := u/blocks, (u%blocks)*block
			c1 := min(c0+block, st.inner)
			d := dst[o*st.inner+c0 : o*st.inner+c1]
			id := identityOf[T](op)
			for i := range d {
				d[i] = id
			}
			for k := 0; k < st.r; k++ {
				base := (o*st.r + k) * st.inner
				combine(d, d, src[base+c0:base+c1])
			}
		}
	})
}

func combineOp(op reduceOp) arithOp {
	switch op {
	case redMax:
		return opMax
	case redMin:
		return opMin
	case redProd:
		return opMul
	}
	return opAdd
}

// identityOf is the value a reduction starts from: what reducing an empty set gives.
func identityOf[T number](op reduceOp) T {
	switch op {
	case redProd:
		return 1
	case redMax:
		return lowest[T]()
	case redMin:
		return highest[T]()
	}
	return 0
}

func lowest[T number]() T {
	var v T
	switch p := any(&v).(type) {
	case *float32:
		*p = float32(math.Inf(-1))
	case *float64:
		*p = math.Inf(-1)
	case *int64:
		*p = math.MinInt64
	case *int32:
		*p = math.MinInt32
	case *int8:
		*p = math.MinInt8
	case *uint8:
		*p = 0
	}
	return v
}

func highest[T number]() T {
	var v T
	switch p := any(&v).(type) {
	case *float32:
		*p = float32(math.Inf(1))
	case *float64:
		*p = math.Inf(1)
	case *int64:
		*p = math.MaxInt64
	case *int32:
		*p = math.MaxInt32
	case *int8:
		*p = math.MaxInt8
	case *uint8:
		*p = math.MaxUint8
	}
	return v
}

// foldRun reduces one contiguous run. Float sums and products accumulate in float64, which keeps
// long float32 sums accurate; integers accumulate exactly in their own type.
func foldRun[T number](s []T, op reduceOp) T {
	switch op {
	case redMax:
		// Comparisons rather than the max builtin, whose NaN handling makes this dependency chain
		// several times slower; v != v still lets a NaN win, as numpy does.
		acc := lowest[T]()
		for _, v := range s {
			if v > acc || v != v {
				acc = v
			}
		}
		return acc
	case redMin:
		acc := highest[T]()
		for _, v := range s {
			if v < acc || v != v {
				acc = v
			}
		}
		return acc
	case redProd:
		if isInteger[T]() {
			acc := T(1)
			for _, v := range s {
				acc *= v
			}
			return acc
		}
		acc := 1.0
		for _, v := range s {
			acc *= float64(v)
		}
		return T(acc)
	}
	if isInteger[T]() {
		var acc T
		for _, v := range s {
			acc += v
		}
		return acc
	}
	var acc float64
	for _, v := range s {
		acc += float64(v)
	}
	return T(acc)
}
