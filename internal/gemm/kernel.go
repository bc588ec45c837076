package gemm

import "unsafe"

// kernel describes one micro-kernel and the cache blocking tuned for it.
//
// The driver packs A into panels of mr rows (for each k step, mr consecutive
// floats) and B into panels of nr columns (for each k step, nr consecutive
// floats), both zero padded, and asks tile to combine one A panel with one B
// panel. Cache blocks: a kc×nr B panel stays in L1 while an mc×kc block of A
// sits in L2 and a kc×nc block of B in L3.
type kernel struct {
	name       string
	mr, nr     int
	kc, mc, nc int

	// tile computes C[:rows, :cols] = A·B + beta·C for a panel pair of depth k,
	// where rows ≤ mr and cols ≤ nr. beta == 0 must not read C. Kernels may
	// prefetch the rows of nr floats at pf, pf+pfStride, ... (see prefetchPlan).
	tile func(k int, a, b, c *float32, ldc int, beta float32, rows, cols int, pf *float32, pfStride int)
	// prefetchesPerTile is how many pf rows one tile call prefetches for
	// depth k (0 if the kernel ignores pf).
	prefetchesPerTile func(k int) int

	// Optional assembly packers (nil: portable Go in pack.go). copyPanelB
	// packs a full nr-column B panel from depth rows of a row-major B;
	// transpose4 packs 4 lines of a matrix as 4 lanes of a panel (see
	// packTranspose4AVX512).
	copyPanelB func(dst, src *float32, ld, depth int)
	// gatherPanelB is copyPanelB for a B whose row p starts at src[rows[p]].
	gatherPanelB func(dst, src *float32, rows *int, depth int)
	transpose4   func(dst *float32, width int, src *float32, ld, count int)

	// panelGemv, if not nil, is the assembly for panelTimesVector with
	// y[r] selected by bit r of mask.
	panelGemv func(depth int, a, x, y *float32, mask uint32)

	// epilogue, if not nil, is the vector code of Epilogue for rows × cols of c (see
	// genericEpilogue).
	epilogue func(c []float32, ldc, rows, cols int, bias []float32, lo, hi float32)

	// axpy computes y += alpha·x; dot returns x·y (len(x) == len(y)).
	axpy func(alpha float32, x, y []float32)
	dot  func(x, y []float32) float32
}

// sliceDepth returns the depth of the K slices for a product of depth k: at
// most kc, and as equal as possible so no slice is too short to amortize the
// kernel's load and store of its C tile. A multiple of 4 (the kernels' unroll).
func (kern *kernel) sliceDepth(k int) int {
	slices := (k + kern.kc - 1) / kern.kc
	return roundUp((k+slices-1)/max(slices, 1), 4)
}

// active is the kernel used by new calls. Tests swap it to exercise each kernel.
var active = bestKernel()

const (
	genericMR = 4
	genericNR = 8
)

// genericKernel is the portable pure-Go fallback.
var genericKernel = &kernel{
	name: "generic",
	mr:   genericMR, nr: genericNR,
	kc: 256, mc: 128, nc: 2048,
	tile:              genericTile,
	prefetchesPerTile: noPrefetch,
	axpy:              genericAxpy,
	dot:               genericDot,
}

func genericTile(k int, a, b, c *float32, ldc int, beta float32, rows, cols int, _ *float32, _ int) {
	as := unsafe.Slice(a, k*genericMR)
	bs := unsafe.Slice(b, k*genericNR)
	var acc [genericMR][genericNR]float32
	for p := 0; p < k; p++ {
		ap := (*[genericMR]float32)(as[p*genericMR:])
		bp := (*[genericNR]float32)(bs[p*genericNR:])
		for i, ai := range ap {
			for j, bj := range bp {
				acc[i][j] += ai * bj
			}
		}
	}
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	for i := range rows {
		mergeRow(cs[i*ldc:i*ldc+cols], acc[i][:cols], beta)
	}
}

func noPrefetch(int) int { return 0 }

// panelTimesVector adds panel·x to y for a packed A panel of depth len(x):
// y[r] += Σ_p panel[p·mr + r]·x[p] for r < len(y) ≤ mr.
func (kern *kernel) panelTimesVector(panel, x, y []float32) {
	if len(x) == 0 || len(y) == 0 {
		return
	}
	panel = panel[:len(x)*kern.mr]
	if kern.panelGemv != nil {
		kern.panelGemv(len(x), &panel[0], &x[0], &y[0], uint32(1)<<len(y)-1)
		return
	}
	for p, xp := range x {
		row := panel[p*kern.mr : p*kern.mr+len(y)]
		for r, v := range row {
			y[r] += v * xp
		}
	}
}

// mergeRow stores dst = src + beta·dst, never reading dst when beta == 0.
func mergeRow(dst, src []float32, beta float32) {
	src = src[:len(dst)]
	switch beta {
	case 0:
		copy(dst, src)
	case 1:
		for j, v := range src {
			dst[j] += v
		}
	default:
		for j, v := range src {
			dst[j] = v + beta*dst[j]
		}
	}
}

// viaTempTile runs a kernel that only knows full nr-column tiles on a tile
// of fewer columns: it computes the full width into a scratch buffer and
// merges the valid part.
func viaTempTile(full func(k int, a, b, c *float32, ldc int, beta float32, pf *float32, pfStride int), nr int,
	k int, a, b, c *float32, ldc int, beta float32, rows, cols int, pf *float32, pfStride int) {
	var tmp [maxTile]float32
	full(k, a, b, &tmp[0], nr, 0, pf, pfStride)
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	for i := range rows {
		mergeRow(cs[i*ldc:i*ldc+cols], tmp[i*nr:i*nr+cols], beta)
	}
}

// maxTile bounds mr·nr of kernels that use viaTempTile.
const maxTile = 16 * 32

func genericAxpy(alpha float32, x, y []float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func genericDot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
