package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// forEachKernel runs f once per kernel this CPU supports, with that kernel active.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	for _, kern := range availableKernels() {
		t.Run(kern.name, func(t *testing.T) {
			saved := active
			active = kern
			defer func() { active = saved }()
			f(t)
		})
	}
}

// allThreads is the thread count of the tests that do not choose one: every core.
var allThreads = runtime.GOMAXPROCS(0)

type shape struct {
	transA, transB bool
	m, n, k        int
	padA, padB     int // extra leading-dimension slack
	padC           int
	beta           float32
}

func (s shape) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,m=%d,n=%d,k=%d,pad=%d/%d/%d,beta=%g",
		s.transA, s.transB, s.m, s.n, s.k, s.padA, s.padB, s.padC, s.beta)
}

// operands holds random inputs for a shape, stored as Sgemm expects them.
type operands struct {
	a, b, c       []float32
	lda, ldb, ldc int
}

func randomMatrix(rng *rand.Rand, rows, cols, ld int) []float32 {
	if rows == 0 || cols == 0 {
		return nil
	}
	data := make([]float32, (rows-1)*ld+cols)
	for i := range data {
		data[i] = rng.Float32()*2 - 1
	}
	return data
}

func makeOperands(rng *rand.Rand, s shape) operands {
	var o operands
	aRows, aCols := s.m, s.k
	if s.transA {
		aRows, aCols = s.k, s.m
	}
	bRows, bCols := s.k, s.n
	if s.transB {
		bRows, bCols = s.n, s.k
	}
	o.lda, o.ldb, o.ldc = max(aCols, 1)+s.padA, max(bCols, 1)+s.padB, max(s.n, 1)+s.padC
	o.a = randomMatrix(rng, aRows, aCols, o.lda)
	o.b = randomMatrix(rng, bRows, bCols, o.ldb)
	o.c = randomMatrix(rng, s.m, s.n, o.ldc)
	if s.beta == 0 {
		// beta == 0 must ignore C entirely, NaN included.
		for i := range o.c {
			o.c[i] = float32(math.NaN())
		}
	}
	return o
}

// checkResult compares got (the C produced) with a float64 reference computed
// from the original operands, including that padding of C is untouched.
func checkResult(t *testing.T, s shape, o operands, got []float32) {
	t.Helper()
	at := func(i, p int) float64 {
		if s.transA {
			return float64(o.a[p*o.lda+i])
		}
		return float64(o.a[i*o.lda+p])
	}
	bt := func(p, j int) float64 {
		if s.transB {
			return float64(o.b[j*o.ldb+p])
		}
		return float64(o.b[p*o.ldb+j])
	}
	for i := range s.m {
		for j := 0; j < o.ldc && i*o.ldc+j < len(got); j++ {
			idx := i*o.ldc + j
			if j >= s.n {
				if !sameFloat(got[idx], o.c[idx]) {
					t.Fatalf("%v: padding C[%d,%d] changed from %v to %v", s, i, j, o.c[idx], got[idx])
				}
				continue
			}
			want, mag := 0.0, 0.0
			for p := range s.k {
				prod := at(i, p) * bt(p, j)
				want += prod
				mag += math.Abs(prod)
			}
			if s.beta != 0 {
				old := float64(s.beta) * float64(o.c[idx])
				want += old
				mag += math.Abs(old)
			}
			tol := 1e-5*math.Sqrt(float64(s.k)+1)*mag + 1e-30
			if diff := math.Abs(float64(got[idx]) - want); !(diff <= tol) {
				t.Fatalf("%v: C[%d,%d] = %v, want %v (diff %g > tol %g)", s, i, j, got[idx], want, diff, tol)
			}
		}
	}
}

func sameFloat(x, y float32) bool {
	return x == y || (x != x && y != y)
}

// api is one way to run a multiply: plain Sgemm or one of the packed forms.
type api struct {
	name string
	run  func(threads int, s shape, o operands, c []float32)
}

var apis = []api{
	{"Sgemm", func(threads int, s shape, o operands, c []float32) {
		Sgemm(threads, s.transA, s.transB, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, s.beta, c, o.ldc)
	}},
	{"PackedA", func(threads int, s shape, o operands, c []float32) {
		pa := PackA(s.transA, s.m, s.k, o.a, o.lda)
		if pa.Rows() != s.m || pa.Cols() != s.k {
			panic("PackedA dimensions")
		}
		SgemmPackedA(threads, pa, s.n, o.b, o.ldb, s.transB, s.beta, c, o.ldc)
	}},
	{"PackedB", func(threads int, s shape, o operands, c []float32) {
		pb := PackB(s.transB, s.k, s.n, o.b, o.ldb)
		if pb.Rows() != s.k || pb.Cols() != s.n {
			panic("PackedB dimensions")
		}
		SgemmPackedB(threads, s.m, o.a, o.lda, s.transA, pb, s.beta, c, o.ldc)
	}},
}

func runShape(t *testing.T, rng *rand.Rand, s shape, threads int) {
	t.Helper()
	o := makeOperands(rng, s)
	for _, api := range apis {
		got := append([]float32(nil), o.c...)
		api.run(threads, s, o, got)
		if t.Failed() {
			return
		}
		t.Run(api.name, func(t *testing.T) { checkResult(t, s, o, got) })
	}
}

var betas = []float32{0, 1, 0.5}

