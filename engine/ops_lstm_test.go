package engine

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/graph"
	"github.com/fcconv/fcconv/onnxpb"
	"github.com/fcconv/fcconv/tensor"
)

// lstmReference follows the ONNX equations literally in float64, for layout 0, with default
// activations. It returns Y [seq, dirs, batch, hidden] and Y_h, Y_c [dirs, batch, hidden].
func lstmReference(x, w, r, b, p *tensor.Tensor, lens []int, dirs int, reverseOnly bool, clip float64, inputForget bool, h0, c0 *tensor.Tensor) (y, yh, yc []float64) {
	seq, batch, input := x.Shape[0], x.Shape[1], x.Shape[2]
	hid := r.Shape[2]
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	cl := func(v float64) float64 {
		if clip > 0 {
			return math.Max(-clip, math.Min(clip, v))
		}
		return v
	}
	y = make([]float64, seq*dirs*batch*hid)
	yh, yc = make([]float64, dirs*batch*hid), make([]float64, dirs*batch*hid)
	for d := 0; d < dirs; d++ {
		reverse := reverseOnly || d == 1
		for bi := 0; bi < batch; bi++ {
			hs, cs := make([]float64, hid), make([]float64, hid)
			for j := 0; j < hid; j++ {
				if h0 != nil {
					hs[j] = float64(h0.F32[(d*batch+bi)*hid+j])
				}
				if c0 != nil {
					cs[j] = float64(c0.F32[(d*batch+bi)*hid+j])
				}
			}
			for step := 0; step < lens[bi]; step++ {
				t := step
				if reverse {
					t = lens[bi] - 1 - step
				}
				pre := make([]float64, 4*hid)
				for k := 0; k < 4*hid; k++ {
					v := 0.0
					for i := 0; i < input; i++ {
						v += float64(x.F32[(t*batch+bi)*input+i]) * float64(w.F32[(d*4*hid+k)*input+i])
					}
					for i := 0; i < hid; i++ {
						v += hs[i] * float64(r.F32[(d*4*hid+k)*hid+i])
					}
					if b != nil {
						v += float64(b.F32[d*8*hid+k]) + float64(b.F32[d*8*hid+4*hid+k])
					}
					pre[k] = v
				}
				nh := make([]float64, hid)
				for j := 0; j < hid; j++ {
					pi, po, pf := 0.0, 0.0, 0.0
					if p != nil {
						pi, po, pf = float64(p.F32[d*3*hid+j]), float64(p.F32[d*3*hid+hid+j]), float64(p.F32[d*3*hid+2*hid+j])
					}
					i := sig(cl(pre[j] + pi*cs[j]))
					f := sig(cl(pre[2*hid+j] + pf*cs[j]))
					if inputForget {
						f = 1 - i
					}
					c := f*cs[j] + i*math.Tanh(cl(pre[3*hid+j]))
					o := sig(cl(pre[hid+j] + po*c))
					cs[j], nh[j] = c, o*math.Tanh(c)
				}
				hs = nh
				copy(y[((t*dirs+d)*batch+bi)*hid:], hs)
			}
			copy(yh[(d*batch+bi)*hid:], hs)
			copy(yc[(d*batch+bi)*hid:], cs)
		}
	}
	return y, yh, yc
}

func TestLSTM(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	for iter := 0; iter < 40; iter++ {
		seq, batch, input, hid := 1+r.Intn(4), 1+r.Intn(3), 1+r.Intn(4), 1+r.Intn(4)
		direction := []string{"forward", "reverse", "bidirectional"}[r.Intn(3)]
		dirs := 1
		if direction == "bidirectional" {
			dirs = 2
		}
		x := nnRandom(r, seq, batch, input)
		w, rec := nnRandom(r, dirs, 4*hid, input), nnRandom(r, dirs, 4*hid, hid)
		var b, p, h0, c0, lensT *tensor.Tensor
		lens := make([]int, batch)
		for i := range lens {
			lens[i] = seq
		}
		if r.Intn(2) == 0 {
			b = nnRandom(r, dirs, 8*hid)
		}
		if r.Intn(2) == 0 {
			p = nnRandom(r, dirs, 3*hid)
		}
		if r.Intn(2) == 0 {
			h0, c0 = nnRandom(r, dirs, batch, hid), nnRandom(r, dirs, batch, hid)
		}
		if r.Intn(2) == 0 {
			lensT = &tensor.Tensor{DType: tensor.Int32, Shape: []int{batch}, I32: make([]int32, batch)}
			for i := range lens {
				lens[i] = 1 + r.Intn(seq)
				lensT.I32[i] = int32(lens[i])
			}
		}
		clip := 0.0
		attrs := []*onnxpb.AttributeProto{graph.StringAttr("direction", direction), graph.IntAttr("hidden_size", int64(hid))}
		if r.Intn(3) == 0 {
			clip = 0.5
			attrs = append(attrs, graph.FloatAttr("clip", 0.5))
		}
		inputForget := r.Intn(4) == 0
		if inputForget {
			attrs = append(attrs, graph.IntAttr("input_forget", 1))
		}
		what := fmt.Sprintf("seq %d batch %d in %d hid %d %s bias=%v peep=%v init=%v lens=%v clip=%v forget=%v",
			seq, batch, input, hid, direction, b != nil, p != nil, h0 != nil, lens, clip, inputForget)
		wantY, wantH, wantC := lstmReference(x, w, rec, b, p, lens, dirs, direction == "reverse", clip, inputForget, h0, c0)
		for _, layout := range []int{0, 1} {
			xin, h0in, c0in := x, h0, c0
			la := append(append([]*onnxpb.AttributeProto{}, attrs...), graph.IntAttr("layout", int64(layout)))
			if layout == 1 {
				xin = tensor.FromFloat32(lstmSwapLeading(x.F32, seq, batch, input), batch, seq, input)
				if h0 != nil {
					h0in = tensor.FromFloat32(lstmSwapLeading(h0.F32, dirs, batch, hid), batch, dirs, hid)
					c0in = tensor.FromFloat32(lstmSwapLeading(c0.F32, dirs, batch, hid), batch, dirs, hid)
				}
			}
			outs, _, err := nnRun(nnCase{op: "LSTM", opset: 14, attrs: la, inputs: []*tensor.Tensor{xin, w, rec, b, lensT, h0in, c0in, p}, outputs: 3})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			gotY, gotH, gotC := outs[0], outs[1], outs[2]
			if layout == 1 { // back to layout 0 for the comparison
				yv := make([]float32, len(gotY.F32))
				for tt := 0; tt < seq; tt++ {
					for d := 0; d < dirs; d++ {
						for bi := 0; bi < batch; bi++ {
							copy(yv[((tt*dirs+d)*batch+bi)*hid:][:hid], gotY.F32[((bi*seq+tt)*dirs+d)*hid:][:hid])
						}
					}
				}
				gotY = tensor.FromFloat32(yv, seq, dirs, batch, hid)
				gotH = tensor.FromFloat32(lstmSwapLeading(gotH.F32, batch, dirs, hid), dirs, batch, hid)
				gotC = tensor.FromFloat32(lstmSwapLeading(gotC.F32, batch, dirs, hid), dirs, batch, hid)
			}
			nnCheckClose(t, what+" Y", gotY, []int{seq, dirs, batch, hid}, wantY, 1e-5)
			nnCheckClose(t, what+" Y_h", gotH, []int{dirs, batch, hid}, wantH, 1e-5)
			nnCheckClose(t, what+" Y_c", gotC, []int{dirs, batch, hid}, wantC, 1e-5)
		}
	}
}
