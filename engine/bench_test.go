package engine

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// BenchmarkZoo times one run of each FCCONV_ZOO model (go test -bench Zoo/resnet18).
func BenchmarkZoo(b *testing.B) {
	for _, dir := range zooDirs(b) {
		b.Run(filepath.Base(dir), func(b *testing.B) {
			zm := loadZooModel(b, dir)
			var macs int64
			for _, m := range zm.prog.NodeMACs() {
				macs += m
			}
			b.ResetTimer()
			cpu := benchCPUTime()
			for range b.N {
				if _, err := zm.prog.Run(zm.inputs); err != nil {
					b.Fatal(err)
				}
			}
			benchReport(b, macs, cpu)
		})
	}
}

// BenchmarkConv times typical CNN convolutions on their own and reports GFLOPS (2 per MAC).
func BenchmarkConv(b *testing.B) {
	cases := []struct {
		name                 string
		cin, cout, group, hw int
		k, stride, pad       int
	}{
		{"resnet_3x3_64", 64, 64, 1, 56, 3, 1, 1},
		{"resnet_3x3_256_s2", 128, 256, 1, 28, 3, 2, 1},
		{"resnet_3x3_512", 512, 512, 1, 7, 3, 1, 1},
		{"stem_7x7_s2", 3, 64, 1, 224, 7, 2, 3},
		{"stem_3x3_s2", 3, 32, 1, 224, 3, 2, 1},
		{"pointwise_1x1_256_64", 256, 64, 1, 56, 1, 1, 0},
		{"depthwise_3x3_144", 144, 144, 144, 56, 3, 1, 1},
		{"depthwise_5x5_s2_240", 240, 240, 240, 28, 5, 2, 2},
		{"depthwise_5x5_1152_7", 1152, 1152, 1152, 7, 5, 1, 2},
		{"depthwise_3x3_960_7", 960, 960, 960, 7, 3, 1, 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x := nnRandom(r, 1, c.cin, c.hw, c.hw)
			w := nnRandom(r, c.cout, c.cin/c.group, c.k, c.k)
			bias := nnRandom(r, c.cout)
			attrs := []*onnxpb.AttributeProto{graph.IntAttr("group", int64(c.group)), nnAttrInts("strides", c.stride, c.stride),
				nnAttrInts("pads", c.pad, c.pad, c.pad, c.pad)}
			outs, build, err := nnRun(nnCase{op: "Conv", attrs: attrs, inputs: []*tensor.Tensor{x, w, bias}, constant: []bool{false, true, true}})
			if err != nil {
				b.Fatal(err)
			}
			in := []*tensor.Tensor{x, w, bias}
			b.ResetTimer()
			cpu := benchCPUTime()
			for range b.N {
				if err := build.Kernel(nil, in, outs); err != nil {
					b.Fatal(err)
				}
			}
			benchReport(b, build.MACs, cpu)
		})
	}
}

// benchCPUTime is the CPU time (user + system) the process has used so far.
func benchCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchReport reports GFLOPS (2 per MAC) of wall time, and the CPU time per op, which is
// what to compare when other processes compete for the cores.
func benchReport(b *testing.B, macs int64, cpuStart time.Duration) {
	cpu := benchCPUTime() - cpuStart
	b.ReportMetric(2*float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkIm2col times building the column matrix of a 3x3 conv over 64 channels of 56x56,
// block by block as the conv does, and reports the bytes written per second.
func BenchmarkIm2col(b *testing.B) {
	for _, stride := range []int{1, 2} {
		b.Run(fmt.Sprintf("stride%d", stride), func(b *testing.B) {
			node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: []*onnxpb.AttributeProto{
				nnAttrInts("pads", 1, 1, 1, 1), nnAttrInts("strides", stride, stride)}}}}
			w, err := nnWindowAttrs(node, []int{56, 56}, []int{3, 3}, false)
			if err != nil {
				b.Fatal(err)
			}
			x := nnRandom(rand.New(rand.NewSource(1)), 64, 56, 56).F32
			const block = 224
			col := make([]float32, 64*9*block)
			var plan im2colPlan
			b.ResetTimer()
			for range b.N {
				for j0 := 0; j0 < w.outSize(); j0 += block {
					w.im2colBlock(&plan, col, x, 64, j0, min(w.outSize(), j0+block))
				}
			}
			b.SetBytes(int64(4 * 64 * 9 * w.outSize()))
		})
	}
}

