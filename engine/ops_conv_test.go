package engine

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// convConfig is one convolution to test.
type convConfig struct {
	batch, cin, cout, group int
	in, kernel              []int
	stride, dilation        []int
	padBegin, padEnd        []int
	autoPad                 string
	bias, constW            bool
}

func (c convConfig) String() string {
	return fmt.Sprintf("n%d c%d->%d g%d in%v k%v s%v d%v p%v/%v %s bias=%v const=%v",
		c.batch, c.cin, c.cout, c.group, c.in, c.kernel, c.stride, c.dilation, c.padBegin, c.padEnd, c.autoPad, c.bias, c.constW)
}

// convReference is a direct float64 convolution over any number of spatial dims.
func convReference(c convConfig, x, w, b *tensor.Tensor, win *nnWindow) ([]int, []float64) {
	r := len(c.in)
	outShape := append([]int{c.batch, c.cout}, win.out...)
	out := make([]float64, tensor.NumElements(outShape))
	inSize, outSize, taps := win.inSize(), win.outSize(), win.kernelSize()
	cinG, coutG := c.cin/c.group, c.cout/c.group
	opos := make([]int, r)
	tap := make([]int, r)
	for img := 0; img < c.batch; img++ {
		for oc := 0; oc < c.cout; oc++ {
			g := oc / coutG
			for o := 0; o < outSize; o++ {
				rem := o
				for d := r - 1; d >= 0; d-- {
					opos[d] = rem % win.out[d]
					rem /= win.out[d]
				}
				sum := 0.0
				if b != nil {
					sum = float64(b.F32[oc])
				}
				for ic := 0; ic < cinG; ic++ {
					for t := 0; t < taps; t++ {
						rem := t
						for d := r - 1; d >= 0; d-- {
							tap[d] = rem % win.kernel[d]
							rem /= win.kernel[d]
						}
						idx, inside := 0, true
						for d := 0; d < r; d++ {
							i := opos[d]*win.stride[d] + tap[d]*win.dilation[d] - win.padBegin[d]
							if i < 0 || i >= win.in[d] {
								inside = false
								break
							}
							idx = idx*win.in[d] + i
						}
						if !inside {
							continue
						}
						xv := float64(x.F32[(img*c.cin+g*cinG+ic)*inSize+idx])
						wv := float64(w.F32[(oc*cinG+ic)*taps+t])
						sum += xv * wv
					}
				}
				out[(img*c.cout+oc)*outSize+o] = sum
			}
		}
	}
	return outShape, out
}

func runConvConfig(t *testing.T, r *rand.Rand, c convConfig) {
	t.Helper()
	x := nnRandom(r, append([]int{c.batch, c.cin}, c.in...)...)
	w := nnRandom(r, append([]int{c.cout, c.cin / c.group}, c.kernel...)...)
	var b *tensor.Tensor
	if c.bias {
		b = nnRandom(r, c.cout)
	}
	attrs := []*onnxpb.AttributeProto{graph.IntAttr("group", int64(c.group)), nnAttrInts("kernel_shape", c.kernel...)}
	if c.stride != nil {
		attrs = append(attrs, nnAttrInts("strides", c.stride...))
	}
	if c.dilation != nil {
		attrs = append(attrs, nnAttrInts("dilations", c.dilation...))
	}
	if c.autoPad != "" {
		attrs = append(attrs, graph.StringAttr("auto_pad", c.autoPad))
	} else if c.padBegin != nil {
		attrs = append(attrs, nnAttrInts("pads", append(append([]int{}, c.padBegin...), c.padEnd...)...))
	}
	node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
	win, err := nnWindowAttrs(node, c.in, c.kernel, false)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	inputs := []*tensor.Tensor{x, w}
	if b != nil {
		inputs = append(inputs, b)
	}
	outs, build, err := nnRun(nnCase{op: "Conv", attrs: attrs, inputs: inputs, constant: []bool{false, c.constW, c.constW}})
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	shape, want := convReference(c, x, w, b, win)
	nnCheckClose(t, c.String(), outs[0], shape, want, 1e-5)
	wantMACs := int64(c.batch * c.cout * win.outSize() * (c.cin / c.group) * win.kernelSize())
	if build.MACs != wantMACs {
		t.Fatalf("%v: MACs %d, want %d", c, build.MACs, wantMACs)
	}
}

