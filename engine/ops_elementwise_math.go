package engine

import "math"

// Fast float32 versions of exp, sigmoid, tanh and erf. They compute in float64 with short
// polynomials, so they are about twice as fast as the math package's float64 functions (which
// handle every corner of float64 we do not need) while staying within 3e-7 relative error of them:
// less than the 1e-6 the verifier and the ONNX test suite tolerate, and close to float32 rounding
// (6e-8). Each takes and returns float32: converting inside the function also avoids a false
// dependency between loop iterations that the Go compiler creates when a float64 result is
// converted back in the caller (CVTSS2SD merges into a register holding the previous result),
// which would serialize the loop.

// expCore returns e^x for x in [-708, 709] (no range checks): 2^(x log2 e) split into an integer
// power of two, built in the exponent bits, and e^f for |f| <= ln2/2 by a degree-7 Taylor
// polynomial (relative error below 1e-8).
func expCore(x float64) float64 {
	const (
		log2e = 1.4426950408889634
		ln2   = 0.6931471805599453
		round = 6755399441055744.0 // 1.5 * 2^52: adding it rounds to an integer in the low mantissa bits
	)
	t := x * log2e
	k := t + round
	n := k - round
	f := (t - n) * ln2
	p := 1 + f*(1+f*(1.0/2+f*(1.0/6+f*(1.0/24+f*(1.0/120+f*(1.0/720+f*(1.0/5040)))))))
	pow2 := uint64(int64(math.Float64bits(k))-int64(math.Float64bits(round))+1023) << 52
	return p * math.Float64frombits(pow2)
}

// expClamped is expCore for any x: results beyond float64's range saturate (and are far beyond
// float32's anyway); NaN stays NaN.
func expClamped(x float64) float64 {
	if x < -708 {
		x = -708
	}
	if x > 709 {
		x = 709
	}
	return expCore(x)
}

func exp32(x float32) float32 {
	if !(x > -104) { // e^x underflows float32 (or x is NaN)
		if x != x {
			return x
		}
		return 0
	}
	if x > 89 {
		return float32(math.Inf(1))
	}
	return float32(expCore(float64(x)))
}

func sigmoid32(x float32) float32 {
	if !(x > -104) {
		if x != x {
			return x
		}
		return 0
	}
	if x > 40 { // 1 - e^-40 rounds to 1 in float32
		return 1
	}
	return float32(1 / (1 + expCore(-float64(x))))
}

// tanh32 is tanh. Near 0 it uses expm1(2|x|) by its Taylor series, so that e^(2x) - 1 does not lose
// its leading digits to cancellation.
func tanh32(x float32) float32 {
	a := float64(x)
	neg := a < 0
	if neg {
		a = -a
	}
	var r float64
	switch {
	case a < 0.3:
		y := 2 * a
		m := y * (1 + y*(1.0/2+y*(1.0/6+y*(1.0/24+y*(1.0/120+y*(1.0/720+y*(1.0/5040+y*(1.0/40320+y*(1.0/362880+y*(1.0/3628800))))))))))
		r = m / (m + 2)
	case a < 10:
		r = 1 - 2/(expCore(2*a)+1)
	case a >= 10: // tanh(10) rounds to 1 in float32
		r = 1
	default:
		return x // NaN
	}
	if neg {
		r = -r
	}
	return float32(r)
}

// erf32 is erf: its Maclaurin series below 0.84375 (where relative accuracy matters, erf(x) ~ x),
// then Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, so under 2e-7 relative where erf
// exceeds 0.77).
func erf32(x float32) float32 {
	a := float64(x)
	neg := a < 0
	if neg {
		a = -a
	}
	var r float64
	switch {
	case a < 0.84375:
		z := a * a
		r = a * (1.1283791670955126 + z*(-0.37612638903183754+z*(0.11283791670955126+z*(-0.026866170645131252+
			z*(0.005223977625442188+z*(-0.0008548327023450853+z*(0.00012055332981789664+z*(-1.4925650358406251e-05+
				z*(1.6462114365889246e-06+z*(-1.6365844691234924e-07+z*(1.4807192815879218e-08+z*(-1.2290555301717926e-09))))))))))))
	case a < 4:
		t := 1 / (1 + 0.3275911*a)
		p := t * (0.254829592 + t*(-0.284496736+t*(1.421413741+t*(-1.453152027+t*1.061405429))))
		r = 1 - p*expCore(-a*a)
	case a >= 4: // erf(4) rounds to 1 in float32
		r = 1
	default:
		return x // NaN
	}
	if neg {
		r = -r
	}
	return float32(r)
}
