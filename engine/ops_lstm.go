package engine

import (
	"fmt"
	"math"
	"strings"

	"github.com/fcconv/fcconv/internal/gemm"
	"github.com/fcconv/fcconv/tensor"
)

func init() {
	register("LSTM", buildLSTM)
}

// LSTM per direction: the input projections of all time steps are one GEMM up front,
// X[seq*batch, input] x W^T[input, 4H] (+ both biases); each step then adds H_prev x R^T and
// applies the gates. Gate order in W, R and B is i, o, f, c; in P it is i, o, f.

// lstmActivation is one of the activation functions LSTM accepts.
type lstmActivation func(x float32) float32

// lstmShape is the checked geometry of an LSTM node.
type lstmShape struct {
	seq, batch, input, hidden int
	dirs                      int
	reverse                   bool // the single direction is reverse
	layout                    int
	clip                      float32
	inputForget               bool
	acts                      [][3]lstmActivation // per direction: f, g, h
	threads                   int                 // goroutines the GEMMs may use
}

func buildLSTM(n *Node, in []Info) (*Build, error) {
	if err := nnNeedInputs(in, 3, 8); err != nil {
		return nil, err
	}
	for i, name := range []string{"X", "W", "R", "B", "", "initial_h", "initial_c", "P"} {
		if name != "" && nnOptional(in, i) {
			if err := nnFloatInput(in, i, name); err != nil {
				return nil, err
			}
		}
	}
	s, err := lstmCheck(n, in)
	if err != nil {
		return nil, err
	}
	seqShape := []int{s.seq, s.dirs, s.batch, s.hidden}
	stateShape := []int{s.dirs, s.batch, s.hidden}
	if s.layout == 1 {
		seqShape = []int{s.batch, s.seq, s.dirs, s.hidden}
		stateShape = []int{s.batch, s.dirs, s.hidden}
	}
	outs := []Info{{DType: tensor.Float, Shape: seqShape}, {DType: tensor.Float, Shape: stateShape}, {DType: tensor.Float, Shape: stateShape}}
	return &Build{
		Outputs: outs,
		MACs:    int64(s.seq) * int64(s.batch) * int64(s.dirs) * 4 * int64(s.hidden) * int64(s.input+s.hidden),
		Kernel: func(_ *RunContext, ins, outs []*tensor.Tensor) error {
			get := func(i int) *tensor.Tensor {
				if i < len(ins) {
					return ins[i]
				}
				return nil
			}
			res := make([]*tensor.Tensor, 3)
			for i := range res {
				if i < len(outs) {
					res[i] = outs[i]
				}
			}
			return s.run(ins[0], ins[1], ins[2], get(3), get(4), get(5), get(6), get(7), res)
		},
	}, nil
}

func lstmCheck(n *Node, in []Info) (*lstmShape, error) {
	s := &lstmShape{layout: int(n.AttrInt("layout", 0)), hidden: int(n.AttrInt("hidden_size", 0)), threads: n.Threads}
	x, w, r := in[0].Shape, in[1].Shape, in[2].Shape
	if len(x) != 3 {
		return nil, fmt.Errorf("X has shape %v; it needs [seq, batch, input] (or [batch, seq, input] with layout 1)", x)
	}
	s.seq, s.batch, s.input = x[0], x[1], x[2]
	if s.layout == 1 {
		s.seq, s.batch = x[1], x[0]
	}
	switch dir := n.AttrString("direction", "forward"); dir {
	case "forward":
		s.dirs = 1
	case "reverse":
		s.dirs, s.reverse = 1, true
	case "bidirectional":
		s.dirs = 2
	default:
		return nil, fmt.Errorf("direction %q is not one of forward, reverse, bidirectional", dir)
	}
	if len(w) != 3 || w[0] != s.dirs || w[2] != s.input || w[1]%4 != 0 {
		return nil, fmt.Errorf("W has shape %v; it needs [%d, 4*hidden, %d]", w, s.dirs, s.input)
	}
	if s.hidden == 0 {
		s.hidden = w[1] / 4
	}
	h := s.hidden
	if w[1] != 4*h || !tensor.SameShape(r, []int{s.dirs, 4 * h, h}) {
		return nil, fmt.Errorf("W %v and R %v do not match hidden_size %d and %d directions", w, r, h, s.dirs)
	}
	want := map[int][]int{3: {s.dirs, 8 * h}, 4: {s.batch}, 7: {s.dirs, 3 * h}}
	state := []int{s.dirs, s.batch, h}
	if s.layout == 1 {
		state = []int{s.batch, s.dirs, h}
	}
	want[5], want[6] = state, state
	for i, shape := range want {
		if nnOptional(in, i) && tensor.NumElements(in[i].Shape) != tensor.NumElements(shape) {
			return nil, fmt.Errorf("input %d has shape %v; it needs %v", i, in[i].Shape, shape)
		}
	}
	if nnOptional(in, 4) && in[4].DType != tensor.Int32 && in[4].DType != tensor.Int64 {
		return nil, fmt.Errorf("sequence_lens is %v; it needs int32", in[4].DType)
	}
	s.clip = n.AttrFloat("clip", 0)
	s.inputForget = n.AttrInt("input_forget", 0) != 0
	acts, err := lstmActivations(n, s.dirs)
	if err != nil {
		return nil, err
	}
	s.acts = acts
	return s, nil
}

