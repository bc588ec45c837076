package engine

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/fcconv/fcconv/tensor"
)

// vecTestInputs returns n values that mix ordinary, large, tiny and special values, so every
// length exercises the vector body, the tail and the edge cases.
func vecTestInputs(rng *rand.Rand, n int) []float32 {
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		1e-40, -1e-40, 87.5, -87.5, 88.8, -88.8, 103, -103, 105, -105, 1e30, -1e30, 16.6, -16.6}
	v := make([]float32, n)
	for i := range v {
		switch rng.Intn(4) {
		case 0:
			v[i] = special[rng.Intn(len(special))]
		case 1:
			v[i] = float32(rng.NormFloat64() * 40)
		default:
			v[i] = float32(rng.NormFloat64() * 4)
		}
	}
	return v
}

// closeTo reports whether got is want (float64 reference) within rel relative error or, for
// results in float32's subnormal range, within its smallest normal number.
func closeTo(got float32, want float64, rel float64) bool {
	g := float64(got)
	if math.Abs(want) > math.MaxFloat32 { // beyond float32's range: the float32 result is infinite
		want = math.Copysign(math.Inf(1), want)
	}
	if math.IsNaN(want) || math.IsNaN(g) {
		return math.IsNaN(want) && math.IsNaN(g)
	}
	if math.IsInf(want, 0) || math.IsInf(g, 0) || want == 0 {
		return g == want || math.Abs(g-want) <= 0x1p-126
	}
	return math.Abs(g-want) <= rel*math.Abs(want)+0x1p-126
}

func sigmoidRef(x float64) float64 {
	if x < 0 {
		e := math.Exp(x)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(-x))
}

func clampRef(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }

// unaryCases are the unary kernels with their float64 reference and tolerance.
var unaryCases = []struct {
	name string
	run  func(k *vecKernels, dst, src []float32)
	ref  func(x float64) float64
	rel  float64
	abs  float64 // alpha*x + beta cancels near its zero: float32 has only absolute accuracy there
}{
	{"relu", func(k *vecKernels, d, s []float32) { k.relu(d, s) }, func(x float64) float64 { return clampRef(x, 0, math.Inf(1)) }, 0, 0},
	{"clip", func(k *vecKernels, d, s []float32) { k.clip(d, s, -1.5, 6) }, func(x float64) float64 { return clampRef(x, -1.5, 6) }, 0, 0},
	{"leakyRelu", func(k *vecKernels, d, s []float32) { k.leakyRelu(d, s, 0.1) }, func(x float64) float64 {
		if x < 0 {
			return x * float64(float32(0.1))
		}
		return x
	}, 1e-7, 0},
	{"hardSigmoid", func(k *vecKernels, d, s []float32) { k.hardSigmoid(d, s, 0.2, 0.5) }, func(x float64) float64 {
		return clampRef(float64(float32(0.2))*x+0.5, 0, 1)
	}, 1e-6, 1e-7},
	{"hardSwish", func(k *vecKernels, d, s []float32) { k.hardSwish(d, s, 1.0/6, 0.5) }, func(x float64) float64 {
		return x * clampRef(float64(float32(1.0/6))*x+0.5, 0, 1)
	}, 1e-6, 1e-7},
	{"sigmoid", func(k *vecKernels, d, s []float32) { k.sigmoid(d, s) }, sigmoidRef, 1e-6, 0},
	{"exp", func(k *vecKernels, d, s []float32) { k.exp(d, s) }, math.Exp, 1e-6, 0},
	{"tanh", func(k *vecKernels, d, s []float32) { k.tanh(d, s) }, math.Tanh, 1e-6, 0},
	{"silu", func(k *vecKernels, d, s []float32) { k.silu(d, s) }, func(x float64) float64 { return x * sigmoidRef(x) }, 1e-6, 0},
}