func TestSmallShapes(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for iter := range 300 {
			s := shape{
				transA: iter&1 != 0, transB: iter&2 != 0,
				m: 1 + rng.IntN(70), n: 1 + rng.IntN(70), k: 1 + rng.IntN(70),
				padA: rng.IntN(3), padB: rng.IntN(3), padC: rng.IntN(3),
				beta: betas[iter%len(betas)],
			}
			runShape(t, rng, s, allThreads)
		}
	})
}

// TestEdgeSizes covers every m and n around the register tiles of all kernels.
func TestEdgeSizes(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for m := 1; m <= 37; m++ {
			for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 65} {
				s := shape{m: m, n: n, k: 1 + rng.IntN(20), beta: betas[(m+n)%len(betas)],
					transA: m%2 == 0, transB: n%2 == 0, padC: 1}
				runShape(t, rng, s, allThreads)
			}
		}
	})
}

func TestDegenerate(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, s := range []shape{
			{m: 0, n: 5, k: 3}, {m: 5, n: 0, k: 3},
			{m: 4, n: 5, k: 0, beta: 0}, {m: 4, n: 5, k: 0, beta: 1}, {m: 4, n: 5, k: 0, beta: 0.5},
			{m: 1, n: 1, k: 1}, {m: 1, n: 1, k: 1, beta: 1},
		} {
			runShape(t, rng, s, allThreads)
		}
	})
}

// TestLargeShapes crosses the cache blocks (kc, mc, nc) and the parallel split.
func TestLargeShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("large shapes")
	}
	shapes := []shape{
		{m: 1, n: 3000, k: 700, beta: 1},
		{m: 1, n: 2100, k: 900, transA: true, transB: true, padB: 3},
		{m: 2, n: 500, k: 300, transB: true},
		{m: 3000, n: 1, k: 700, padA: 1, padB: 2, padC: 1, beta: 1},
		{m: 2100, n: 1, k: 900, transB: true, beta: 0.5},
		{m: 400, n: 45, k: 530, padA: 5, beta: 0.5},
		{m: 77, n: 300, k: 1000, transA: true, beta: 1},
		{m: 29, n: 4200, k: 70, transB: true, padC: 3},
		{m: 130, n: 130, k: 257, transA: true, transB: true},
	}
	forEachKernel(t, func(t *testing.T) {
		for _, threads := range []int{1, 2, 3} {
			rng := rand.New(rand.NewPCG(7, 8))
			for _, s := range shapes {
				runShape(t, rng, s, threads)
			}
		}
	})
}

func TestKernelName(t *testing.T) {
	switch Kernel() {
	case "avx512", "avx2fma", "generic":
	default:
		t.Fatalf("Kernel() = %q", Kernel())
	}
	t.Logf("kernel %s", Kernel())
}

func TestShortSlicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a short A")
		}
	}()
	Sgemm(1, false, false, 4, 4, 4, make([]float32, 15), 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

// TestSerialMatchesParallel checks the single-goroutine entries give the parallel result bit for
// bit: splitting C over goroutines never changes the order of a sum.
func TestSerialMatchesParallel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range []shape{{m: 64, n: 300, k: 576}, {m: 256, n: 64, k: 700}, {m: 1, n: 500, k: 3000}, {m: 300, n: 1, k: 3000}} {
		o := makeOperands(rng, s)
		want := make([]float32, s.m*s.n)
		got := make([]float32, s.m*s.n)
		Sgemm(4, false, false, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, 0, want, s.n)
		Sgemm(1, false, false, s.m, s.n, s.k, o.a, o.lda, o.b, o.ldb, 0, got, s.n)
		checkSame(t, s, "Sgemm on one thread", got, want)
		pa := PackA(false, s.m, s.k, o.a, o.lda)
		SgemmPackedA(4, pa, s.n, o.b, o.ldb, false, 0, want, s.n)
		SgemmPackedA(1, pa, s.n, o.b, o.ldb, false, 0, got, s.n)
		checkSame(t, s, "SgemmPackedA on one thread", got, want)
	}
}

func checkSame(t *testing.T, s shape, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v: %s element %d = %v, the parallel call gives %v", s, what, i, got[i], want[i])
		}
	}
}

// TestSgemmPackedAGather checks a B given by row starts against the same B stored densely.
func TestSgemmPackedAGather(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, s := range []shape{{m: 64, n: 96, k: 576}, {m: 13, n: 45, k: 300}, {m: 256, n: 7, k: 40}, {m: 5, n: 1, k: 9}} {
			src := randomMatrix(rng, 1, 4000, 4000)
			rows := make([]int, s.k)
			dense := make([]float32, s.k*s.n)
			for p := range rows {
				rows[p] = rng.IntN(len(src) - s.n + 1)
				copy(dense[p*s.n:], src[rows[p]:rows[p]+s.n])
			}
			a := randomMatrix(rng, s.m, s.k, s.k)
			pa := PackA(false, s.m, s.k, a, s.k)
			want := make([]float32, s.m*s.n)
			SgemmPackedA(allThreads, pa, s.n, dense, s.n, false, 0, want, s.n)
			for _, threads := range []int{allThreads, 1} {
				got := make([]float32, s.m*s.n)
				SgemmPackedAGather(threads, pa, s.n, src, rows, 0, got, s.n)
				if s.n == 1 { // SgemmPackedA takes its matrix-vector route, which sums in another order
					for i := range want {
						if math.Abs(float64(got[i]-want[i])) > 1e-5 {
							t.Fatalf("%v: element %d = %v, want %v", s, i, got[i], want[i])
						}
					}
					continue
				}
				checkSame(t, s, "SgemmPackedAGather", got, want)
			}
		}
	})
}
