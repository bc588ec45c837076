// This file runs a compiled Program: it feeds the inputs, calls each step's kernel on buffers from
// the run's pool, hands a buffer back after its last reader, and serves outer-scope values to
// subgraph kernels (If) through RunContext.

package engine

import (
	"fmt"
	"sync"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// Program is a compiled graph. It is immutable after Compile: several goroutines may Run it at once.
type Program struct {
	graph      *graph.Graph
	steps      []step
	slots      []slot
	slotOf     map[string]int
	inputs     []string // graph inputs fed by the caller
	outputs    []string
	outerRefs  []string // outer-scope names a subgraph program reads
	keepAll    bool
	shapesOnly bool
	maxMemory  int64 // the budget compiled with (see budget.go)
	// pools keeps the intermediate buffers between runs, one bufferPool per run in flight. A
	// sync.Pool would drop them at every garbage collection, and the next run would page-fault
	// its whole working set in again.
	pools struct {
		sync.Mutex
		free []*bufferPool
	}
}

// takePool returns a buffer pool for one run.
func (p *Program) takePool() *bufferPool {
	p.pools.Lock()
	defer p.pools.Unlock()
	if n := len(p.pools.free); n > 0 {
		bp := p.pools.free[n-1]
		p.pools.free = p.pools.free[:n-1]
		return bp
	}
	return newBufferPool()
}

// returnPool keeps a run's buffers for the next run.
func (p *Program) returnPool(bp *bufferPool) {
	p.pools.Lock()
	defer p.pools.Unlock()
	p.pools.free = append(p.pools.free, bp)
}

// RunContext is passed to kernels; subgraph kernels (If) use it to read outer-scope values.
type RunContext struct {
	outer func(name string) *tensor.Tensor
	vals  []*tensor.Tensor
	prog  *Program
}

// Lookup returns the current value of a name visible at this point (for subgraphs), or nil.
func (rc *RunContext) Lookup(name string) *tensor.Tensor {
	if rc == nil {
		return nil
	}
	if i, ok := rc.prog.slotOf[name]; ok && rc.vals[i] != nil {
		return rc.vals[i]
	}
	if rc.outer != nil {
		return rc.outer(name)
	}
	return nil
}

// Inputs are the names of the graph inputs Run expects.
func (p *Program) Inputs() []string { return p.inputs }

// Outputs are the graph outputs Run returns.
func (p *Program) Outputs() []string { return p.outputs }

// Info returns the compile-time info of any value of the graph.
func (p *Program) Info(name string) (Info, bool) {
	i, ok := p.slotOf[name]
	if !ok {
		return Info{}, false
	}
	return p.slots[i].info, true
}

// NodeMACs returns the multiply-accumulates of each compiled node (nodes folded at compile time are
// absent).
func (p *Program) NodeMACs() map[*graph.Node]int64 {
	out := map[*graph.Node]int64{}
	for _, s := range p.steps {
		out[s.node] = s.macs
	}
	return out
}

// Run executes the graph. inputs maps each graph input name to a tensor of the compiled dtype and
// shape. The result maps each graph output name to its value (and, with KeepIntermediates, every
// other value too).
func (p *Program) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if p.shapesOnly {
		return nil, fmt.Errorf("engine: this program was compiled with ShapesOnly and cannot run")
	}
	for _, name := range p.inputs {
		t, ok := inputs[name]
		if !ok {
			return nil, fmt.Errorf("input %q was not given", name)
		}
		want := p.slots[p.slotOf[name]].info
		if t.DType != want.DType || !tensor.SameShape(t.Shape, want.Shape) {
			return nil, fmt.Errorf("input %q is %v%v, but the graph was compiled for %v%v", name, t.DType, t.Shape, want.DType, want.Shape)
		}
	}
	return p.run(inputs, nil)
}

func (p *Program) run(inputs map[string]*tensor.Tensor, outer func(string) *tensor.Tensor) (map[string]*tensor.Tensor, error) {
	vals := make([]*tensor.Tensor, len(p.slots))
	rc := &RunContext{outer: outer, vals: vals, prog: p}
	for i, s := range p.slots {
		switch s.kind {
		case slotConst:
			vals[i] = s.info.Const
		case slotInput:
			vals[i] = inputs[s.name]
		case slotOuter:
			if vals[i] = rc.outer(s.name); vals[i] == nil {
				return nil, fmt.Errorf("outer-scope value %q is not available", s.name)
			}
		}
	}
	// Buffers go back to a per-program pool after the run, so the next run reuses them instead
	// of allocating (and page-faulting in) every intermediate again.
	pool := p.takePool()
	defer p.returnPool(pool)
	for si := range p.steps {
		st := &p.steps[si]
		in := make([]*tensor.Tensor, len(st.in))
		for i, s := range st.in {
			if s >= 0 {
				in[i] = vals[s]
			}
		}
		out := make([]*tensor.Tensor, len(st.out))
		for i, s := range st.out {
			if s < 0 {
				continue
			}
			info := p.slots[s].info
			switch src, isView := st.views[i]; {
			case isView:
				out[i] = in[src].Reshaped(info.Shape...)
			case p.slots[s].lastUse < 0:
				// A graph output (or a value kept whole): it leaves with the caller, so it gets
				// its own buffer rather than one the pool would then have to replace every run.
				out[i] = tensor.New(info.DType, info.Shape...)
			default:
				out[i] = pool.get(info.DType, info.Shape)
			}
		}
		if st.kernel != nil {
			if err := st.kernel(rc, in, out); err != nil {
				return nil, fmt.Errorf("%v: %w", st.node, err)
			}
		}
		for i, s := range st.out {
			if s >= 0 {
				vals[s] = out[i]
			}
		}
		if !p.keepAll {
			for _, owner := range st.release {
				pool.put(vals[owner])
			}
			for _, j := range st.clear {
				vals[j] = nil
			}
		}
	}
	result := map[string]*tensor.Tensor{}
	for _, name := range p.outputs {
		result[name] = vals[p.slotOf[name]]
	}
	if p.keepAll {
		for name, i := range p.slotOf {
			if vals[i] != nil {
				result[name] = vals[i]
			}
		}
	}
	return result, nil
}

// RunSubgraph runs a subgraph program inside a kernel, reading outer values through rc.
func (p *Program) RunSubgraph(rc *RunContext) (map[string]*tensor.Tensor, error) {
	return p.run(nil, rc.Lookup)
}