func TestVecKernelsUnary(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	lengths := []int{1000, 4099}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, k := range availableVecKernels() {
		for _, c := range unaryCases {
			for _, n := range lengths {
				src := vecTestInputs(rng, n)
				dst := make([]float32, n+1)
				dst[n] = 42 // must survive: kernels write exactly len(src) values
				c.run(k, dst[:n], src)
				for i, x := range src {
					if want := c.ref(float64(x)); !closeTo(dst[i], want, c.rel) && math.Abs(float64(dst[i])-want) > c.abs {
						t.Fatalf("%s %s (len %d): f(%g) = %g, want %g", k.name, c.name, n, x, dst[i], want)
					}
				}
				if dst[n] != 42 {
					t.Fatalf("%s %s (len %d) wrote past the end", k.name, c.name, n)
				}
				c.run(k, src, src) // in place
			}
		}
	}
}

// TestVecKernelsSigmoidSweep checks sigmoid, exp and tanh over the whole float32 range, one in every
// 6208 bit patterns, both signs.
func TestVecKernelsSigmoidSweep(t *testing.T) {
	src := make([]float32, 0, 1<<26/97*2+2)
	for bits := uint32(0); bits < 0x7f800000; bits += 97 * 64 {
		x := math.Float32frombits(bits)
		src = append(src, x, -x)
	}
	dst := make([]float32, len(src))
	for _, k := range availableVecKernels() {
		for _, c := range unaryCases[5:] {
			c.run(k, dst, src)
			for i, x := range src {
				if want := c.ref(float64(x)); !closeTo(dst[i], want, c.rel) {
					t.Fatalf("%s %s: f(%g) = %g, want %g (rel err %g)", k.name, c.name, x, dst[i], want, math.Abs(float64(dst[i])-want)/want)
				}
			}
		}
	}
}

func TestVecKernelsBinary(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	type binCase struct {
		name string
		run  func(k *vecKernels, dst, a, b []float32)
		ref  func(a, b float32) float32
	}
	cases := []binCase{
		{"add", func(k *vecKernels, d, a, b []float32) { k.add(d, a, b) }, func(a, b float32) float32 { return a + b }},
		{"sub", func(k *vecKernels, d, a, b []float32) { k.sub(d, a, b) }, func(a, b float32) float32 { return a - b }},
		{"mul", func(k *vecKernels, d, a, b []float32) { k.mul(d, a, b) }, func(a, b float32) float32 { return a * b }},
		{"addScalar", func(k *vecKernels, d, a, b []float32) { k.addScalar(d, a, b[0]) }, nil},
		{"mulScalar", func(k *vecKernels, d, a, b []float32) { k.mulScalar(d, a, b[0]) }, nil},
	}
	for _, k := range availableVecKernels() {
		for _, c := range cases {
			for n := 0; n <= 70; n++ {
				a, b := vecTestInputs(rng, n), vecTestInputs(rng, n+1)
				dst := make([]float32, n)
				c.run(k, dst, a, b)
				for i := range a {
					var want float32
					switch c.name {
					case "addScalar":
						want = a[i] + b[0]
					case "mulScalar":
						want = a[i] * b[0]
					default:
						want = c.ref(a[i], b[i])
					}
					if dst[i] != want && !(want != want && dst[i] != dst[i]) {
						t.Fatalf("%s %s (len %d) at %d: got %g, want %g", k.name, c.name, n, i, dst[i], want)
					}
				}
			}
		}
	}
}

// BenchmarkVecKernels times each variant on data in L1/L2 (16K elements) and beyond (800K), with
// preallocated buffers: the loops alone, without the op's allocation or goroutines.
func BenchmarkVecKernels(b *testing.B) {
	for _, n := range []int{16 << 10, 800 << 10} {
		src := vecTestInputs(rand.New(rand.NewSource(3)), n)
		dst := make([]float32, n)
		for _, k := range availableVecKernels() {
			for _, c := range []struct {
				name string
				run  func()
			}{
				{"relu", func() { k.relu(dst, src) }},
				{"sigmoid", func() { k.sigmoid(dst, src) }},
				{"exp", func() { k.exp(dst, src) }},
				{"tanh", func() { k.tanh(dst, src) }},
				{"silu", func() { k.silu(dst, src) }},
				{"hardSwish", func() { k.hardSwish(dst, src, 1.0/6, 0.5) }},
				{"mul", func() { k.mul(dst, src, dst) }},
				{"mulScalar", func() { k.mulScalar(dst, src, 2) }},
			} {
				b.Run(fmt.Sprintf("%s/%s/%d", k.name, c.name, n), func(b *testing.B) {
					b.SetBytes(int64(8 * n))
					for range b.N {
						c.run()
					}
				})
			}
		}
	}
}

