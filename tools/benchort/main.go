// Command benchort times fcconv's engine against ONNX Runtime on the same models, inputs and
// machine, and prints the time ratio per model (engine / ORT; lower is better).
//
//	go run ./tools/benchort [-runs 7] [-rounds 3] [-threads 2] MODEL.onnx...
//
// ONNX Runtime runs through ../shared/tools/ort-run.js with onnxruntime-node (ORT_NODE_DIR); the
// engine is fed the very inputs ORT used, and its outputs are checked against ORT's.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/fcconv/fcconv/engine"
	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/internal/ortrun"
	"github.com/fcconv/fcconv/tensor"
)

func main() {
	runs := flag.Int("runs", 7, "timed runs per model and round (the median is reported)")
	rounds := flag.Int("rounds", 3, "rounds of ORT then engine runs per model; the ratio is the median of the rounds' ratios, which a machine's load drifting between rounds moves less than a single pair of timings")
	threads := flag.Int("threads", 2, "threads for both runtimes")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchort [-runs N] [-rounds R] [-threads T] MODEL.onnx...")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads) // the engine's default thread count
	fmt.Printf("%-22s %10s %10s %7s %12s  %s\n", "model", "engine ms", "ORT ms", "ratio", "max rel err", "kernel "+gemm.Kernel())
	var ratios []float64
	for _, path := range flag.Args() {
		name := filepath.Base(filepath.Dir(path))
		if strings.HasSuffix(path, ".onnx") && name == "." {
			name = filepath.Base(path)
		}
		var engs, orts, roundRatios []float64
		var relErr float64
		var err error
		for range max(1, *rounds) {
			var engMS, ortMS float64
			if engMS, ortMS, relErr, err = benchOne(path, *runs, *threads); err != nil {
				break
			}
			engs, orts, roundRatios = append(engs, engMS), append(orts, ortMS), append(roundRatios, engMS/ortMS)
		}
		if err != nil {
			fmt.Printf("%-22s error: %v\n", name, err)
			continue
		}
		engMS, ortMS, ratio := median(engs), median(orts), median(roundRatios)
		ratios = append(ratios, ratio)
		fmt.Printf("%-22s %10.2f %10.2f %7.2f %12.2e\n", name, engMS, ortMS, ratio, relErr)
	}
	if len(ratios) > 0 {
		fmt.Printf("median ratio engine/ORT: %.2f over %d models\n", median(ratios), len(ratios))
	}
}

// median of an even count is the mean of the middle two.
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func benchOne(path string, runs, threads int) (engMS, ortMS, relErr float64, err error) {
	ort, err := ortrun.Run(path, ortrun.Options{Seed: 1234, Runs: runs, Threads: threads})
	if err != nil {
		return 0, 0, 0, err
	}
	m, err := graph.Load(path)
	if err != nil {
		return 0, 0, 0, err
	}
	shapes := map[string][]int{}
	for name, t := range ort.Inputs {
		shapes[name] = t.Shape
	}
	p, err := engine.Compile(m.Graph, engine.Options{InputShapes: shapes})
	if err != nil {
		return 0, 0, 0, err
	}
	var outs map[string]*tensor.Tensor
	if outs, err = p.Run(ort.Inputs); err != nil { // warm-up, as ORT's untimed first run
		return 0, 0, 0, err
	}
	times := make([]float64, runs)
	for i := range times {
		start := time.Now()
		if _, err = p.Run(ort.Inputs); err != nil {
			return 0, 0, 0, err
		}
		times[i] = float64(time.Since(start).Microseconds()) / 1000
	}
	sort.Float64s(times)
	return times[runs/2], ort.MedianMS, maxRelError(outs, ort.Outputs), nil
}

// maxRelError is the largest |engine - ORT| over the outputs, relative to ORT's largest magnitude.
func maxRelError(got, want map[string]*tensor.Tensor) float64 {
	worst := 0.0
	for name, w := range want {
		g := got[name]
		if g == nil || g.Len() != w.Len() {
			return math.Inf(1)
		}
		maxAbs, maxDiff := 0.0, 0.0
		for i := 0; i < w.Len(); i++ {
			maxAbs = math.Max(maxAbs, math.Abs(w.At(i)))
			maxDiff = math.Max(maxDiff, math.Abs(g.At(i)-w.At(i)))
		}
		if maxAbs > 0 {
			worst = math.Max(worst, maxDiff/maxAbs)
		}
	}
	return worst
}
