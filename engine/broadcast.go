package engine

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/fcconv/fcconv/internal/workers"
	"github.com/fcconv/fcconv/tensor"
)

// This file holds numpy-style broadcasting and the machinery that makes elementwise kernels fast:
// a broadcast plan that merges dims so kernels work on contiguous runs (no index arithmetic per
// element), split over goroutines when large, and reinterpreting any tensor's data as words of
// its element size so that data-movement ops need one implementation per size, not per dtype.

// broadcastShapes returns the shape that numpy-style (multidirectional) broadcasting of the shapes
// gives.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case d == o || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %s cannot be broadcast together (dims %d and %d at axis %d of the result)", shapeList(shapes), o, d, off+i)
			}
		}
	}
	return out, nil
}

// shapeList formats shapes for messages: "[2 3], [4] and [1]".
func shapeList(shapes [][]int) string {
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = fmt.Sprint(s)
	}
	if len(parts) < 2 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// broadcastsTo reports whether from broadcasts to exactly to (unidirectional broadcasting).
func broadcastsTo(from, to []int) bool {
	b, err := broadcastShapes(from, to)
	return err == nil && tensor.SameShape(b, to)
}

// walkPlan walks the elements of an output in order, tracking for each operand the offset of the
// element that goes with each output element: operand k's element for output index (i0, i1, ...)
// is at origin[k] + i0*stride[k][0] + i1*stride[k][1] + .... Broadcasting (stride 0), transposes
// (permuted strides) and slices (scaled strides, an origin) are all such walks. Dims of size 1 are
// dropped and adjacent dims that every operand traverses alike are merged, so the innermost merged
// dim is as long as possible; kernels get whole runs of it, along which operand k advances by
// innerStep[k] (1: contiguous, 0: broadcast), with no index arithmetic per element.
type walkPlan struct {
	total     int
	inner     int     // length of the innermost merged dim
	innerStep []int   // per operand: its stride along the innermost merged dim
	origin    []int   // per operand: the offset of the first element
	dims      []int   // the outer merged dims, outermost first
	strides   [][]int // strides[k][d]: operand k's element stride along outer dim d
	threads   int     // goroutines a walk may use
}

// runFunc handles the output elements [outOff, outOff+n), all within one run of the innermost
// dim; offs[k] is operand k's element offset for outOff.
type runFunc func(outOff int, offs []int, n int)

// newBcastPlan plans the walk of an output of shape out over operands of the given shapes,
// broadcast numpy-style to it.
func newBcastPlan(threads int, out []int, operands ...[]int) *walkPlan {
	strides := make([][]int, len(operands))
	for j, s := range operands {
		strides[j] = broadcastStrides(s, len(out))
	}
	return newStridedPlan(threads, out, nil, strides...)
}

// newStridedPlan plans the walk of an output of shape out over operands with the given strides per
// output dim and origins (nil: all 0).
func newStridedPlan(threads int, out []int, origin []int, full ...[]int) *walkPlan {
	k := len(full)
	p := &walkPlan{total: tensor.NumElements(out), innerStep: make([]int, k), strides: make([][]int, k), origin: origin, threads: threads}
	if p.origin == nil {
		p.origin = make([]int, k)
	}
	var dims []int
	for d, size := range out {
		if size == 1 {
			continue
		}
		last := len(dims) - 1
		if last >= 0 && mergeable(p.strides, full, last, d, size) {
			dims[last] *= size
			for j := range p.strides {
				p.strides[j][last] = full[j][d]
			}
			continue
		}
		dims = append(dims, size)
		for j := range p.strides {
			p.strides[j] = append(p.strides[j], full[j][d])
		}
	}
	if len(dims) == 0 { // a one-element output
		p.inner = 1
		return p
	}
	last := len(dims) - 1
	p.inner = dims[last]
	p.dims = dims[:last]
	for j := range p.strides {
		p.innerStep[j] = p.strides[j][last]
		p.strides[j] = p.strides[j][:last]
	}
	return p
}

// broadcastStrides gives, for each dim of a rank-`rank` output, the element stride of an operand of
// shape s broadcast to it (0 along broadcast dims).
func broadcastStrides(s []int, rank int) []int {
	st := make([]int, rank)
	off := rank - len(s)
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 1 {
			st[off+i] = acc
		}
		acc *= s[i]
	}
	return st
}

// mergeable reports whether output dim d (of the given size) can merge into the merged dim last:
// every operand must step through the pair as through one dim.
func mergeable(merged, full [][]int, last, d, size int) bool {
	for j := range merged {
		if merged[j][last] != full[j][d]*size {
			return false
		}
	}
	return true
}