// BenchmarkMaxPool times ResNet's stem pooling: 3x3 stride 2 over 64 channels of 112x112.
func BenchmarkMaxPool(b *testing.B) {
	x := nnRandom(rand.New(rand.NewSource(1)), 1, 64, 112, 112)
	attrs := []*onnxpb.AttributeProto{nnAttrInts("kernel_shape", 3, 3), nnAttrInts("strides", 2, 2), nnAttrInts("pads", 1, 1, 1, 1)}
	outs, build, err := nnRun(nnCase{op: "MaxPool", attrs: attrs, inputs: []*tensor.Tensor{x}})
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.Tensor{x}
	b.ResetTimer()
	cpu := benchCPUTime()
	for range b.N {
		if err := build.Kernel(nil, in, outs); err != nil {
			b.Fatal(err)
		}
	}
	benchReport(b, 0, cpu)
	b.SetBytes(int64(4 * x.Len()))
}

// convTimeKey names a conv by its kind and output size, for FCCONV_OPTIMES=conv.
func convTimeKey(in []Info, build *Build) string {
	w, y := in[1].Shape, build.Outputs[0].Shape
	kind := "conv"
	if len(w) > 1 && w[1] == 1 && len(in[0].Shape) > 1 && in[0].Shape[1] > 1 {
		kind = "dw"
	}
	return fmt.Sprintf("%s%v>%v", kind, w[1:], y[1:])
}

// TestZooOpTimes times each op type of every zoo model (the sum over its nodes) and checks that the
// times account for the run: every op type that runs a kernel is timed, and the kernels' times
// add up to no more than the run's wall time and to most of it (the engine's own work between
// kernels is small). With FCCONV_OPTIMES=1 it runs each model more often and prints the times, a
// quick way to see which ops to work on; with FCCONV_OPTIMES=conv, per conv shape with GFLOPS.
func TestZooOpTimes(t *testing.T) {
	dirs := zooDirs(t)
	mode := os.Getenv("FCCONV_OPTIMES")
	minRuns, minTime := 3, 20*time.Millisecond
	if mode != "" {
		minRuns, minTime = 20, time.Second
	}
	timer := newOpTimer(mode)
	defer timer.install()()
	for _, dir := range dirs {
		zm := loadZooModel(t, dir)
		run := func() {
			if _, err := zm.prog.Run(zm.inputs); err != nil {
				t.Fatal(err)
			}
		}
		run() // the first run allocates the buffers, outside the kernels
		timer.reset()
		start, runs := time.Now(), 0
		for ; runs < minRuns || time.Since(start) < minTime; runs++ {
			run() // small models run more often, so a pause of the machine counts for less
		}
		total := time.Since(start)
		name := filepath.Base(dir)
		timer.check(t, name, zm.prog, total, runs)
		if mode != "" {
			t.Log(timer.report(name, total, runs))
		}
	}
}

// opTimer wraps every builder's kernel to add its wall time to its op's total.
type opTimer struct {
	mode  string // FCCONV_OPTIMES: "conv" labels convs and max pools by shape
	mu    sync.Mutex
	spent map[string]time.Duration // per label: the op type, or with mode "conv" a shape
	ops   map[string]bool          // op types whose kernel ran
	macs  map[string]int64         // per conv label
}

func newOpTimer(mode string) *opTimer {
	return &opTimer{mode: mode, spent: map[string]time.Duration{}, ops: map[string]bool{}, macs: map[string]int64{}}
}