// TestVecKernelsSiluMatchesSigmoidMul checks that silu is bit for bit Sigmoid then Mul, so that
// fusing the two changes no result.
func TestVecKernelsSiluMatchesSigmoidMul(t *testing.T) {
	src := vecTestInputs(rand.New(rand.NewSource(4)), 100003)
	silu, sig := make([]float32, len(src)), make([]float32, len(src))
	for _, k := range availableVecKernels() {
		k.silu(silu, src)
		k.sigmoid(sig, src)
		k.mul(sig, sig, src)
		for i := range src {
			if math.Float32bits(silu[i]) != math.Float32bits(sig[i]) && !(silu[i] != silu[i] && sig[i] != sig[i]) {
				t.Fatalf("%s: silu(%g) = %g, sigmoid*x = %g", k.name, src[i], silu[i], sig[i])
			}
		}
	}
}

// TestVecKernelsThroughOps runs the ops under each variant, swapped in through vec, on a tensor
// large enough to be split across goroutines and with per-channel broadcasting, and checks them
// against the Go loops.
func TestVecKernelsThroughOps(t *testing.T) {
	x := randomFloats(7, 1, 24, 61, 59) // 86K elements: split, with ragged chunk ends
	y := randomFloats(8, 1, 24, 61, 59)
	perChannel := randomFloats(9, 1, 24, 1, 1)
	runs := []nodeRun{
		{opset: 14, op: "Relu", inputs: []*tensor.Tensor{x}},
		{opset: 13, op: "Sigmoid", inputs: []*tensor.Tensor{x}},
		{opset: 13, op: "Tanh", inputs: []*tensor.Tensor{x}},
		{opset: 13, op: "Exp", inputs: []*tensor.Tensor{x}},
		{opset: 14, op: "HardSwish", inputs: []*tensor.Tensor{x}},
		{opset: 6, op: "HardSigmoid", inputs: []*tensor.Tensor{x}},
		{opset: 13, op: "Clip", inputs: []*tensor.Tensor{x, floats(nil, -0.5), floats(nil, 0.7)}},
		{opset: 13, op: "Mul", inputs: []*tensor.Tensor{x, y}},
		{opset: 13, op: "Mul", inputs: []*tensor.Tensor{x, perChannel}},
		{opset: 13, op: "Mul", inputs: []*tensor.Tensor{perChannel, x}},
		{opset: 13, op: "Add", inputs: []*tensor.Tensor{x, perChannel}},
		{opset: 13, op: "Sub", inputs: []*tensor.Tensor{x, perChannel}},
		{opset: 13, op: "Sub", inputs: []*tensor.Tensor{perChannel, x}},
		{opset: 13, op: "Sub", inputs: []*tensor.Tensor{x, y}},
		{opset: 16, op: "PRelu", inputs: []*tensor.Tensor{x, perChannel.Reshaped(24, 1, 1)}},
	}
	saved := vec
	defer func() { vec = saved }()
	for _, r := range runs {
		vec = genericVecKernels
		want := r.mustRun(t)
		for _, k := range availableVecKernels() {
			vec = k
			got := r.mustRun(t)
			for i, w := range want.F32 {
				if g := got.F32[i]; !closeTo(g, float64(w), 1e-6) {
					t.Fatalf("%s %s%v: element %d = %g, the Go loop gives %g", k.name, r.op, r.inputs[len(r.inputs)-1].Shape, i, g, w)
				}
			}
		}
	}
}
