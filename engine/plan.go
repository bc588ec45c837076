// This file plans a program's memory: the slots that hold values, the steps that read and write
// them, when each intermediate buffer can go back to the pool (planLifetimes), and the pool that
// recycles buffers between the steps of a run and across runs.

package engine

import (
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

type slot struct {
	name  string
	info  Info
	owner int // slot whose buffer this one shares (itself unless a view)
	// lastUse is the index of the last step reading any slot sharing this buffer; -1: never freed.
	lastUse int
	kind    slotKind
}

type slotKind int

const (
	slotIntermediate slotKind = iota
	slotInput
	slotConst
	slotOuter
)

type step struct {
	node    *graph.Node
	kernel  Kernel
	in      []int // slot per input, -1 when absent
	out     []int // slot per output, -1 when absent
	views   map[int]int
	macs    int64
	release []int // owner slots whose buffers go back to the pool after this step
	clear   []int // intermediate slots sharing those buffers, dropped after this step
	reads   []int // slots the node's subgraphs read
}

func (c *compiler) planLifetimes() {
	p := c.prog
	outputs := map[int]bool{}
	for _, name := range p.outputs {
		outputs[p.slots[p.slotOf[name]].owner] = true
	}
	last := map[int]int{}
	for si, st := range p.steps {
		for _, s := range append(append(append([]int{}, st.in...), st.out...), st.reads...) {
			if s >= 0 {
				last[p.slots[s].owner] = si
			}
		}
	}
	sharers := map[int][]int{} // owner -> intermediate slots viewing its buffer
	for j, sl := range p.slots {
		if sl.kind == slotIntermediate {
			sharers[sl.owner] = append(sharers[sl.owner], j)
		}
	}
	for owner, si := range last {
		if p.slots[owner].kind != slotIntermediate || outputs[owner] {
			continue
		}
		p.slots[owner].lastUse = si
		p.steps[si].release = append(p.steps[si].release, owner)
		p.steps[si].clear = append(p.steps[si].clear, sharers[owner]...)
	}
}

// bufferPool recycles intermediate buffers of one run. Float buffers, nearly all of them, are
// shared across sizes: a request takes the smallest free buffer that holds it, the most recently
// freed among equals, so the next layer writes into memory the last one just released, which is
// still in cache, and a run touches fewer distinct buffers. Other types are matched by length.
type bufferPool struct {
	floats []*tensor.Tensor // free float buffers, their F32 at full capacity, oldest first
	free   map[poolKey][]*tensor.Tensor
}

type poolKey struct {
	dtype tensor.DType
	n     int
}

func newBufferPool() *bufferPool { return &bufferPool{free: map[poolKey][]*tensor.Tensor{}} }

func (bp *bufferPool) get(dt tensor.DType, shape []int) *tensor.Tensor {
	n := tensor.NumElements(shape)
	if dt == tensor.Float {
		return bp.getFloat(n, shape)
	}
	key := poolKey{dt, n}
	if list := bp.free[key]; len(list) > 0 {
		t := list[len(list)-1]
		bp.free[key] = list[:len(list)-1]
		return t.Reshaped(shape...)
	}
	return tensor.New(dt, shape...)
}

// getFloat returns a float tensor of n elements in the best-fitting free buffer, or a new one.
func (bp *bufferPool) getFloat(n int, shape []int) *tensor.Tensor {
	best := -1
	for i := len(bp.floats) - 1; i >= 0; i-- {
		c := cap(bp.floats[i].F32)
		if c >= n && (best < 0 || c < cap(bp.floats[best].F32)) {
			best = i
		}
	}
	if best < 0 {
		return tensor.New(tensor.Float, shape...)
	}
	buf := bp.floats[best].F32
	bp.floats = append(bp.floats[:best], bp.floats[best+1:]...)
	return &tensor.Tensor{DType: tensor.Float, Shape: append([]int{}, shape...), F32: buf[:n]}
}

func (bp *bufferPool) put(t *tensor.Tensor) {
	if t == nil {
		return
	}
	if t.DType == tensor.Float {
		bp.floats = append(bp.floats, &tensor.Tensor{DType: tensor.Float, F32: t.F32[:cap(t.F32)]})
		return
	}
	key := poolKey{t.DType, t.Len()}
	bp.free[key] = append(bp.free[key], t)
}
