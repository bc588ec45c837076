package engine

import (
	"fmt"
	"math"

	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/internal/workers"
	"github.com/fcconv/fcconv/tensor"
)

// Conv lowers to GEMMs with the weights packed once at compile time, by the cheapest route that
// applies: 1x1 stride-1 unpadded convs multiply the input directly; depthwise convs run a direct
// vector kernel (ops_conv_depthwise.go); other 1-D and 2-D convs build their column matrix from
// contiguous copies of stride-phase planes (ops_conv_wide.go); the rest (3-D, or 2-D with too
// many garbage columns) use im2col (im2col.go). Work is split into blocks of output columns that
// run on separate goroutines.

func init() {
	register("Conv", buildConv)
	register("ConvInteger", buildConvInteger)
}

// convShape is the checked geometry of a Conv or ConvInteger node.
type convShape struct {
	win          *nnWindow
	batch        int
	cin, cout    int
	group        int
	cinG, coutG  int // channels per group
	outputShape  []int
	macs         int64
	hasBias      bool
	weightsConst bool
	threads      int // goroutines the kernel may use (Options.Threads)
	// act, when not nil, is applied to each block of the output as soon as it is computed, while
	// it is in cache, instead of by a separate activation node.
	act *Activation
}

// convCheck validates X [N, C, D1..Dr] and W [M, C/group, k1..kr] and the window attributes.
func convCheck(n *Node, x, w Info) (*convShape, error) {
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("input X has shape %v; Conv needs [N, C, spatial...] with at least one spatial dim", x.Shape)
	}
	if len(w.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("weight W has shape %v; it needs the rank of X %v", w.Shape, x.Shape)
	}
	s := &convShape{batch: x.Shape[0], cin: x.Shape[1], cout: w.Shape[0], group: int(n.AttrInt("group", 1)), threads: n.Threads}
	if s.group < 1 || s.cin%s.group != 0 || s.cout%s.group != 0 {
		return nil, fmt.Errorf("group %d must divide the %d input channels and the %d output channels", s.group, s.cin, s.cout)
	}
	s.cinG, s.coutG = s.cin/s.group, s.cout/s.group
	if w.Shape[1] != s.cinG {
		return nil, fmt.Errorf("weight W %v has %d input channels per group; X %v with group %d has %d", w.Shape, w.Shape[1], x.Shape, s.group, s.cinG)
	}
	win, err := nnWindowAttrs(n, x.Shape[2:], w.Shape[2:], false)
	if err != nil {
		return nil, err
	}
	s.win = win
	s.outputShape = append([]int{s.batch, s.cout}, win.out...)
	s.macs = int64(s.batch) * int64(s.cout) * int64(win.outSize()) * int64(s.cinG) * int64(win.kernelSize())
	s.weightsConst = w.Const != nil
	return s, nil
}

func buildConv(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 2, 3); err != nil {
		return nil, err
	}
	if err := nnFloatInput(in, 0, "X"); err != nil {
		return nil, err
	}
	if err := nnFloatInput(in, 1, "W"); err != nil {
		return nil, err
	}
	s, err := convCheck(n, in[0], in[1])
	if err != nil {
		return nil, err
	}
	if nnOptional(in, 2) {
		if err := nnFloatInput(in, 2, "B"); err != nil {
			return nil, err
		}
		if len(in[2].Shape) != 1 || in[2].Shape[0] != s.cout {
			return nil, fmt.Errorf("bias B has shape %v; it needs [%d], one value per output channel", in[2].Shape, s.cout)
		}
		s.hasBias = true
	}
	weights, act := in[1].Const, n.Fused
	return &Build{
		Outputs:      []Info{{DType: tensor.Float, Shape: s.outputShape}},
		MACs:         s.macs,
		AppliesFused: act != nil,
		Prepare:      func() Kernel { return convKernel(newConvPlan(s, weights, act).run) },
	}, nil
}

