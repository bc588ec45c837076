package engine

// Helpers shared by the neural-network ops (Conv, ConvTranspose, pools, norms, Pad, Resize, LSTM,
// Gemm/MatMul): sliding-window geometry, attribute checks and a parallel loop. Names carry the
// "nn" prefix so they do not collide with helpers of the other op families.

import (
	"fmt"
	"math"
	"sync"

	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/internal/workers"
	"github.com/fcconv/fcconv/tensor"
)

// nnWindow is the geometry of a sliding window (convolution or pooling) over the spatial dims of
// an [N, C, D1, ..., Dr] tensor.
type nnWindow struct {
	in, out  []int // spatial sizes of the input and the output
	kernel   []int
	stride   []int
	dilation []int
	padBegin []int // zeros (or ignored values) virtually added before each spatial dim
	padEnd   []int
}

// rank is the number of spatial dims.
func (w *nnWindow) rank() int { return len(w.in) }

// inSize and outSize are the element counts of one spatial plane.
func (w *nnWindow) inSize() int  { return tensor.NumElements(w.in) }
func (w *nnWindow) outSize() int { return tensor.NumElements(w.out) }

// kernelSize is the number of taps of the window.
func (w *nnWindow) kernelSize() int { return tensor.NumElements(w.kernel) }

// nnWindowAttrs reads kernel_shape (or takes the given kernel when it has no such attribute),
// strides, dilations, pads and auto_pad, and computes the output size. ceil rounds the output size
// up as pooling's ceil_mode does.
func nnWindowAttrs(n *Node, in, kernel []int, ceil bool) (*nnWindow, error) {
	r := len(in)
	w := &nnWindow{in: in}
	if ks := n.AttrInts("kernel_shape", nil); ks != nil {
		if len(ks) != r {
			return nil, fmt.Errorf("kernel_shape %v has %d dims, the input has %d spatial dims", ks, len(ks), r)
		}
		w.kernel = nnInts(ks)
		if kernel != nil && !tensor.SameShape(w.kernel, kernel) {
			return nil, fmt.Errorf("kernel_shape %v does not match the weight's spatial shape %v", ks, kernel)
		}
	} else if kernel != nil {
		w.kernel = append([]int{}, kernel...)
	} else {
		return nil, fmt.Errorf("the kernel_shape attribute is required")
	}
	var err error
	if w.stride, err = nnPositiveInts(n, "strides", r); err != nil {
		return nil, err
	}
	if w.dilation, err = nnPositiveInts(n, "dilations", r); err != nil {
		return nil, err
	}
	for i, k := range w.kernel {
		if k < 1 {
			return nil, fmt.Errorf("kernel dim %d is %d; it must be at least 1", i, k)
		}
	}
	if err := nnWindowInRange(n); err != nil {
		return nil, err
	}
	autoPad := n.AttrString("auto_pad", "NOTSET")
	w.padBegin, w.padEnd = make([]int, r), make([]int, r)
	w.out = make([]int, r)
	switch autoPad {
	case "NOTSET", "":
		if pads := n.AttrInts("pads", nil); pads != nil {
			if len(pads) != 2*r {
				return nil, fmt.Errorf("pads %v must have 2 values per spatial dim (%d)", pads, 2*r)
			}
			for i := 0; i < r; i++ {
				w.padBegin[i], w.padEnd[i] = int(pads[i]), int(pads[i+r])
				if w.padBegin[i] < 0 || w.padEnd[i] < 0 {
					return nil, fmt.Errorf("pads %v must not be negative", pads)
				}
			}
		}
		for i := range w.out {
			w.out[i] = nnWindowOutSize(in[i]+w.padBegin[i]+w.padEnd[i], w.effectiveKernel(i), w.stride[i], ceil)
			if ceil && (w.out[i]-1)*w.stride[i] >= in[i]+w.padBegin[i] {
				w.out[i]-- // the last window would start in the end padding: drop it
			}
		}
	case "VALID":
		for i := range w.out {
			w.out[i] = nnWindowOutSize(in[i], w.effectiveKernel(i), w.stride[i], ceil)
		}
	case "SAME_UPPER", "SAME_LOWER":
		for i := range w.out {
			w.out[i] = (in[i] + w.stride[i] - 1) / w.stride[i]
			total := max(0, (w.out[i]-1)*w.stride[i]+w.effectiveKernel(i)-in[i])
			if autoPad == "SAME_UPPER" {
				w.padBegin[i] = total / 2
			} else {
				w.padBegin[i] = (total + 1) / 2
			}
			w.padEnd[i] = total - w.padBegin[i]
		}
	default:
		return nil, fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", autoPad)
	}
	for i, o := range w.out {
		if o < 1 {
			return nil, fmt.Errorf("spatial dim %d: input size %d with padding %d+%d is smaller than the kernel extent %d",
				i, in[i], w.padBegin[i], w.padEnd[i], w.effectiveKernel(i))
		}
	}
	return w, nil
}

// effectiveKernel is the extent of the dilated kernel along spatial dim i.
func (w *nnWindow) effectiveKernel(i int) int { return (w.kernel[i]-1)*w.dilation[i] + 1 }