func TestConvRandomConfigs(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	autoPads := []string{"", "", "", "SAME_UPPER", "SAME_LOWER", "VALID"}
	for iter := 0; iter < 400; iter++ {
		rank := 1 + r.Intn(3)
		c := convConfig{batch: 1 + r.Intn(2), autoPad: autoPads[r.Intn(len(autoPads))], bias: r.Intn(2) == 0, constW: r.Intn(3) > 0}
		switch r.Intn(4) {
		case 0: // depthwise, maybe with a channel multiplier
			c.group = 1 + r.Intn(6)
			c.cin, c.cout = c.group, c.group*(1+r.Intn(2))
		default:
			c.group = 1 + r.Intn(3)
			c.cin, c.cout = c.group*(1+r.Intn(4)), c.group*(1+r.Intn(4))
		}
		for d := 0; d < rank; d++ {
			k := 1 + r.Intn(4)
			if rank == 3 {
				k = 1 + r.Intn(3)
			}
			c.kernel = append(c.kernel, k)
			c.stride = append(c.stride, 1+r.Intn(3))
			c.dilation = append(c.dilation, 1+r.Intn(2))
			c.padBegin = append(c.padBegin, r.Intn(3))
			c.padEnd = append(c.padEnd, r.Intn(3))
			// Inputs may be smaller than the kernel when the padding makes up for it.
			c.in = append(c.in, max(1, (k-1)*c.dilation[d]+1-c.padBegin[d]-c.padEnd[d]+r.Intn(map[int]int{1: 20, 2: 12, 3: 5}[rank])))
		}
		if c.autoPad == "VALID" || c.autoPad == "" {
			ok := true
			for d := range c.in {
				padded := c.in[d]
				if c.autoPad == "" {
					padded += c.padBegin[d] + c.padEnd[d]
				}
				ok = ok && padded >= (c.kernel[d]-1)*c.dilation[d]+1
			}
			if !ok {
				continue
			}
		}
		runConvConfig(t, r, c)
	}
}