// convKernel is the kernel of Conv and ConvTranspose: Y = run(X, W, B), B optional.
func convKernel(run func(x, w, bias, y []float32)) Kernel {
	return func(_ *RunContext, ins, outs []*tensor.Tensor) error {
		var bias []float32
		if len(ins) > 2 && ins[2] != nil {
			bias = ins[2].F32
		}
		run(ins[0].F32, ins[1].F32, bias, outs[0].F32)
		return nil
	}
}

// convPlan is a compiled float convolution.
type convPlan struct {
	*convShape
	kdim      int  // rows of the column matrix: cinG * kernel taps
	pointwise bool // 1x1 kernel, stride 1, no padding: the input is the column matrix
	depthwise *depthwisePlan
	// fullyConnected: the kernel covers the whole unpadded input, so each image's output is its
	// flattened input times W^T, and the whole batch is one GEMM.
	fullyConnected bool
	packedFC       []*gemm.PackedB // W_g^T of each group packed, for batches of more than one
	wide           *convWide       // 1-D and 2-D convs lowered through stride-phase planes
	packed         []*gemm.PackedA // weights of each group packed for the GEMM; nil if not constant
	blockCols      int             // output columns per GEMM call
	scratch        *nnScratch      // column-matrix blocks
}

// convColumnBudget is the size in floats of one column-matrix block: it and the packed weights
// of a typical layer fit the 1 MiB L2 cache together.
const convColumnBudget = 64 << 10

func newConvPlan(s *convShape, weights *tensor.Tensor, act *Activation) *convPlan {
	s.act = act
	w := s.win
	p := &convPlan{convShape: s, kdim: s.cinG * w.kernelSize()}
	if s.cinG == 1 && s.group > 1 && w.rank() <= 2 {
		p.depthwise = newDepthwisePlan(s)
		return p
	}
	p.fullyConnected = true
	for i := range w.in {
		if w.kernel[i] != w.in[i] || w.padBegin[i] != 0 || w.padEnd[i] != 0 || w.dilation[i] != 1 {
			p.fullyConnected = false
		}
	}
	if p.fullyConnected {
		if weights != nil && s.batch > 1 {
			p.packedFC = make([]*gemm.PackedB, s.group)
			for g := range p.packedFC {
				p.packedFC[g] = gemm.PackB(true, p.kdim, s.coutG, weights.F32[g*s.coutG*p.kdim:], p.kdim)
			}
		}
		return p
	}
	p.pointwise = true
	for i := range w.in {
		if w.kernel[i] != 1 || w.stride[i] != 1 || w.padBegin[i] != 0 || w.padEnd[i] != 0 {
			p.pointwise = false
		}
	}
	outSize := w.outSize()
	p.blockCols = outSize
	if !p.pointwise && outSize > 1 {
		p.wide = newConvWide(p)
	}
	if !p.pointwise && p.wide == nil {
		// Blocks of whole 32-column register tiles, at least 64 wide so each GEMM call has some work.
		p.blockCols = s.balancedBlockCols(outSize, min(outSize, max(64, convColumnBudget/p.kdim/32*32)), s.batch*s.group)
		p.scratch = newNNScratch(p.kdim * p.blockCols)
	} else if outSize > 1024 {
		// Blocks spread the work over the goroutines, each output block in cache.
		p.blockCols = s.balancedBlockCols(outSize, 512, s.batch*s.group)
	}
	if weights != nil && outSize > 1 {
		p.packed = make([]*gemm.PackedA, s.group)
		for g := range p.packed {
			p.packed[g] = gemm.PackA(false, s.coutG, p.kdim, weights.F32[g*s.coutG*p.kdim:], p.kdim)
		}
	}
	return p
}

// activate applies the fused activation, if any, to v.
func (s *convShape) activate(v []float32) {
	if s.act != nil {
		s.act.apply(v)
	}
}

