package engine

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/tensor"
)

// The memory budget. Shapes come from the model (declared input dims, Reshape targets, Expand
// shapes...) and are not to be trusted: a graph input declaring 2^40 elements, or a pooling
// window over a shape whose product overflows, would otherwise end in the runtime's fatal
// out-of-memory error, which no recover catches and which takes a whole batch down with it.
// Compile therefore refuses, before anything is allocated, any tensor larger than the budget and
// any plan whose buffers, live at once, would exceed it.

// fallbackMaxMemory is the budget when the machine's memory cannot be read.
const fallbackMaxMemory = 4 << 30

// DefaultMaxMemory is half of the memory this process may use: the smaller of the machine's
// MemTotal (/proc/meminfo) and the cgroup limit (/sys/fs/cgroup/memory.max), or 4 GiB when
// neither can be read. Half, because the model's weights and the program itself need the rest.
func DefaultMaxMemory() int64 { return defaultMaxMemory() }

var defaultMaxMemory = sync.OnceValue(func() int64 {
	total := memTotal()
	if limit := cgroupLimit(); limit > 0 && (total == 0 || limit < total) {
		total = limit
	}
	if total <= 0 {
		return fallbackMaxMemory
	}
	return total / 2
})

// memTotal reads MemTotal from /proc/meminfo in bytes (0 when unavailable).
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil || kib <= 0 || kib > math.MaxInt64/1024 {
				return 0
			}
			return kib * 1024
		}
	}
	return 0
}

// cgroupLimit reads the cgroup v2 memory limit in bytes (0 when there is none).
func cgroupLimit() int64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 {
		return 0 // "max": no limit
	}
	return v
}

// memoryBudget is the budget in bytes the options ask for.
func (o Options) memoryBudget() int64 {
	if o.MaxMemory > 0 {
		return o.MaxMemory
	}
	return DefaultMaxMemory()
}

// BudgetError is a tensor or plan too large for the memory budget.
type BudgetError struct {
	// What names the tensor and where it comes from, e.g. `output "y" of Conv node "conv1"`.
	What   string
	Bytes  int64
	Budget int64
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("%s needs %s, over the memory budget of %s; check the model's shapes (and --dim/--shape), or raise the budget with --max-memory if the machine has the memory",
		e.What, FormatBytes(e.Bytes), FormatBytes(e.Budget))
}

// checkTensor refuses a tensor the engine could not allocate: one of an element type it cannot
// hold (a model may declare any type number), or one that does not fit in the budget.
func (c *compiler) checkTensor(what string, dt tensor.DType, shape []int) error {
	if !engineType(dt) {
		return fmt.Errorf("%s has element type %v; fcconv's engine handles float, float16, bfloat16, double, int64, int32, int8, uint8 and bool", what, dt)
	}
	budget := c.opts.memoryBudget()
	bytes, err := tensor.ShapeBytes(dt, shape)
	if err != nil {
		return fmt.Errorf("%s: %v; check the model's shapes (and --dim/--shape)", what, err)
	}
	if int64(bytes) > budget {
		return &BudgetError{What: fmt.Sprintf("%s (%v%v)", what, dt, shape), Bytes: int64(bytes), Budget: budget}
	}
	return nil
}

// checkOutputs refuses a node whose outputs do not fit in the budget, before its kernel runs at
// compile time (folding) or is planned.
func (c *compiler) checkOutputs(n *graph.Node, outputs []Info) error {
	for i, info := range outputs {
		if info.Const != nil {
			continue
		}
		what := fmt.Sprintf("output %q of %v", n.Output(i), n)
		if n.Output(i) == "" {
			what = fmt.Sprintf("output %d of %v (omitted, but computed)", i, n)
		}
		if err := c.checkTensor(what, info.DType, info.Shape); err != nil {
			return err
		}
	}
	return nil
}

// checkPlan refuses a program whose inputs and intermediate buffers, at the point of the run where
// the most are live at once, exceed the budget. Views share their source's buffer and constants
// are already in memory, so neither counts.
func (c *compiler) checkPlan() error {
	if c.opts.ShapesOnly {
		return nil // nothing will be allocated
	}
	p := c.prog
	budget := c.opts.memoryBudget()
	var live, peak int64
	add := func(s int) {
		bytes, _ := tensor.ShapeBytes(p.slots[s].info.DType, p.slots[s].info.Shape) // each fits: checked
		live += int64(bytes)
		peak = max(peak, live)
	}
	for s, sl := range p.slots {
		if sl.kind == slotInput {
			add(s)
		}
	}
	for _, st := range p.steps {
		for _, s := range st.out {
			if s >= 0 && p.slots[s].owner == s {
				add(s)
			}
		}
		if peak > budget {
			return &BudgetError{What: fmt.Sprintf("running the graph up to %v", st.node), Bytes: peak, Budget: budget}
		}
		if !p.keepAll {
			for _, owner := range st.release {
				bytes, _ := tensor.ShapeBytes(p.slots[owner].info.DType, p.slots[owner].info.Shape)
				live -= int64(bytes)
			}
		}
	}
	return nil
}