// nnWindowOutSize is the number of window positions over a (padded) extent.
func nnWindowOutSize(extent, kernel, stride int, ceil bool) int {
	span := extent - kernel
	if span < 0 {
		return 0
	}
	if ceil {
		return (span+stride-1)/stride + 1
	}
	return span/stride + 1
}

// nnPositiveInts reads an INTS attribute with one value per spatial dim, defaulting to ones.
func nnPositiveInts(n *Node, name string, r int) ([]int, error) {
	v := n.AttrInts(name, nil)
	if v == nil {
		out := make([]int, r)
		for i := range out {
			out[i] = 1
		}
		return out, nil
	}
	if len(v) != r {
		return nil, fmt.Errorf("%s %v must have one value per spatial dim (%d)", name, v, r)
	}
	for _, x := range v {
		if x < 1 {
			return nil, fmt.Errorf("%s %v must be positive", name, v)
		}
	}
	return nnInts(v), nil
}

func nnInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

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

// nnThreads is the number of goroutines the ops split work over.
func nnThreads() int { return gemm.Threads() }

// nnMinParallelWork is the least work (in multiply-adds or element operations, a few
// nanoseconds each) worth waking another goroutine for: below it the wake-up costs more than it
// saves, which matters on models made of many small layers.
const nnMinParallelWork = 1 << 16

// nnParallel runs body(i) for every i in [0, tasks) on up to nnThreads() goroutines, handing out
// tasks one at a time so uneven tasks balance. workPerTask estimates each task's work; it runs
// inline when the total is small or one goroutine is enough.
func nnParallel(tasks, workPerTask int, body func(i int)) {
	workers.Run(tasks, min(nnThreads(), max(1, tasks*workPerTask/nnMinParallelWork)), body)
}

// nnParallelRange splits [0, n) into contiguous chunks of at least grain items, one chunk per
// goroutine, and runs body on each. Callers pick grain so a chunk is worth a goroutine.
func nnParallelRange(n, grain int, body func(lo, hi int)) {
	chunks := min(nnThreads(), max(1, n/max(grain, 1)))
	if chunks <= 1 {
		body(0, n)
		return
	}
	nnParallel(chunks, nnMinParallelWork, func(i int) { body(i*n/chunks, (i+1)*n/chunks) })
}

// nnScratch is a pool of float32 buffers of one fixed size, for per-run scratch of a compiled node.
// It keeps its buffers for the program's life (one per goroutine that used it at once): a
// sync.Pool would drop them at every garbage collection, and each run would then page-fault
// fresh ones in.
type nnScratch struct {
	size int
	mu   sync.Mutex
	free []*[]float32
}

func newNNScratch(size int) *nnScratch { return &nnScratch{size: size} }

func (s *nnScratch) get() *[]float32 {
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		s.mu.Unlock()
		return b
	}
	s.mu.Unlock()
	b := make([]float32, s.size)
	return &b
}

func (s *nnScratch) put(b *[]float32) {
	s.mu.Lock()
	s.free = append(s.free, b)
	s.mu.Unlock()
}

// nnFill sets every element of v to x (a vector loop where there is one: Go does not vectorise).
func nnFill(v []float32, x float32) {
	rest := v[nnFillVector(v, x):]
	for i := range rest {
		rest[i] = x
	}
}

// apply computes the activation of v in place, as the activation's own kernel would.
func (a *Activation) apply(v []float32) {
	switch a.Kind {
	case ActClamp:
		lo, hi := a.Lo, a.Hi
		rest := v[nnClampVector(v, lo, hi):]
		for i, x := range rest {
			rest[i] = min(max(x, lo), hi)
		}
	case ActLeakyRelu:
		for i, x := range v {
			v[i] = max(x, 0) + a.Alpha*min(x, 0)
		}
	case ActHardSigmoid:
		for i, x := range v {
			v[i] = min(max(a.Alpha*x+a.Beta, 0), 1)
		}
	case ActHardSwish:
		for i, x := range v {
			v[i] = x * min(max(a.Alpha*x+a.Beta, 0), 1)
		}
	case ActSiLU:
		vec.silu(v, v)
	}
}

// applyWithBias computes the activation of v + bias in place: one pass for clamps, so a GEMM's
// output gets its bias and activation while it is in cache, instead of a bias fill before the
// GEMM (which then reads it back) and an activation pass after.
func (a *Activation) applyWithBias(v []float32, bias float32) {
	if a.Kind != ActClamp {
		nnBiasClamp(v, bias, float32(math.Inf(-1)), float32(math.Inf(1)))
		a.apply(v)
		return
	}
	nnBiasClamp(v, bias, a.Lo, a.Hi)
}

// nnBiasClamp sets v[i] = min(max(v[i]+bias, lo), hi).
func nnBiasClamp(v []float32, bias, lo, hi float32) {
	rest := v[nnBiasClampVector(v, bias, lo, hi):]
	for i, x := range rest {
		rest[i] = min(max(x+bias, lo), hi)
	}
}