// run computes y = act(conv(x, w) + bias) for the whole batch.
func (p *convPlan) run(x, w, bias, y []float32) {
	if p.depthwise != nil {
		p.depthwise.run(x, w, bias, y)
		return
	}
	if p.wide != nil {
		p.wide.run(x, w, bias, y)
		return
	}
	if p.fullyConnected {
		p.runFullyConnected(x, w, bias, y)
		return
	}
	outSize := p.win.outSize()
	blocks := (outSize + p.blockCols - 1) / p.blockCols
	p.tasks(p.batch*p.group*blocks, p.coutG*p.kdim*p.blockCols, func(task int, serial bool) {
		blk := task % blocks
		img, g := task/blocks/p.group, task/blocks%p.group
		p.runBlock(x, w, bias, y, img, g, blk*p.blockCols, min(outSize, (blk+1)*p.blockCols), serial)
	})
}

// balancedBlockCols returns the width of the column blocks of cols columns, at most
// blockCols, so that the GEMM tasks (a block times otherTasks images or groups) share the
// goroutines evenly when they are few: 3 equal tasks on 2 goroutines would leave one idle for
// a third of the time. A single task is left whole, for the GEMM to split its rows: split by
// columns, each goroutine would read all the weights.
func (s *convShape) balancedBlockCols(cols, blockCols, otherTasks int) int {
	threads := s.threads
	blocks := (cols + blockCols - 1) / blockCols
	tasks := blocks * otherTasks
	if tasks < threads || tasks%threads == 0 || tasks >= 4*threads {
		return blockCols
	}
	for tasks%threads != 0 {
		blocks++
		tasks += otherTasks
	}
	// Whole vectors of 16 columns, so no block ends in a mostly empty register tile.
	return min(blockCols, ((cols+blocks-1)/blocks+15)/16*16)
}

// tasks runs the GEMM tasks of a conv on all cores one of two ways: with a task per
// goroutine or more, in parallel, each task's GEMM on its own goroutine alone (serial true);
// otherwise one after another, each GEMM split over the goroutines by the gemm package. Nesting
// both would start goroutines for every task and cut each product into narrow, unevenly sized
// pieces. balancedBlockCols sizes the blocks so the tasks share the goroutines evenly.
func (s *convShape) tasks(tasks, workPerTask int, body func(task int, serial bool)) {
	if tasks >= s.threads {
		workers.For(s.threads, tasks, workPerTask, func(task int) { body(task, true) })
		return
	}
	for task := range tasks {
		body(task, false)
	}
}

// multiply computes res = W_g·cols + beta·res for n columns, on the calling goroutine alone
// when serial, then applies ep (see blockEpilogue), which needs packed weights.
func (p *convPlan) multiply(serial bool, g, n int, w, cols []float32, ldCols int, beta float32, res []float32, ldRes int, ep *gemm.Epilogue) {
	if p.packed != nil {
		gemm.SgemmPackedAEpilogue(p.gemmThreads(serial), p.packed[g], n, cols, ldCols, false, beta, res, ldRes, ep)
		return
	}
	wg := w[g*p.coutG*p.kdim : (g+1)*p.coutG*p.kdim]
	gemm.Sgemm(p.gemmThreads(serial), false, false, p.coutG, n, p.kdim, wg, p.kdim, cols, ldCols, beta, res, ldRes)
}

// gemmThreads is the thread count of a GEMM call: one for a task that already has a goroutine
// of its own (serial), else all of the kernel's.
func (s *convShape) gemmThreads(serial bool) int {
	if serial {
		return 1
	}
	return s.threads
}