func TestConvShapes(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	cases := []convConfig{
		// 1x1 stride 1 (no im2col), bigger than one column block.
		{batch: 2, cin: 16, cout: 24, group: 1, in: []int{40, 40}, kernel: []int{1, 1}, bias: true, constW: true},
		// im2col in several blocks.
		{batch: 1, cin: 32, cout: 20, group: 1, in: []int{33, 31}, kernel: []int{3, 3}, padBegin: []int{1, 1}, padEnd: []int{1, 1}, bias: true, constW: true},
		// strided 1x1 (downsampling shortcut).
		{batch: 1, cin: 8, cout: 16, group: 1, in: []int{14, 14}, kernel: []int{1, 1}, stride: []int{2, 2}, constW: true},
		// 7x7 stride 2 stem.
		{batch: 1, cin: 3, cout: 16, group: 1, in: []int{32, 32}, kernel: []int{7, 7}, stride: []int{2, 2}, padBegin: []int{3, 3}, padEnd: []int{3, 3}, bias: true, constW: true},
		// One output position: matrix-vector product.
		{batch: 2, cin: 40, cout: 12, group: 1, in: []int{1, 1}, kernel: []int{1, 1}, bias: true, constW: true},
		{batch: 1, cin: 6, cout: 10, group: 2, in: []int{3, 3}, kernel: []int{3, 3}, bias: true, constW: true},
		// Depthwise 3x3 and 5x5, stride 1 and 2, with padding.
		{batch: 2, cin: 8, cout: 8, group: 8, in: []int{17, 15}, kernel: []int{3, 3}, padBegin: []int{1, 1}, padEnd: []int{1, 1}, bias: true, constW: true},
		{batch: 1, cin: 8, cout: 8, group: 8, in: []int{17, 15}, kernel: []int{3, 3}, stride: []int{2, 2}, padBegin: []int{1, 1}, padEnd: []int{1, 1}, bias: true, constW: true},
		{batch: 1, cin: 4, cout: 8, group: 4, in: []int{16, 16}, kernel: []int{5, 5}, stride: []int{2, 2}, padBegin: []int{2, 2}, padEnd: []int{2, 2}, constW: true},
		{batch: 1, cin: 4, cout: 4, group: 4, in: []int{16, 16}, kernel: []int{5, 5}, autoPad: "SAME_UPPER", constW: true},
		// Fully connected convs (the kernel covers the input): one GEMM over the batch.
		{batch: 3, cin: 4, cout: 6, group: 2, in: []int{4, 5}, kernel: []int{4, 5}, bias: true, constW: true},
		{batch: 3, cin: 4, cout: 6, group: 1, in: []int{4, 5}, kernel: []int{4, 5}, bias: true},
		{batch: 1, cin: 4, cout: 6, group: 2, in: []int{3}, kernel: []int{3}, constW: true},
		{batch: 2, cin: 5, cout: 7, group: 1, in: []int{1, 1}, kernel: []int{1, 1}, stride: []int{2, 2}, bias: true, constW: true},
		// Inputs narrower than the padded kernel (PyTorch's Conv1d_pad2size1) and than the stride.
		{batch: 1, cin: 4, cout: 4, group: 1, in: []int{1}, kernel: []int{5}, padBegin: []int{2}, padEnd: []int{2}, bias: true, constW: true},
		{batch: 1, cin: 2, cout: 3, group: 1, in: []int{1, 2}, kernel: []int{3, 3}, stride: []int{3, 3}, padBegin: []int{1, 1}, padEnd: []int{1, 1}, constW: true},
		{batch: 1, cin: 2, cout: 3, group: 1, in: []int{2, 7}, kernel: []int{3, 3}, stride: []int{3, 3}, padBegin: []int{2, 2}, padEnd: []int{2, 2}, constW: true},
		// Weights computed at run time.
		{batch: 1, cin: 6, cout: 9, group: 3, in: []int{9, 9}, kernel: []int{3, 3}, bias: true},
	}
	for _, c := range cases {
		runConvConfig(t, r, c)
	}
}

func TestConvErrors(t *testing.T) {
	x := tensor.New(tensor.Float, 1, 4, 5, 5)
	w := tensor.New(tensor.Float, 6, 3, 3, 3)
	_, _, err := nnRun(nnCase{op: "Conv", inputs: []*tensor.Tensor{x, w}})
	if err == nil {
		t.Fatal("mismatched channels were accepted")
	}
	w = tensor.New(tensor.Float, 6, 4, 7, 7)
	if _, _, err = nnRun(nnCase{op: "Conv", inputs: []*tensor.Tensor{x, w}}); err == nil {
		t.Fatal("a kernel larger than the input was accepted")
	}
}

