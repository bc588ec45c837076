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
	"github.com/fcconv/fcconv/graph/onnxpb"
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

// TestZooOpTimes prints, per zoo model, the wall time each op type takes in a run (the sum over
// its nodes), when FCCONV_OPTIMES is set: a quick way to see which ops to work on.
func TestZooOpTimes(t *testing.T) {
	if os.Getenv("FCCONV_OPTIMES") == "" {
		t.Skip("set FCCONV_OPTIMES=1 (and FCCONV_ZOO) to print per-op times")
	}
	var mu sync.Mutex
	spent := map[string]time.Duration{}
	macs := map[string]int64{} // per conv key, for FCCONV_OPTIMES=conv
	saved := map[string]Builder{}
	for op, b := range builders {
		saved[op] = b
		builders[op] = func(n *Node, in []Info) (*Build, error) {
			build, err := b(n, in)
			if err != nil || build.Kernel == nil {
				return build, err
			}
			kernel, op := build.Kernel, n.OpType()
			if op == "MaxPool" && os.Getenv("FCCONV_OPTIMES") == "conv" {
				op = fmt.Sprintf("MaxPool%v>%v", in[0].Shape[1:], build.Outputs[0].Shape[1:])
			}
			if op == "Conv" && os.Getenv("FCCONV_OPTIMES") == "conv" {
				op = convTimeKey(in, build)
				mu.Lock()
				macs[op] += build.MACs
				mu.Unlock()
			}
			build.Kernel = func(rc *RunContext, ins, outs []*tensor.Tensor) error {
				start := time.Now()
				err := kernel(rc, ins, outs)
				mu.Lock()
				spent[op] += time.Since(start)
				mu.Unlock()
				return err
			}
			return build, nil
		}
	}
	defer func() {
		for op, b := range saved {
			builders[op] = b
		}
	}()
	for _, dir := range zooDirs(t) {
		clear(macs)
		zm := loadZooModel(t, dir)
		const runs = 20
		clear(spent)
		start := time.Now()
		for range runs {
			if _, err := zm.prog.Run(zm.inputs); err != nil {
				t.Fatal(err)
			}
		}
		total := time.Since(start) / runs
		var lines []string
		for op, d := range spent {
			lines = append(lines, fmt.Sprintf("%s %.2fms", op, float64(d/runs)/1e6))
		}
		sort.Strings(lines)
		if os.Getenv("FCCONV_OPTIMES") == "conv" {
			lines = lines[:0]
			for op, d := range spent {
				rate := ""
				if macs[op] > 0 {
					rate = fmt.Sprintf(" %6.1f GFLOPS", 2*float64(macs[op])*runs/float64(d))
				}
				lines = append(lines, fmt.Sprintf("%8.3fms%s %s", float64(d/runs)/1e6, rate, op))
			}
			sort.Sort(sort.Reverse(sort.StringSlice(lines)))
			t.Logf("%s: %.2fms per run:\n%s", filepath.Base(dir), float64(total)/1e6, strings.Join(lines, "\n"))
			continue
		}
		t.Logf("%s: %.2fms per run: %s", filepath.Base(dir), float64(total)/1e6, strings.Join(lines, ", "))
	}
}
