package gemm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchShapes are typical CNN layers: im2col convolutions and FC layers.
var benchShapes = []struct {
	name    string
	m, n, k int
	transB  bool
}{
	{name: "conv3x3_M256N3136K2304", m: 256, n: 3136, k: 2304},
	{name: "conv3x3_M512N196K4608", m: 512, n: 196, k: 4608},
	{name: "conv3x3_M64N12544K576", m: 64, n: 12544, k: 576},
	{name: "conv1x1_M256N3136K64", m: 256, n: 3136, k: 64},
	{name: "fc_M1N1000K512", m: 1, n: 1000, k: 512, transB: true},
	{name: "fc_M1N4096K25088", m: 1, n: 4096, k: 25088, transB: true},
	{name: "fcWx_M1000N1K512", m: 1000, n: 1, k: 512},
	{name: "small_M32N49K288", m: 32, n: 49, k: 288},
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchShape(b, s.m, s.n, s.k, s.transB) })
	}
}

// benchShape measures one shape with each kernel, thread count and API.
func benchShape(b *testing.B, m, n, k int, transB bool) {
	s := struct {
		m, n, k int
		transB  bool
	}{m, n, k, transB}
	{
		rng := rand.New(rand.NewPCG(1, 1))
		a := randomMatrix(rng, s.m, s.k, s.k)
		bm := randomMatrix(rng, s.k, s.n, s.n)
		ldb := s.n
		if s.transB {
			ldb = s.k
		}
		c := make([]float32, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, kern := range availableKernels() {
			if kern == genericKernel && flops > 2e9 {
				continue // too slow to be worth measuring on big shapes
			}
			for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
				for _, packed := range []bool{false, true} {
					mode := "Sgemm"
					if packed {
						mode = "packed"
					}
					name := fmt.Sprintf("%s/%s/threads=%d", kern.name, mode, threads)
					b.Run(name, func(b *testing.B) {
						saved := active
						active = kern
						defer func() { active = saved }()
						run := func() { Sgemm(threads, false, s.transB, s.m, s.n, s.k, a, s.k, bm, ldb, 0, c, s.n) }
						if packed && s.m == 1 {
							pb := PackB(s.transB, s.k, s.n, bm, ldb)
							run = func() { SgemmPackedB(threads, s.m, a, s.k, false, pb, 0, c, s.n) }
						} else if packed {
							pa := PackA(false, s.m, s.k, a, s.k)
							run = func() { SgemmPackedA(threads, pa, s.n, bm, ldb, s.transB, 0, c, s.n) }
						}
						run()
						b.ResetTimer()
						cpuStart := processCPUTime()
						for b.Loop() {
							run()
						}
						b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
						// Per CPU second: what one core delivers, even when descheduled.
						if cpu := processCPUTime() - cpuStart; cpu > 0 {
							b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOPS/core")
						}
					})
				}
			}
		}
	}
}