func TestConvInteger(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	x := tensor.New(tensor.Uint8, 1, 2, 5, 5)
	for i := range x.U8 {
		x.U8[i] = uint8(r.Intn(256))
	}
	w := tensor.New(tensor.Int8, 4, 2, 3, 3)
	for i := range w.I8 {
		w.I8[i] = int8(r.Intn(256) - 128)
	}
	xz := &tensor.Tensor{DType: tensor.Uint8, Shape: []int{}, U8: []uint8{100}}
	wz := &tensor.Tensor{DType: tensor.Int8, Shape: []int{4}, I8: []int8{1, -2, 3, 0}}
	attrs := []*onnxpb.AttributeProto{nnAttrInts("pads", 1, 1, 1, 1)}
	outs, _, err := nnRun(nnCase{op: "ConvInteger", attrs: attrs, inputs: []*tensor.Tensor{x, w, xz, wz}})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: float conv of the shifted values (exact for these magnitudes).
	xf := tensor.New(tensor.Float, x.Shape...)
	for i, v := range x.U8 {
		xf.F32[i] = float32(int(v) - 100)
	}
	wf := tensor.New(tensor.Float, w.Shape...)
	for i, v := range w.I8 {
		wf.F32[i] = float32(int(v) - int(wz.I8[i/18]))
	}
	c := convConfig{batch: 1, cin: 2, cout: 4, group: 1, in: []int{5, 5}, kernel: []int{3, 3}}
	node := &Node{Node: &graph.Node{Proto: &onnxpb.NodeProto{Attribute: attrs}}}
	win, _ := nnWindowAttrs(node, c.in, c.kernel, false)
	shape, want := convReference(c, xf, wf, nil, win)
	nnCheckClose(t, "ConvInteger", outs[0], shape, want, 0)
}

// TestConvDepthwiseDirect compares depthwise convs of planes up to several vectors wide (the
// direct AVX-512 kernel's 4-vector blocks, its single vectors and masked row ends) with the
// reference, and the same convs through the phase-plane method.
func TestConvDepthwiseDirect(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	var cases []convConfig
	for range 60 {
		g := 1 + r.Intn(5)
		c := convConfig{batch: 1 + r.Intn(2), cin: g + 1, group: g + 1, bias: r.Intn(3) > 0, constW: r.Intn(4) > 0}
		c.cout = c.cin * (1 + r.Intn(2))
		rank := 1 + r.Intn(2)
		for d := 0; d < rank; d++ {
			k := 1 + r.Intn(5)
			c.kernel = append(c.kernel, k)
			c.stride = append(c.stride, 1+r.Intn(2))
			c.dilation = append(c.dilation, 1+r.Intn(2))
			c.padBegin = append(c.padBegin, r.Intn(k))
			c.padEnd = append(c.padEnd, r.Intn(k))
			size := (k-1)*c.dilation[d] + 1 + r.Intn(12)
			if d == rank-1 {
				size += r.Intn(140) // rows of 1 to 10 vectors
			}
			c.in = append(c.in, size)
		}
		cases = append(cases, c)
	}
	for _, direct := range []bool{true, false} {
		if direct && !depthwiseDirectEnabled {
			continue // no AVX-512 here
		}
		saved := depthwiseDirectEnabled
		depthwiseDirectEnabled = direct
		for _, c := range cases {
			runConvConfig(t, r, c)
		}
		depthwiseDirectEnabled = saved
	}
}

// TestConvDepthwiseWithoutVectorKernel runs the depthwise cases on the portable Go loop too.
func TestConvDepthwiseWithoutVectorKernel(t *testing.T) {
	saved, savedDirect := depthwiseHasAVX2, depthwiseDirectEnabled
	depthwiseHasAVX2, depthwiseDirectEnabled = false, false
	defer func() { depthwiseHasAVX2, depthwiseDirectEnabled = saved, savedDirect }()
	r := rand.New(rand.NewSource(15))
	for _, c := range []convConfig{
		{batch: 1, cin: 3, cout: 6, group: 3, in: []int{13, 11}, kernel: []int{3, 3}, stride: []int{2, 2}, padBegin: []int{1, 0}, padEnd: []int{1, 2}, bias: true, constW: true},
		{batch: 2, cin: 4, cout: 4, group: 4, in: []int{9, 20}, kernel: []int{5, 5}, dilation: []int{1, 2}, padBegin: []int{2, 2}, padEnd: []int{2, 2}, constW: true},
		{batch: 1, cin: 5, cout: 5, group: 5, in: []int{30}, kernel: []int{3}, stride: []int{3}, bias: true},
	} {
		runConvConfig(t, r, c)
	}
}
