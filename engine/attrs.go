package engine

import (
	"fmt"

	"github.com/fcconv/fcconv/tensor"
)

// This file holds the small checks and conversions that many op builders share: input counts,
// axes, dtypes, and reading the compile-time value of inputs that determine a shape.

// needInputs checks that the node has between min and max inputs (max < 0: no upper bound) and
// that the first min are present.
func needInputs(n *Node, in []Info, min, max int) error {
	if len(in) < min || (max >= 0 && len(in) > max) {
		want := fmt.Sprintf("%d", min)
		switch {
		case max < 0:
			want = fmt.Sprintf("at least %d", min)
		case max != min:
			want = fmt.Sprintf("%d to %d", min, max)
		}
		return fmt.Errorf("%s takes %s inputs, this node has %d", n.OpType(), want, len(in))
	}
	for i := 0; i < min; i++ {
		if in[i].Absent {
			return fmt.Errorf("input %d of %s is required but omitted", i, n.OpType())
		}
	}
	return nil
}

// present reports whether optional input i is given.
func present(in []Info, i int) bool { return i < len(in) && !in[i].Absent }

// normAxis maps axis, which may count from the end, into [0, rank).
func normAxis(axis int64, rank int, what string) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("%s %d is out of range for a tensor of rank %d", what, axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// normAxes maps each axis into [0, rank) and rejects duplicates.
func normAxes(axes []int64, rank int, what string) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		ax, err := normAxis(a, rank, what)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("%s %v name axis %d twice", what, axes, ax)
		}
		seen[ax] = true
		out[i] = ax
	}
	return out, nil
}

// runtimeShapeError is the error for an input that decides an output shape but is only known when
// the graph runs. The engine infers every shape at compile time, so it cannot run such a graph.
func runtimeShapeError(n *Node, what string) error {
	return fmt.Errorf("the %s input of %s is computed at run time from data; fcconv's engine needs shapes known at compile time", what, n.OpType())
}

// constInts returns the compile-time value of input i as int64s (int32 and int64 inputs alike). ok
// is false when the input is absent; an input that is present but not constant is an error, since
// the output shape depends on it.
func constInts(n *Node, in []Info, i int, what string) (vals []int64, ok bool, err error) {
	if !present(in, i) {
		return nil, false, nil
	}
	c := in[i].Const
	if c == nil {
		return nil, false, runtimeShapeError(n, what)
	}
	switch c.DType {
	case tensor.Int64:
		return c.I64, true, nil
	case tensor.Int32:
		vals = make([]int64, len(c.I32))
		for j, v := range c.I32 {
			vals[j] = int64(v)
		}
		return vals, true, nil
	}
	return nil, false, fmt.Errorf("the %s input of %s must be int64 (or int32), got %v", what, n.OpType(), c.DType)
}

// constScalarFloat returns the compile-time value of a one-element numeric input as float64.
func constScalarFloat(n *Node, in []Info, i int, what string) (v float64, ok bool, err error) {
	if !present(in, i) {
		return 0, false, nil
	}
	c := in[i].Const
	if c == nil {
		return 0, false, nil
	}
	if c.Len() != 1 {
		return 0, false, fmt.Errorf("the %s input of %s must hold one value, it has shape %v", what, n.OpType(), c.Shape)
	}
	return c.At(0), true, nil
}

// toInts converts int64 dims to ints, rejecting negative ones.
func toInts(vals []int64, what string) ([]int, error) {
	out := make([]int, len(vals))
	for i, v := range vals {
		if v < 0 {
			return nil, fmt.Errorf("%s %v holds an invalid dim %d", what, vals, v)
		}
		out[i] = int(v)
	}
	return out, nil
}

// engineTypes are the element types the engine can allocate and move.
func engineType(dt tensor.DType) bool {
	switch dt {
	case tensor.Float, tensor.Double, tensor.Int64, tensor.Int32, tensor.Uint8, tensor.Int8,
		tensor.Bool, tensor.Float16, tensor.BFloat16:
		return true
	}
	return false
}

// checkType rejects element types the engine cannot hold (strings, 16-bit and unsigned 32/64-bit
// integers), naming the op and input.
func checkType(n *Node, dt tensor.DType, what string) error {
	if !engineType(dt) {
		return fmt.Errorf("%s of %s is %v; fcconv's engine handles float, float16, bfloat16, double, int64, int32, int8, uint8 and bool", what, n.OpType(), dt)
	}
	return nil
}

// typeIn checks that dt is one of allowed, naming the op and input otherwise.
func typeIn(n *Node, dt tensor.DType, what string, allowed ...tensor.DType) error {
	for _, a := range allowed {
		if dt == a {
			return nil
		}
	}
	return fmt.Errorf("%s of %s is %v; the engine runs this op on %v", what, n.OpType(), dt, allowed)
}

// sameTypes checks that the present inputs in idx share one element type and returns it.
func sameTypes(n *Node, in []Info, idx ...int) (tensor.DType, error) {
	var dt tensor.DType
	for _, i := range idx {
		if !present(in, i) {
			continue
		}
		if dt == tensor.Undefined {
			dt = in[i].DType
		} else if in[i].DType != dt {
			return 0, fmt.Errorf("the inputs of %s must have one element type, got %v and %v", n.OpType(), dt, in[i].DType)
		}
	}
	return dt, nil
}

// cloneShape copies a shape so an output Info never aliases an input's.
func cloneShape(s []int) []int { return append([]int{}, s...) }

// The nn-prefixed checks below are those of the neural-network ops (Conv, pools, norms, Pad,
// Resize, LSTM, Gemm/MatMul), which compute in float only.

// nnNeedInputs checks the count of inputs, present or not.
func nnNeedInputs(in []Info, min, max int) error {
	present := 0
	for i := range in {
		if !in[i].Absent {
			present = i + 1
		}
	}
	if present < min || len(in) > max {
		if min == max {
			return fmt.Errorf("expects %d inputs, got %d", min, len(in))
		}
		return fmt.Errorf("expects %d to %d inputs, got %d", min, max, len(in))
	}
	for i := 0; i < min; i++ {
		if in[i].Absent {
			return fmt.Errorf("input %d is required", i)
		}
	}
	return nil
}

// nnFloatInput checks that input i is present and float32.
func nnFloatInput(in []Info, i int, what string) error {
	if in[i].Absent {
		return fmt.Errorf("input %d (%s) is required", i, what)
	}
	if in[i].DType != tensor.Float {
		return fmt.Errorf("input %d (%s) is %v; the engine computes this op in float only", i, what, in[i].DType)
	}
	return nil
}

// nnOptional reports whether optional input i is given.
func nnOptional(in []Info, i int) bool { return i < len(in) && !in[i].Absent }