func (ot *opTimer) reset() {
	clear(ot.spent)
	clear(ot.ops)
	clear(ot.macs)
}

// install wraps the builders and returns the function that restores them.
func (ot *opTimer) install() (restore func()) {
	saved := map[string]Builder{}
	for op, b := range builders {
		saved[op] = b
		builders[op] = func(n *Node, in []Info) (*Build, error) {
			build, err := b(n, in)
			if err != nil {
				return build, err
			}
			label := ot.label(n.OpType(), in, build)
			makeKernel := build.kernelMaker()
			build.Kernel, build.Prepare = nil, func() Kernel {
				kernel := makeKernel()
				if kernel == nil {
					return nil
				}
				return func(rc *RunContext, ins, outs []*tensor.Tensor) error {
					start := time.Now()
					err := kernel(rc, ins, outs)
					ot.add(n.OpType(), label, time.Since(start), build.MACs)
					return err
				}
			}
			return build, nil
		}
	}
	return func() {
		for op, b := range saved {
			builders[op] = b
		}
	}
}

func (ot *opTimer) label(op string, in []Info, build *Build) string {
	switch {
	case ot.mode == "conv" && op == "MaxPool":
		return fmt.Sprintf("MaxPool%v>%v", in[0].Shape[1:], build.Outputs[0].Shape[1:])
	case ot.mode == "conv" && op == "Conv":
		return convTimeKey(in, build)
	}
	return op
}

func (ot *opTimer) add(op, label string, d time.Duration, macs int64) {
	ot.mu.Lock()
	defer ot.mu.Unlock()
	ot.spent[label] += d
	ot.ops[op] = true
	if label != op {
		ot.macs[label] += macs
	}
}

// check compares the times with the program that ran runs times in total wall time.
func (ot *opTimer) check(t *testing.T, model string, p *Program, total time.Duration, runs int) {
	t.Helper()
	for _, st := range p.steps {
		if st.kernel != nil && !ot.ops[st.node.OpType()] {
			t.Errorf("%s: op %s runs a kernel but was not timed", model, st.node.OpType())
		}
	}
	var sum time.Duration
	for _, d := range ot.spent {
		sum += d
	}
	// Kernels run one after another, so their times cannot exceed the runs'.
	if sum > total {
		t.Errorf("%s: the op times add up to %v, more than the %v the runs took", model, sum, total)
	}
	// In a model whose run takes a millisecond or more, the kernels take most of it; the half
	// leaves room for the engine's bookkeeping and a busy machine. In smaller models allocation
	// and the garbage collector take too large a share to bound.
	if total/time.Duration(runs) >= time.Millisecond && sum < total/2 {
		t.Errorf("%s: the op times add up to %v, less than half the %v the runs took", model, sum, total)
	}
}

// report lists the times per run, by op type (or with FCCONV_OPTIMES=conv by shape, slowest first).
func (ot *opTimer) report(model string, total time.Duration, runs int) string {
	var lines []string
	for label, d := range ot.spent {
		if ot.mode != "conv" {
			lines = append(lines, fmt.Sprintf("%s %.2fms", label, float64(d)/float64(runs)/1e6))
			continue
		}
		rate := ""
		if ot.macs[label] > 0 {
			rate = fmt.Sprintf(" %6.1f GFLOPS", 2*float64(ot.macs[label])/float64(d))
		}
		lines = append(lines, fmt.Sprintf("%8.3fms%s %s", float64(d)/float64(runs)/1e6, rate, label))
	}
	perRun := float64(total) / float64(runs) / 1e6
	if ot.mode == "conv" {
		sort.Sort(sort.Reverse(sort.StringSlice(lines)))
		return fmt.Sprintf("%s: %.2fms per run:\n%s", model, perRun, strings.Join(lines, "\n"))
	}
	sort.Strings(lines)
	return fmt.Sprintf("%s: %.2fms per run: %s", model, perRun, strings.Join(lines, ", "))
}