// walk calls fn for the output elements [lo, hi), one run at a time.
func (p *walkPlan) walk(lo, hi int, fn runFunc) {
	k := len(p.innerStep)
	offs := make([]int, k)
	base := append([]int{}, p.origin...)
	idx := make([]int, len(p.dims))
	row, col := lo/p.inner, lo%p.inner
	for d := len(p.dims) - 1; d >= 0; d-- {
		idx[d] = row % p.dims[d]
		row /= p.dims[d]
		for j := range base {
			base[j] += idx[d] * p.strides[j][d]
		}
	}
	for pos := lo; pos < hi; {
		n := min(p.inner-col, hi-pos)
		for j := range offs {
			offs[j] = base[j] + col*p.innerStep[j]
		}
		fn(pos, offs, n)
		pos += n
		col = 0
		for d := len(p.dims) - 1; d >= 0; d-- { // next row: an odometer over the outer dims
			idx[d]++
			for j := range base {
				base[j] += p.strides[j][d]
			}
			if idx[d] < p.dims[d] {
				break
			}
			for j := range base {
				base[j] -= p.strides[j][d] * p.dims[d]
			}
			idx[d] = 0
		}
	}
}

// run walks the whole output, split across goroutines when it is large.
func (p *walkPlan) run(fn runFunc) {
	workers.ForRange(p.threads, p.total, workers.Grain(1), func(lo, hi int) { p.walk(lo, hi, fn) })
}

// binaryRows are the loops of a binary elementwise op over one run: both operands advancing (vv),
// the second fixed (vs), or the first fixed (sv). Keeping the loop inside the function lets the
// compiler inline the arithmetic.
type binaryRows[T, O any] struct {
	vv func(out []O, a, b []T)
	vs func(out []O, a []T, b T)
	sv func(out []O, a T, b []T)
}

// rowsOf builds binaryRows from a scalar function: simpler, but calls f per element. Used for the
// less common ops and types.
func rowsOf[T, O any](f func(a, b T) O) binaryRows[T, O] {
	return binaryRows[T, O]{
		vv: func(out []O, a, b []T) {
			b = b[:len(a)]
			for i := range a {
				out[i] = f(a[i], b[i])
			}
		},
		vs: func(out []O, a []T, b T) {
			for i := range a {
				out[i] = f(a[i], b)
			}
		},
		sv: func(out []O, a T, b []T) {
			for i := range b {
				out[i] = f(a, b[i])
			}
		},
	}
}

// applyBinary computes out = op(a, b) with a and b broadcast to out's shape by the plan.
func applyBinary[T, O any](p *walkPlan, a, b []T, out []O, r binaryRows[T, O]) {
	stepA, stepB := p.innerStep[0], p.innerStep[1]
	p.run(func(o int, offs []int, n int) {
		dst := out[o : o+n]
		ia, ib := offs[0], offs[1]
		switch {
		case stepA == 1 && stepB == 1:
			r.vv(dst, a[ia:ia+n], b[ib:ib+n])
		case stepA == 1:
			r.vs(dst, a[ia:ia+n], b[ib])
		case stepB == 1:
			r.sv(dst, a[ia], b[ib:ib+n])
		default: // both fixed along the run: compute once, repeat
			r.vs(dst[:1], a[ia:ia+1], b[ib])
			for i := 1; i < n; i++ {
				dst[i] = dst[0]
			}
		}
	})
}

// bytesOf reinterprets a tensor's data as bytes (no copy).
func bytesOf(t *tensor.Tensor) []byte {
	n := t.Len()
	switch t.DType {
	case tensor.Float:
		return sliceBytes(t.F32[:n])
	case tensor.Double:
		return sliceBytes(t.F64[:n])
	case tensor.Int64:
		return sliceBytes(t.I64[:n])
	case tensor.Int32:
		return sliceBytes(t.I32[:n])
	case tensor.Uint8:
		return t.U8[:n]
	case tensor.Int8:
		return sliceBytes(t.I8[:n])
	case tensor.Bool:
		return sliceBytes(t.B[:n])
	case tensor.Float16, tensor.BFloat16, tensor.Uint16:
		return sliceBytes(t.U16[:n])
	}
	panic(fmt.Sprintf("engine: no byte view of %v tensors", t.DType))
}

func sliceBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

// word is an unsigned integer as wide as some element type; data-movement kernels are generic over
// it.
type word interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

// wordsOf reinterprets a tensor's data as words of its element size.
func wordsOf[W word](t *tensor.Tensor) []W {
	b := bytesOf(t)
	if len(b) == 0 {
		return nil
	}
	var zero W
	return unsafe.Slice((*W)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(zero)))
}

// expandInto copies src, broadcast, into dst (same dtype; dst has the broadcast shape).
func expandInto(threads int, src, dst *tensor.Tensor) {
	p := newBcastPlan(threads, dst.Shape, src.Shape)
	switch src.DType.Size() {
	case 1:
		expandWords(p, wordsOf[uint8](src), wordsOf[uint8](dst))
	case 2:
		expandWords(p, wordsOf[uint16](src), wordsOf[uint16](dst))
	case 4:
		expandWords(p, wordsOf[uint32](src), wordsOf[uint32](dst))
	case 8:
		expandWords(p, wordsOf[uint64](src), wordsOf[uint64](dst))
	default:
		panic(fmt.Sprintf("engine: cannot expand %v tensors", src.DType))
	}
}

func expandWords[W word](p *walkPlan, src, dst []W) {
	step := p.innerStep[0]
	p.run(func(o int, offs []int, n int) {
		if step == 1 {
			copy(dst[o:o+n], src[offs[0]:offs[0]+n])
			return
		}
		v := src[offs[0]]
		d := dst[o : o+n]
		for i := range d {
			d[i] = v
		}
	})
}