// blockEpilogue returns the bias and clamp activation of group g as a GEMM epilogue, which
// applies them to each panel of the output while it is in L1, or nil when the block should get
// them from prepareBlock and finishBlock instead: without packed weights, without vector
// epilogue code, with an activation other than a clamp, or with nothing to apply.
func (p *convPlan) blockEpilogue(g int, bias []float32) *gemm.Epilogue {
	if p.packed == nil || !gemm.FastEpilogue() || (p.act != nil && p.act.Kind != ActClamp) || (p.act == nil && bias == nil) {
		return nil
	}
	ep := &gemm.Epilogue{Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
	if bias != nil {
		ep.Bias = bias[g*p.coutG : (g+1)*p.coutG]
	}
	if p.act != nil {
		ep.Lo, ep.Hi = p.act.Lo, p.act.Hi
	}
	return ep
}

// runFullyConnected computes Y[N, Cout] = X[N, Cin*taps] x W^T group by group: with one image a
// row vector times W^T (dot products, nothing packed), with more a GEMM over the batch, which
// reads the weights once instead of once per image.
func (p *convPlan) runFullyConnected(x, w, bias, y []float32) {
	rowLen := p.cin * p.win.kernelSize()
	beta := float32(0)
	if bias != nil {
		for img := 0; img < p.batch; img++ {
			copy(y[img*p.cout:(img+1)*p.cout], bias)
		}
		beta = 1
	}
	for g := 0; g < p.group; g++ {
		xg, yg := x[g*p.kdim:], y[g*p.coutG:]
		if p.packedFC != nil {
			gemm.SgemmPackedB(p.threads, p.batch, xg, rowLen, false, p.packedFC[g], beta, yg, p.cout)
			continue
		}
		wg := w[g*p.coutG*p.kdim : (g+1)*p.coutG*p.kdim]
		gemm.Sgemm(p.threads, false, true, p.batch, p.coutG, p.kdim, xg, rowLen, wg, p.kdim, beta, yg, p.cout)
	}
	p.activate(y[:p.batch*p.cout])
}

// runBlock computes output columns [j0, j1) of group g of image img.
func (p *convPlan) runBlock(x, w, bias, y []float32, img, g, j0, j1 int, serial bool) {
	inSize, outSize := p.win.inSize(), p.win.outSize()
	xg := x[(img*p.cin+g*p.cinG)*inSize : (img*p.cin+(g+1)*p.cinG)*inSize]
	yg := y[(img*p.cout+g*p.coutG)*outSize : (img*p.cout+(g+1)*p.coutG)*outSize]
	nb := j1 - j0
	var cols []float32
	ldCols := nb
	if p.pointwise {
		cols, ldCols = xg[j0:], inSize
	} else {
		buf := p.scratch.get()
		defer p.scratch.put(buf)
		var plan im2colPlan
		p.win.im2colBlock(&plan, *buf, xg, p.cinG, j0, j1)
		cols = *buf
	}
	if outSize == 1 {
		// One output position: y[m] = W[m,:]·col, a row vector times W transposed, which the GEMM
		// runs as dot products without packing anything.
		wg := w[g*p.coutG*p.kdim : (g+1)*p.coutG*p.kdim]
		gemm.Sgemm(p.threads, false, true, 1, p.coutG, p.kdim, cols, p.kdim, wg, p.kdim, 0, yg, p.coutG)
		if bias != nil {
			for m := range p.coutG {
				yg[m] += bias[g*p.coutG+m]
			}
		}
		p.activate(yg[:p.coutG])
		return
	}
	if ep := p.blockEpilogue(g, bias); ep != nil {
		p.multiply(serial, g, nb, w, cols, ldCols, 0, yg[j0:], outSize, ep)
		return
	}
	beta := p.prepareBlock(yg[j0:], outSize, nb, g, bias)
	p.multiply(serial, g, nb, w, cols, ldCols, beta, yg[j0:], outSize, nil)
	p.finishBlock(yg[j0:], outSize, nb, g, bias)
}

// prepareBlock readies the GEMM's output block of group g (coutG rows of n values, ld apart)
// and returns the GEMM's beta. Without a fused activation the bias is written first and the
// GEMM accumulates onto it: filling is a fast copy, adding it afterwards another pass. With one,
// the GEMM overwrites the block and finishBlock adds the bias in the activation's pass.
func (s *convShape) prepareBlock(block []float32, ld, n, g int, bias []float32) float32 {
	if bias == nil || s.act != nil {
		return 0
	}
	for m := 0; m < s.coutG; m++ {
		nnFill(block[m*ld:m*ld+n], bias[g*s.coutG+m])
	}
	return 1
}

// finishBlock applies the fused activation, and with it the bias, to the block after the GEMM.
func (s *convShape) finishBlock(block []float32, ld, n, g int, bias []float32) {
	if s.act == nil {
		return
	}
	for m := 0; m < s.coutG; m++ {
		var b float32
		if bias != nil {
			b = bias[g*s.coutG+m]
		}
		s.act.applyWithBias(block[m*ld:m*ld+n], b)
	}
}

// buildConvInteger compiles ConvInteger: uint8/int8 X and W minus their zero points, int32 out.
func buildConvInteger(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 2, 4); err != nil {
		return nil, err
	}
	for i, name := range []string{"x", "w", "x_zero_point", "w_zero_point"} {
		if i < len(in) && !in[i].Absent && in[i].DType != tensor.Uint8 && in[i].DType != tensor.Int8 {
			return nil, fmt.Errorf("input %s is %v; ConvInteger takes uint8 or int8", name, in[i].DType)
		}
	}
	s, err := convCheck(n, in[0], in[1])
	if err != nil {
		return nil, err
	}
	if nnOptional(in, 2) && tensor.NumElements(in[2].Shape) != 1 {
		return nil, fmt.Errorf("x_zero_point has shape %v; it must be a scalar", in[2].Shape)
	}
	if nnOptional(in, 3) {
		if c := tensor.NumElements(in[3].Shape); c != 1 && c != s.cout {
			return nil, fmt.Errorf("w_zero_point has shape %v; it must be a scalar or have one value per output channel (%d)", in[3].Shape, s.cout)
		}
	}
	return &Build{
		Outputs: []Info{{DType: tensor.Int32, Shape: s.outputShape}},
		MACs:    s.macs,
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			convIntegerRun(s, ins, outs[0].I32)
			return nil
		},
	}, nil
}

