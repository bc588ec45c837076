package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"
	"math"

	"github.com/fcconv/fcconv/tensor"
)

// This file holds Softmax and LogSoftmax. Before opset 13 they coerce the input to 2-D at attribute
// axis (default 1) and normalize each row over all the trailing dims together; from opset 13 they
// normalize along the single axis (default -1). Exponentials and sums are computed in float64, so
// float32 results are as accurate as float32 can hold.

func init() {
	register("Softmax", halfAsFloat(buildSoftmax(false)))
	register("LogSoftmax", halfAsFloat(buildSoftmax(true)))
}

type float interface{ ~float32 | ~float64 }

// softmaxShape is the input seen as [outer, r, inner], normalized along r.
type softmaxShape struct{ outer, r, inner int }

func buildSoftmax(logOutput bool) Builder {
	return func(n *Node, in []Info) (*Build, error) {
		if err := needInputs(n, in, 1, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if err := typeIn(n, x.DType, "the input", tensor.Float, tensor.Double); err != nil {
			return nil, err
		}
		s, err := softmaxAxes(n, x.Shape)
		if err != nil {
			return nil, err
		}
		var k Kernel
		if x.DType == tensor.Float {
			k = softmaxKernel[float32](s, logOutput, n.Threads)
		} else {
			k = softmaxKernel[float64](s, logOutput, n.Threads)
		}
		return &Build{Outputs: []Info{{DType: x.DType, Shape: cloneShape(x.Shape)}}, Kernel: k}, nil
	}
}

func softmaxAxes(n *Node, shape []int) (softmaxShape, error) {
	if len(shape) == 0 {
		return softmaxShape{}, fmt.Errorf("the input of %s must have at least one dim", n.OpType())
	}
	if n.Opset < 13 {
		axis, err := normAxis(n.AttrInt("axis", 1), len(shape), "attribute axis")
		if err != nil {
			return softmaxShape{}, err
		}
		return softmaxShape{outer: tensor.NumElements(shape[:axis]), r: tensor.NumElements(shape[axis:]), inner: 1}, nil
	}
	axis, err := normAxis(n.AttrInt("axis", -1), len(shape), "attribute axis")
	if err != nil {
		return softmaxShape{}, err
	}
	return softmaxShape{outer: tensor.NumElements(shape[:axis]), r: shape[axis], inner: tensor.NumElements(shape[axis+1:])}, nil
}

func softmaxKernel[T float](s softmaxShape, logOutput bool, threads int) Kernel {
	return func(_ *RunContext, in, out []*tensor.Tensor) error {
		x, y := dataOf[T](in[0]), dataOf[T](out[0])
		block := s.r * s.inner
		if block == 0 {
			return nil
		}
		workers.ForRange(threads, s.outer, workers.Grain(block*8), func(lo, hi int) {
			if s.inner == 1 {
				for o := lo; o < hi; o++ {
					softmaxRow(x[o*block:(o+1)*block], y[o*block:(o+1)*block], logOutput)
				}
				return
			}
			mx := make([]T, s.inner)
			sum := make([]float64, s.inner)
			for o := lo; o < hi; o++ {
				softmaxStrided(x[o*block:(o+1)*block], y[o*block:(o+1)*block], s.inner, mx, sum, logOutput)
			}
		})
		return nil
	}
}

// softmaxRow normalizes one contiguous row. Subtracting the maximum first keeps exp from
// overflowing.
func softmaxRow[T float](x, y []T, logOutput bool) {
	m := x[0]
	for _, v := range x {
		if v > m { // not the max builtin: its NaN handling makes this chain several times slower
			m = v
		}
	}
	var sum float64
	y = y[:len(x)]
	for i, v := range x {
		e := expClamped(float64(v - m))
		sum += e
		if !logOutput {
			y[i] = T(e)
		}
	}
	if logOutput {
		shift := float64(m) + math.Log(sum)
		for i, v := range x {
			y[i] = T(float64(v) - shift)
		}
		return
	}
	inv := 1 / sum
	for i, v := range y {
		y[i] = T(float64(v) * inv)
	}
}

// softmaxStrided normalizes a [r, inner] block along r, a whole row of inner columns at a time (no
// transposes); mx and sum are scratch of length inner.
func softmaxStrided[T float](x, y []T, inner int, mx []T, sum []float64, logOutput bool) {
	r := len(x) / inner
	copy(mx, x[:inner])
	for k := 1; k < r; k++ {
		row := x[k*inner : (k+1)*inner]
		for i, v := range row {
			mx[i] = max(mx[i], v)
		}
	}
	for i := range sum {
		sum[i] = 0
	}
	for k := 0; k < r; k++ {
		row, out := x[k*inner:(k+1)*inner], y[k*inner:(k+1)*inner]
		for i, v := range row {
			e := expClamped(float64(v - mx[i]))
			sum[i] += e
			if !logOutput {
				out[i] = T(e)
			}
		}
	}
	for i := range sum {
		if logOutput {
			sum[i] = float64(mx[i]) + math.Log(sum[i]) // now the shift to subtract
		} else {
			sum[i] = 1 / sum[i] // now the factor to scale by
		}
	}
	for k := 0; k < r; k++ {
		row, out := x[k*inner:(k+1)*inner], y[k*inner:(k+1)*inner]
		for i := range out {
			if logOutput {
				out[i] = T(float64(row[i]) - sum[i])
			} else {
				out[i] = T(float64(out[i]) * sum[i])
			}
		}
	}
}
