package gemm

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestEpilogue checks that the epilogue variants give exactly the plain GEMM followed by the
// epilogue on C, for every kernel: shapes with several K slices, M and N blocks, partial tiles,
// one column (the packed matrix-vector path), with and without bias and clamp, and NaNs.
func TestEpilogue(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		inf := float32(math.Inf(1))
		for _, c := range []struct {
			m, n, k int
			beta    float32
			bias    bool
			lo, hi  float32
		}{
			{12, 32, 8, 0, true, 0, 6},
			{13, 33, 300, 0, true, 0, inf},
			{500, 70, 40, 1, false, -1, 1},
			{40, 5000, 20, 0, true, -inf, inf},
			{30, 1, 50, 0, true, 0, 6},
			{7, 17, 600, 0.5, true, -0.5, 0.5},
		} {
			for _, gather := range []bool{false, true} {
				for _, threads := range []int{runtime.GOMAXPROCS(0), 1} {
					a := randomMatrix(rng, c.m, c.k, c.k)
					b := randomMatrix(rng, c.k, c.n, c.n)
					b[len(b)/2] = float32(math.NaN())
					c0 := randomMatrix(rng, c.m, c.n, c.n)
					ep := &Epilogue{Lo: c.lo, Hi: c.hi}
					if c.bias {
						ep.Bias = randomMatrix(rng, 1, c.m, c.m)
					}
					pa := PackA(false, c.m, c.k, a, c.k)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					if gather {
						rows := make([]int, c.k)
						for p := range rows {
							rows[p] = p * c.n
						}
						SgemmPackedAGather(threads, pa, c.n, b, rows, c.beta, want, c.n)
						SgemmPackedAGatherEpilogue(threads, pa, c.n, b, rows, c.beta, got, c.n, ep)
					} else {
						SgemmPackedA(threads, pa, c.n, b, c.n, false, c.beta, want, c.n)
						SgemmPackedAEpilogue(threads, pa, c.n, b, c.n, false, c.beta, got, c.n, ep)
					}
					genericEpilogue(want, c.n, c.m, c.n, ep.Bias, ep.Lo, ep.Hi)
					for i := range want {
						if !sameFloat(got[i], want[i]) {
							t.Fatalf("%+v gather=%v threads=%d: C[%d] = %v, want %v", c, gather, threads, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}