// lstmActivations reads activations (default Sigmoid, Tanh, Tanh per direction) with their
// alpha and beta values, which are consumed in order by the functions that take them.
func lstmActivations(n *Node, dirs int) ([][3]lstmActivation, error) {
	names := n.AttrStrings("activations")
	if names == nil {
		for d := 0; d < dirs; d++ {
			names = append(names, "Sigmoid", "Tanh", "Tanh")
		}
	}
	if len(names) != 3*dirs {
		return nil, fmt.Errorf("activations %v must name 3 functions per direction (%d)", names, 3*dirs)
	}
	alphas, betas := n.AttrFloats("activation_alpha", nil), n.AttrFloats("activation_beta", nil)
	next := func(list *[]float32, def float32) float32 {
		if len(*list) == 0 {
			return def
		}
		v := (*list)[0]
		*list = (*list)[1:]
		return v
	}
	out := make([][3]lstmActivation, dirs)
	for i, name := range names {
		var f lstmActivation
		switch strings.ToLower(name) {
		case "sigmoid":
			f = func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
		case "tanh":
			f = func(x float32) float32 { return float32(math.Tanh(float64(x))) }
		case "relu":
			f = func(x float32) float32 { return max(x, 0) }
		case "affine":
			a, b := next(&alphas, 1), next(&betas, 0)
			f = func(x float32) float32 { return a*x + b }
		case "leakyrelu":
			a := next(&alphas, 0.01)
			f = func(x float32) float32 {
				if x < 0 {
					return a * x
				}
				return x
			}
		case "thresholdedrelu":
			a := next(&alphas, 1)
			f = func(x float32) float32 {
				if x > a {
					return x
				}
				return 0
			}
		case "scaledtanh":
			a, b := next(&alphas, 1), next(&betas, 1)
			f = func(x float32) float32 { return a * float32(math.Tanh(float64(b*x))) }
		case "hardsigmoid":
			a, b := next(&alphas, 0.2), next(&betas, 0.5)
			f = func(x float32) float32 { return min(max(a*x+b, 0), 1) }
		case "elu":
			a := next(&alphas, 1)
			f = func(x float32) float32 {
				if x < 0 {
					return a * float32(math.Expm1(float64(x)))
				}
				return x
			}
		case "softsign":
			f = func(x float32) float32 { return x / (1 + float32(math.Abs(float64(x)))) }
		case "softplus":
			f = func(x float32) float32 { return float32(math.Log1p(math.Exp(float64(x)))) }
		default:
			return nil, fmt.Errorf("activation %q is not supported", name)
		}
		out[i/3][i%3] = f
	}
	return out, nil
}

// run computes the outputs (each may be nil when not requested).
func (s *lstmShape) run(x, w, r, b, seqLens, h0, c0, p *tensor.Tensor, outs []*tensor.Tensor) error {
	h := s.hidden
	xs := x.F32
	if s.layout == 1 {
		xs = lstmSwapLeading(xs, s.batch, s.seq, s.input) // to [seq, batch, input]
	}
	lens := make([]int, s.batch)
	for i := range lens {
		lens[i] = s.seq
	}
	if seqLens != nil {
		for i, v := range seqLens.Int64s() {
			lens[i] = min(int(v), s.seq)
		}
	}
	y := make([]float32, s.seq*s.dirs*s.batch*h) // [seq, dirs, batch, hidden]
	yh := make([]float32, s.dirs*s.batch*h)      // [dirs, batch, hidden]
	yc := make([]float32, s.dirs*s.batch*h)
	for d := 0; d < s.dirs; d++ {
		state := func(t *tensor.Tensor) []float32 {
			if t == nil {
				return make([]float32, s.batch*h)
			}
			v := t.F32
			if s.layout == 1 {
				v = lstmSwapLeading(v, s.batch, s.dirs, h)
			}
			return append([]float32{}, v[d*s.batch*h:(d+1)*s.batch*h]...)
		}
		var bias, peep []float32
		if b != nil {
			bias = b.F32[d*8*h : (d+1)*8*h]
		}
		if p != nil {
			peep = p.F32[d*3*h : (d+1)*3*h]
		}
		reverse := s.reverse || d == 1
		s.direction(d, reverse, xs, w.F32[d*4*h*s.input:(d+1)*4*h*s.input], r.F32[d*4*h*h:(d+1)*4*h*h], bias, peep,
			state(h0), state(c0), lens, y, yh[d*s.batch*h:(d+1)*s.batch*h], yc[d*s.batch*h:(d+1)*s.batch*h])
	}
	if outs[0] != nil {
		if s.layout == 1 { // [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden]
			for t := 0; t < s.seq; t++ {
				for d := 0; d < s.dirs; d++ {
					for bi := 0; bi < s.batch; bi++ {
						copy(outs[0].F32[((bi*s.seq+t)*s.dirs+d)*h:][:h], y[((t*s.dirs+d)*s.batch+bi)*h:][:h])
					}
				}
			}
		} else {
			copy(outs[0].F32, y)
		}
	}
	for i, v := range [][]float32{yh, yc} {
		if outs[i+1] == nil {
			continue
		}
		if s.layout == 1 {
			v = lstmSwapLeading(v, s.dirs, s.batch, h)
		}
		copy(outs[i+1].F32, v)
	}
	return nil
}