// convIntegerRun is a direct integer convolution (exact, unlike a float GEMM).
func convIntegerRun(s *convShape, ins []*tensor.Tensor, y []int32) {
	w := s.win
	x := nnIntsOf(ins[0])
	wt := nnIntsOf(ins[1])
	var xZero int32
	if len(ins) > 2 && ins[2] != nil {
		xZero = nnIntsOf(ins[2])[0]
	}
	wZero := make([]int32, s.cout)
	if len(ins) > 3 && ins[3] != nil {
		z := nnIntsOf(ins[3])
		for m := range wZero {
			wZero[m] = z[min(m, len(z)-1)]
		}
	}
	for i := range x {
		x[i] -= xZero
	}
	inSize, outSize, taps := w.inSize(), w.outSize(), w.kernelSize()
	// The column matrix of one image and group, in int32, then a plain triple loop.
	colF := make([]float32, s.cinG*taps*outSize)
	xF := make([]float32, s.cinG*inSize)
	col := make([]int32, len(colF))
	var plan im2colPlan
	for img := 0; img < s.batch; img++ {
		for g := 0; g < s.group; g++ {
			// im2col works on float32; int8/uint8 differences (|v| <= 510) are exact in float32.
			xg := x[(img*s.cin+g*s.cinG)*inSize:]
			for i := range xF {
				xF[i] = float32(xg[i])
			}
			w.im2colBlock(&plan, colF, xF, s.cinG, 0, outSize)
			for i, v := range colF {
				col[i] = int32(v)
			}
			for m := 0; m < s.coutG; m++ {
				oc := g*s.coutG + m
				yrow := y[(img*s.cout+oc)*outSize : (img*s.cout+oc+1)*outSize]
				clear(yrow)
				wrow := wt[oc*s.cinG*taps : (oc+1)*s.cinG*taps]
				for k, wv := range wrow {
					wv -= wZero[oc]
					if wv == 0 {
						continue
					}
					crow := col[k*outSize : (k+1)*outSize]
					for j, cv := range crow {
						yrow[j] += wv * cv
					}
				}
			}
		}
	}
}

// nnIntsOf converts an 8-bit integer tensor to int32 values (a fresh slice).
func nnIntsOf(t *tensor.Tensor) []int32 {
	out := make([]int32, t.Len())
	switch t.DType {
	case tensor.Uint8:
		for i, v := range t.U8 {
			out[i] = int32(v)
		}
	case tensor.Int8:
		for i, v := range t.I8 {
			out[i] = int32(v)
		}
	}
	return out
}
