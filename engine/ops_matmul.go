package engine

import (
	"fmt"
	"github.com/fcconv/fcconv/internal/workers"

	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("Gemm", buildGemm)
	register("MatMul", buildMatMul)
}

// buildGemm compiles Y = alpha * A' * B' + beta * C, where A' and B' are A and B, transposed when
// transA/transB are set, and C broadcasts to [M, N].
func buildGemm(n *Node, in []Info) (*Build, error) {
	minInputs := 2
	if n.Opset < 11 {
		minInputs = 3 // C became optional in opset 11
	}
	if err := nnNeedInputs(in, minInputs, 3); err != nil {
		return nil, err
	}
	for i, name := range []string{"A", "B"} {
		if err := nnFloatInput(in, i, name); err != nil {
			return nil, err
		}
		if len(in[i].Shape) != 2 {
			return nil, fmt.Errorf("input %s has shape %v; Gemm needs a matrix", name, in[i].Shape)
		}
	}
	transA, transB := n.AttrInt("transA", 0) != 0, n.AttrInt("transB", 0) != 0
	alpha, beta := n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
	m, k := in[0].Shape[0], in[0].Shape[1]
	if transA {
		m, k = k, m
	}
	kb, cols := in[1].Shape[0], in[1].Shape[1]
	if transB {
		kb, cols = cols, kb
	}
	if kb != k {
		return nil, fmt.Errorf("A %v (transA=%v) and B %v (transB=%v) do not chain: %d columns against %d rows",
			in[0].Shape, transA, in[1].Shape, transB, k, kb)
	}
	hasC := nnOptional(in, 2)
	if hasC {
		if err := nnFloatInput(in, 2, "C"); err != nil {
			return nil, err
		}
		if !gemmBroadcastsTo(in[2].Shape, m, cols) {
			return nil, fmt.Errorf("C has shape %v, which does not broadcast to [%d %d]", in[2].Shape, m, cols)
		}
	}
	g := &gemmPlan{transA: transA, transB: transB, m: m, n: cols, k: k, alpha: alpha, beta: beta, hasC: hasC && beta != 0, threads: n.Threads}
	b := in[1]
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: []int{m, cols}}},
		MACs:    int64(m) * int64(cols) * int64(k),
		Prepare: func() Kernel {
			g.packConstB(b)
			return func(_ *RunContext, ins, outs []*tensor.Tensor) error {
				var c *tensor.Tensor
				if len(ins) > 2 {
					c = ins[2]
				}
				g.run(ins[0], ins[1], c, outs[0].F32)
				return nil
			}
		},
	}, nil
}

// packConstB packs B once when it is a constant and A has more than one row, with alpha folded
// into the packed copy so the kernel needs no extra scaling pass.
func (g *gemmPlan) packConstB(b Info) {
	if b.Const == nil || g.m <= 1 {
		return
	}
	data := b.Const.F32
	if g.alpha != 1 {
		data = make([]float32, len(data))
		for i, v := range b.Const.F32 {
			data[i] = g.alpha * v
		}
		g.alphaFolded = true
	}
	g.packedB = gemm.PackB(g.transB, g.k, g.n, data, b.Shape[1])
}

// gemmBroadcastsTo reports whether shape broadcasts unidirectionally to [m, n].
func gemmBroadcastsTo(shape []int, m, n int) bool {
	switch len(shape) {
	case 0:
		return true
	case 1:
		return shape[0] == 1 || shape[0] == n
	case 2:
		return (shape[0] == 1 || shape[0] == m) && (shape[1] == 1 || shape[1] == n)
	}
	return false
}

type gemmPlan struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	hasC           bool // C is given and beta != 0
	packedB        *gemm.PackedB
	alphaFolded    bool // packedB holds alpha * B
	threads        int  // goroutines the GEMM may use
}

func (g *gemmPlan) run(a, b, c *tensor.Tensor, y []float32) {
	gbeta := float32(0)
	if g.hasC && c != nil {
		g.fillC(c, y)
		gbeta = 1
	}
	scaleAfter := g.alpha != 1 && !(g.packedB != nil && g.alphaFolded)
	if scaleAfter {
		gbeta = 0 // Y = alpha*A*B first, then beta*C is added in the same pass as the scaling
	}
	if g.packedB != nil {
		gemm.SgemmPackedB(g.threads, g.m, a.F32, a.Shape[1], g.transA, g.packedB, gbeta, y, g.n)
	} else {
		gemm.Sgemm(g.threads, g.transA, g.transB, g.m, g.n, g.k, a.F32, a.Shape[1], b.F32, b.Shape[1], gbeta, y, g.n)
	}
	if scaleAfter {
		for i := range y {
			y[i] *= g.alpha
		}
		if g.hasC && c != nil {
			g.addC(c, y)
		}
	}
}

// fillC writes beta * C, broadcast to [m, n], into y.
func (g *gemmPlan) fillC(c *tensor.Tensor, y []float32) {
	for i := 0; i < g.m; i++ {
		row := y[i*g.n : (i+1)*g.n]
		for j := range row {
			row[j] = g.beta * c.F32[g.cIndex(c, i, j)]
		}
	}
}

// addC adds beta * C, broadcast to [m, n], to y.
func (g *gemmPlan) addC(c *tensor.Tensor, y []float32) {
	for i := 0; i < g.m; i++ {
		row := y[i*g.n : (i+1)*g.n]
		for j := range row {
			row[j] += g.beta * c.F32[g.cIndex(c, i, j)]
		}
	}
}