// CheckAllocation refuses a tensor of that type and shape that would not fit in the memory budget
// the program was compiled with (callers allocating inputs for it, such as random samples, check
// first).
func (p *Program) CheckAllocation(what string, dt tensor.DType, shape []int) error {
	c := &compiler{opts: Options{MaxMemory: p.maxMemory}}
	return c.checkTensor(what, dt, shape)
}

// FormatBytes writes a byte count with a binary unit, e.g. "1.5 GiB".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// ParseBytes reads a size such as "8GiB", "512MB", "4g" or "1073741824" (bytes). K, M, G and T
// are binary multiples (KiB, MiB, ...), written with or without "iB"/"B".
func ParseBytes(s string) (int64, error) {
	number, mult := splitUnit(strings.ToUpper(strings.TrimSpace(s)))
	v, err := strconv.ParseFloat(strings.TrimSpace(number), 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || v*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("bad size %q: want a positive number of bytes, optionally with K, M, G or T (binary units), e.g. 8GiB", s)
	}
	return int64(v * float64(mult)), nil
}

// splitUnit splits "8GIB", "8GB" or "8G" into "8" and 1<<30; a plain number has multiplier 1.
func splitUnit(text string) (string, int64) {
	text = strings.TrimSuffix(strings.TrimSuffix(text, "B"), "I")
	multipliers := map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
	if n := len(text); n > 0 {
		if mult, ok := multipliers[text[n-1]]; ok {
			return text[:n-1], mult
		}
	}
	return text, 1
}

// fitsBudget refuses an output a builder is about to prepare for (tables sized by the output's
// dims, say) when the output itself would not fit in the memory budget: the engine checks every
// output after the builder returns, which is too late for what the builder allocates itself.
func (n *Node) fitsBudget(what string, dt tensor.DType, shape []int) error {
	c := &compiler{}
	if n != nil && n.compiler != nil {
		c = n.compiler
	}
	return c.checkTensor(what, dt, shape)
}

// poolWindowSane checks a pooling window before its per-axis tables (one entry per output
// coordinate, each found by walking the kernel's taps) are built: the output must fit in the
// budget, and each pad must be smaller than the kernel, as ONNX Runtime also requires, since a
// window lying wholly in the padding pools nothing (and huge pads made huge outputs).
func poolWindowSane(n *Node, w *nnWindow, x Info) error {
	for i := range w.kernel {
		if w.padBegin[i] >= w.kernel[i] || w.padEnd[i] >= w.kernel[i] {
			return fmt.Errorf("pads %d+%d of spatial dim %d must be smaller than the kernel size %d", w.padBegin[i], w.padEnd[i], i, w.kernel[i])
		}
	}
	if err := n.fitsBudget("output Y", x.DType, append([]int{x.Shape[0], x.Shape[1]}, w.out...)); err != nil {
		return err
	}
	// The tables cost a walk over the kernel's taps per output coordinate, per spatial dim.
	taps := 0
	for i := range w.kernel {
		taps += w.out[i] * w.kernel[i] // each factor is below 2^32: no overflow
	}
	if taps > poolTableLimit {
		return fmt.Errorf("a kernel of %v over an output of %v takes %d window steps to plan, more than the %d fcconv allows", w.kernel, w.out, taps, poolTableLimit)
	}
	return nil
}

// poolTableLimit bounds the work of planning a pooling window (output positions times kernel
// taps, summed over the spatial dims): real models need thousands, a crafted one could ask for
// 2^62.
const poolTableLimit = 1 << 28

// nnWindowLimit bounds kernel sizes, strides, dilations and pads: far beyond any real model, and
// small enough that the window arithmetic ((kernel-1)*dilation + 1, input + pads, output*stride)
// cannot overflow.
const nnWindowLimit = 1 << 31

// nnWindowInRange refuses window attributes beyond nnWindowLimit.
func nnWindowInRange(n *Node) error {
	for _, name := range []string{"kernel_shape", "strides", "dilations", "pads"} {
		for _, v := range n.AttrInts(name, nil) {
			if v > nnWindowLimit || v < -nnWindowLimit {
				return fmt.Errorf("%s holds %d, beyond the %d fcconv accepts", name, v, int64(nnWindowLimit))
			}
		}
	}
	return nil
}

// padSane checks Pad's pads before its per-axis tables (one entry per output coordinate) are
// built: each pad within nnWindowLimit, so the padded sizes cannot overflow, and the padded output
// within the memory budget.
func padSane(n *Node, data Info, pads []int) error {
	rank := len(data.Shape)
	out := make([]int, rank)
	for d := range out {
		begin, end := pads[d], pads[d+rank]
		if begin > nnWindowLimit || begin < -nnWindowLimit || end > nnWindowLimit || end < -nnWindowLimit {
			return fmt.Errorf("pads %d and %d of axis %d are beyond the %d fcconv accepts", begin, end, d, int64(nnWindowLimit))
		}
		out[d] = max(0, data.Shape[d]+begin+end) // a negative size is reported by the plan
	}
	return n.fitsBudget("output", data.DType, out)
}