// direction runs one direction over the sequence, writing Y[:, d] and the final states.
func (s *lstmShape) direction(d int, reverse bool, x, w, r, bias, peep, hPrev, cPrev []float32, lens []int, y, yh, yc []float32) {
	h, batch := s.hidden, s.batch
	gates4 := 4 * h
	// Input projections of every step at once, with both biases folded in.
	proj := make([]float32, s.seq*batch*gates4)
	gemm.Sgemm(s.threads, false, true, s.seq*batch, gates4, s.input, x, s.input, w, s.input, 0, proj, gates4)
	if bias != nil {
		for row := 0; row < s.seq*batch; row++ {
			g := proj[row*gates4 : (row+1)*gates4]
			for j := range g {
				g[j] += bias[j] + bias[gates4+j]
			}
		}
	}
	f, g, hAct := s.acts[d][0], s.acts[d][1], s.acts[d][2]
	gates := make([]float32, batch*gates4)
	for step := 0; step < s.seq; step++ {
		t := step
		if reverse {
			t = s.seq - 1 - step
		}
		copy(gates, proj[t*batch*gates4:(t+1)*batch*gates4])
		gemm.Sgemm(s.threads, false, true, batch, gates4, h, hPrev, h, r, h, 1, gates, gates4)
		for bi := 0; bi < batch; bi++ {
			out := y[((t*s.dirs+d)*batch+bi)*h : ((t*s.dirs+d)*batch+bi+1)*h]
			// Steps past this sequence's length are skipped (in reverse: before it starts).
			if t >= lens[bi] {
				clear(out)
				continue
			}
			s.cell(gates[bi*gates4:(bi+1)*gates4], peep, hPrev[bi*h:(bi+1)*h], cPrev[bi*h:(bi+1)*h], out, f, g, hAct)
		}
	}
	copy(yh, hPrev)
	copy(yc, cPrev)
}

// cell applies the gates of one batch entry in place: hPrev and cPrev become the new state, and
// out gets the new hidden state.
func (s *lstmShape) cell(gates, peep, hPrev, cPrev, out []float32, f, g, hAct lstmActivation) {
	h := s.hidden
	clip := func(v float32) float32 {
		if s.clip > 0 {
			return min(max(v, -s.clip), s.clip)
		}
		return v
	}
	for j := 0; j < h; j++ {
		gi, gout, gf, gc := gates[j], gates[h+j], gates[2*h+j], gates[3*h+j]
		c := cPrev[j]
		if peep != nil {
			gi += peep[j] * c
			gf += peep[2*h+j] * c
		}
		i := f(clip(gi))
		var ft float32
		if s.inputForget {
			ft = 1 - i
		} else {
			ft = f(clip(gf))
		}
		c = ft*c + i*g(clip(gc))
		if peep != nil {
			gout += peep[h+j] * c
		}
		o := f(clip(gout))
		cPrev[j] = c
		hPrev[j] = o * hAct(c)
		out[j] = hPrev[j]
	}
}

// lstmSwapLeading turns [a, b, rest] into [b, a, rest].
func lstmSwapLeading(v []float32, a, b, rest int) []float32 {
	out := make([]float32, len(v))
	for i := 0; i < a; i++ {
		for j := 0; j < b; j++ {
			copy(out[(j*a+i)*rest:(j*a+i+1)*rest], v[(i*b+j)*rest:(i*b+j+1)*rest])
		}
	}
	return out
}