// cIndex is the element of C that broadcasts to position (i, j).
func (g *gemmPlan) cIndex(c *tensor.Tensor, i, j int) int {
	switch len(c.Shape) {
	case 0:
		return 0
	case 1:
		if c.Shape[0] == 1 {
			return 0
		}
		return j
	}
	if c.Shape[0] == 1 {
		i = 0
	}
	if c.Shape[1] == 1 {
		return i
	}
	return i*c.Shape[1] + j
}

// buildMatMul compiles numpy-style matrix products: 1-D operands are promoted to matrices (and
// the added dim removed from the result), batch dims broadcast.
func buildMatMul(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 2, 2); err != nil {
		return nil, err
	}
	for i, name := range []string{"A", "B"} {
		if err := nnFloatInput(in, i, name); err != nil {
			return nil, err
		}
		if len(in[i].Shape) == 0 {
			return nil, fmt.Errorf("input %s is a scalar; MatMul needs at least 1-D operands", name)
		}
	}
	p, err := newMatMulPlan(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	p.threads = n.Threads
	b := in[1]
	return &Build{
		Outputs: []Info{{DType: tensor.Float, Shape: p.outShape}},
		MACs:    int64(p.batchCount) * int64(p.m) * int64(p.n) * int64(p.k),
		Prepare: func() Kernel {
			if b.Const != nil && len(b.Shape) <= 2 && p.batchCount*p.m > 1 {
				p.packedB = gemm.PackB(false, p.k, p.n, b.Const.F32, p.n) // once, for every run
			}
			return func(_ *RunContext, ins, outs []*tensor.Tensor) error {
				p.run(ins[0].F32, ins[1].F32, outs[0].F32)
				return nil
			}
		},
	}, nil
}

type matMulPlan struct {
	m, n, k    int
	outShape   []int
	batchShape []int // broadcast batch dims of the result
	aBatch     []int // batch dims of A and B, left-padded with ones to len(batchShape)
	bBatch     []int
	batchCount int
	// flat: B has no batch dims, so all of A's rows form one matrix and one GEMM does everything.
	flat    bool
	packedB *gemm.PackedB
	threads int // goroutines the GEMMs may use
}

func newMatMulPlan(aShape, bShape []int) (*matMulPlan, error) {
	a, b := append([]int{}, aShape...), append([]int{}, bShape...)
	aVector, bVector := len(a) == 1, len(b) == 1
	if aVector {
		a = []int{1, a[0]}
	}
	if bVector {
		b = []int{b[0], 1}
	}
	p := &matMulPlan{m: a[len(a)-2], k: a[len(a)-1], n: b[len(b)-1]}
	if b[len(b)-2] != p.k {
		return nil, fmt.Errorf("A %v and B %v do not chain: %d columns against %d rows", aShape, bShape, p.k, b[len(b)-2])
	}
	aB, bB := a[:len(a)-2], b[:len(b)-2]
	rank := max(len(aB), len(bB))
	p.aBatch, p.bBatch = matMulPadOnes(aB, rank), matMulPadOnes(bB, rank)
	p.batchShape = make([]int, rank)
	for i := range p.batchShape {
		da, db := p.aBatch[i], p.bBatch[i]
		switch {
		case da == db || db == 1:
			p.batchShape[i] = da
		case da == 1:
			p.batchShape[i] = db
		default:
			return nil, fmt.Errorf("the batch dims of A %v and B %v do not broadcast", aShape, bShape)
		}
	}
	p.batchCount = tensor.NumElements(p.batchShape)
	p.flat = tensor.NumElements(bB) == 1 && tensor.SameShape(p.aBatch, p.batchShape)
	p.outShape = append([]int{}, p.batchShape...)
	if !aVector {
		p.outShape = append(p.outShape, p.m)
	}
	if !bVector {
		p.outShape = append(p.outShape, p.n)
	}
	return p, nil
}

func matMulPadOnes(dims []int, rank int) []int {
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	copy(out[rank-len(dims):], dims)
	return out
}

func (p *matMulPlan) run(a, b, y []float32) {
	if p.flat {
		rows := p.batchCount * p.m
		if p.packedB != nil {
			gemm.SgemmPackedB(p.threads, rows, a, p.k, false, p.packedB, 0, y, p.n)
		} else {
			gemm.Sgemm(p.threads, false, false, rows, p.n, p.k, a, p.k, b, p.n, 0, y, p.n)
		}
		return
	}
	aSize, bSize, ySize := p.m*p.k, p.k*p.n, p.m*p.n
	one := func(i int) {
		ai, bi := p.batchOffsets(i)
		gemm.Sgemm(p.threads, false, false, p.m, p.n, p.k, a[ai*aSize:(ai+1)*aSize], p.k, b[bi*bSize:(bi+1)*bSize], p.n, 0, y[i*ySize:(i+1)*ySize], p.n)
	}
	if p.m*p.n*p.k < workers.MinParallelWork {
		workers.For(p.threads, p.batchCount, p.m*p.n*p.k, one) // small products: spread the batch over the goroutines
		return
	}
	for i := 0; i < p.batchCount; i++ {
		one(i) // big products: the GEMM splits each over the goroutines
	}
}

// batchOffsets maps output batch i to the batch indexes of A and B under broadcasting.
func (p *matMulPlan) batchOffsets(i int) (ai, bi int) {
	strideA, strideB := 1, 1
	for d := len(p.batchShape) - 1; d >= 0; d-- {
		idx := i % p.batchShape[d]
		i /= p.batchShape[d]
		if p.aBatch[d] != 1 {
			ai += idx * strideA
		}
		if p.bBatch[d] != 1 {
			bi += idx * strideB
		}
		strideA *= p.aBatch[d]
		strideB *= p.bBatch[d]
	}
	return ai, bi
}
