package tensor

import (
	"fmt"
	"math"
	"math/bits"
)

// Element and byte counts of shapes that come from files. A declared shape is untrusted: its
// product can wrap around int64 and come out small, zero or negative, and an allocation sized by
// it then either panics or silently holds the wrong number of elements. These helpers do the
// arithmetic with overflow checks, so callers can compare a count with the bytes actually present
// (or with a memory budget) before allocating anything.

// ElementCount is the product of the dims (1 for a scalar), or an error when a dim is negative or
// the product does not fit in an int.
func ElementCount(shape []int) (int, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dim %d", shape, d)
		}
	}
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, fmt.Errorf("shape %v has more elements than fit in a 64-bit count", shape)
		}
		n = lo
	}
	return int(n), nil
}

// ByteCount is the number of bytes n elements of dt take (elements of a type without a fixed
// size count one byte), or an error when it does not fit in an int.
func ByteCount(dt DType, n int) (int, error) {
	size := max(dt.Size(), 1)
	if n < 0 || n > math.MaxInt/size {
		return 0, fmt.Errorf("%d elements of %v take more bytes than fit in a 64-bit count", n, dt)
	}
	return n * size, nil
}

// ShapeBytes is the memory a dense tensor of that type and shape needs, in bytes (see ByteCount).
func ShapeBytes(dt DType, shape []int) (int, error) {
	n, err := ElementCount(shape)
	if err != nil {
		return 0, err
	}
	return ByteCount(dt, n)
}

// dimsToShape converts declared int64 dims to a shape, rejecting negative dims and dims beyond an
// int.
func dimsToShape(name string, dims []int64) ([]int, error) {
	shape := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("tensor %q has a negative dim %d", name, d)
		}
		if uint64(d) > math.MaxInt {
			return nil, fmt.Errorf("tensor %q has a dim %d too large for this machine", name, d)
		}
		shape[i] = int(d)
	}
	return shape, nil
}
