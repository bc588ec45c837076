package gemm

import "golang.org/x/sys/cpu"

//go:generate go run genkernels.go

// Register tiles of the generated assembly kernels (see genkernels.go).
const (
	avx512MR = 12
	avx512NR = 32
	avx2MR   = 6
	avx2NR   = 16
)

// avx512Kernel broadcasts 12 A values against two zmm vectors of B per k step:
// 24 accumulators hide the FMA latency and leave registers for operands.
// Partial tiles use row-specific kernels and masked stores, so edges cost
// only the work they do.
var avx512Kernel = &kernel{
	name: "avx512",
	mr:   avx512MR, nr: avx512NR,
	// A 256×32 B panel (32 KiB) fits Zen 5's 48 KiB L1 with room for the
	// streamed A panel; a 384×256 A block (384 KiB) fits its 1 MiB L2.
	kc: 256, mc: 384, nc: 4096,
	tile:              avx512Tile,
	prefetchesPerTile: func(k int) int { return k / 4 }, // one per unrolled loop iteration
	copyPanelB:        packCopy32AVX512,
	gatherPanelB:      packGather32AVX512,
	transpose4:        packTranspose4AVX512,
	panelGemv:         panelGemvAVX512,
	epilogue:          avx512Epilogue,
	axpy:              avx2Axpy,
	dot:               avx2Dot,
}

func avx512Tile(k int, a, b, c *float32, ldc int, beta float32, rows, cols int, pf *float32, pfStride int) {
	mask := uint32(1<<uint64(cols) - 1)
	vecs := 2
	if cols <= 16 {
		vecs = 1
	}
	avx512Kernels[vecs-1][rows-1](k, a, b, c, ldc, beta, mask, pf, pfStride)
}

// avx2Kernel is the classic 6×16 FMA tile: 12 ymm accumulators. Partial
// tiles use row-specific kernels, and a temporary tile for partial columns.
var avx2Kernel = &kernel{
	name: "avx2fma",
	mr:   avx2MR, nr: avx2NR,
	kc: 256, mc: 192, nc: 4096,
	tile:              avx2Tile,
	prefetchesPerTile: func(k int) int { return k / 4 }, // one per unrolled loop iteration
	copyPanelB:        packCopy16AVX2,
	gatherPanelB:      packGather16AVX2,
	transpose4:        packTranspose4AVX2,
	axpy:              avx2Axpy,
	dot:               avx2Dot,
}

func avx2Tile(k int, a, b, c *float32, ldc int, beta float32, rows, cols int, pf *float32, pfStride int) {
	kernel := avx2Kernels[rows-1]
	if cols == avx2NR {
		kernel(k, a, b, c, ldc, beta, pf, pfStride)
		return
	}
	viaTempTile(kernel, avx2NR, k, a, b, c, ldc, beta, rows, cols, pf, pfStride)
}

func avx2Axpy(alpha float32, x, y []float32) {
	if len(y) == 0 {
		return
	}
	x = x[:len(y)]
	axpyAVX2(len(y), alpha, &x[0], &y[0])
}

func avx2Dot(x, y []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	y = y[:len(x)]
	return dotAVX2(len(x), &x[0], &y[0])
}

var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// availableKernels lists the kernels this CPU can run, best first.
func availableKernels() []*kernel {
	var ks []*kernel
	if hasAVX512 {
		ks = append(ks, avx512Kernel)
	}
	if hasAVX2 {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, genericKernel)
}

func bestKernel() *kernel { return availableKernels()[0] }

//go:noescape
func epilogueAVX512(c *float32, ldc, rows, cols int, bias *float32, lo, hi float32)

func avx512Epilogue(c []float32, ldc, rows, cols int, bias []float32, lo, hi float32) {
	_ = c[(rows-1)*ldc+cols-1]
	var b *float32
	if bias != nil {
		b = &bias[:rows][0]
	}
	epilogueAVX512(&c[0], ldc, rows, cols, b, lo, hi)
}
