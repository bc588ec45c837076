//go:build ignore

// act_genkernels writes act_kernels_amd64.s: the AVX-512 and AVX2 loops of the element-wise
// activation and arithmetic kernels. Each loop is one skeleton (load, body, store) and the bodies
// are shared between the widths where the instructions are the same, so a generator is shorter and
// safer than writing 26 loops by hand. Run: go generate (see act_kernels_amd64.go).
package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
)

// A width names the registers of one instruction set: the vector prefix that replaces @ in @0,
// @1, ... (scratch registers), and the constant registers C0..C3 (set up before the loop).
type width struct {
	suffix string // function name suffix
	reg    string // "Z" or "Y"
	lanes  int
	consts []string
}

var (
	avx512 = width{"AVX512", "Z", 16, []string{"Z16", "Z17", "Z18", "Z19"}}
	avx2   = width{"AVX2", "Y", 8, []string{"Y12", "Y13", "Y14", "Y15"}}
)

func (w width) expand(code string) string {
	for i, c := range w.consts {
		code = strings.ReplaceAll(code, fmt.Sprintf("C%d", i), c)
	}
	half := map[string]string{"Z": "Y", "Y": "X"}[w.reg]
	return strings.ReplaceAll(strings.ReplaceAll(code, "@", w.reg), "&", half) // &n: the lower half of @n
}

// broadcastConst sets register reg (a vector register or C0..C3) to bits in every lane. AVX2 has
// no broadcast from a general register, so it goes through X0, a scratch register.
func (w width) broadcastConst(reg string, bits uint32) string {
	if w.reg == "Z" {
		return fmt.Sprintf("\tMOVL $0x%08x, AX\n\tVPBROADCASTD AX, %s\n", bits, reg)
	}
	return fmt.Sprintf("\tMOVL $0x%08x, AX\n\tMOVQ AX, X0\n\tVPBROADCASTD X0, %s\n", bits, reg)
}

func f32bits(v float64) uint32 { return math.Float32bits(float32(v)) }

// A kernel is one function: its Go arguments after the pointers and n, the setup of its constant
// registers and the body that maps @0 (and @1, the second operand of binary kernels) into @0.
type kernel struct {
	name   string
	binary bool                 // dst, a, b pointers; else dst, src
	args   string               // Go-declared extra float32 args, for the comment
	frame  int                  // argument frame size
	setup  func(w width) string // constant registers
	body   func(w width) string // @0 = f(@0[, @1])
}

var out bytes.Buffer

func emit(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

func genKernel(k kernel, w width) {
	emit("\n// func %s%s(dst, %s *float32, n int%s)\n", k.name, w.suffix, map[bool]string{false: "src", true: "a, b"}[k.binary], k.args)
	if w.reg == "Y" {
		emit("// n must be a multiple of 8.\n")
	}
	emit("TEXT ·%s%s(SB), NOSPLIT, $0-%d\n", k.name, w.suffix, k.frame)
	emit("\tMOVQ dst+0(FP), DI\n")
	if k.binary {
		emit("\tMOVQ a+8(FP), SI\n\tMOVQ b+16(FP), DX\n\tMOVQ n+24(FP), CX\n")
	} else {
		emit("\tMOVQ src+8(FP), SI\n\tMOVQ n+16(FP), CX\n")
	}
	if k.setup != nil {
		emit("%s", w.expand(k.setup(w)))
	}
	load := func(mod, mask string) string {
		s := fmt.Sprintf("\tVMOVUPS%s (SI), %s@0\n", mod, mask)
		if k.binary {
			s += fmt.Sprintf("\tVMOVUPS%s (DX), %s@1\n", mod, mask)
		}
		return w.expand(s)
	}
	bytes := 4 * w.lanes
	emit("\nloop:\n\tCMPQ CX, $%d\n\tJLT tail\n", w.lanes)
	emit("%s%s", load("", ""), w.expand(k.body(w)))
	emit("%s", w.expand("\tVMOVUPS @0, (DI)\n"))
	emit("\tADDQ $%d, SI\n\tADDQ $%d, DI\n", bytes, bytes)
	if k.binary {
		emit("\tADDQ $%d, DX\n", bytes)
	}
	emit("\tSUBQ $%d, CX\n\tJMP loop\n\ntail:\n", w.lanes)
	if w.reg == "Z" {
		// The last n%16 elements: a mask of n low bits loads zeros beyond the end and stores nothing there.
		emit("\tTESTQ CX, CX\n\tJZ done\n\tMOVL $1, AX\n\tSHLL CX, AX\n\tDECL AX\n\tKMOVW AX, K1\n")
		emit("%s%s", load(".Z", "K1, "), w.expand(k.body(w)))
		emit("\tVMOVUPS Z0, K1, (DI)\n")
	}
	emit("\ndone:\n\tVZEROUPPER\n\tRET\n")
}

func zero(w width) string { return "\tVXORPS C0, C0, C0\n" }

func floatArg(name string, off int, reg string) string {
	return fmt.Sprintf("\tVBROADCASTSS %s+%d(FP), %s\n", name, off, reg)
}

// The max/min operand order matters: VMAXPS/VMINPS return their second source (the first Go
// operand) when either is NaN, so the data goes first and NaN propagates, as numpy does.
var kernels = []kernel{
	{name: "relu", frame: 24, setup: zero, body: func(w width) string { return "\tVMAXPS @0, C0, @0\n" }},
	{name: "clip", args: ", lo, hi float32", frame: 32,
		setup: func(w width) string { return floatArg("lo", 24, "C0") + floatArg("hi", 28, "C1") },
		body:  func(w width) string { return "\tVMAXPS @0, C0, @0\n\tVMINPS @0, C1, @0\n" }},
	{name: "leakyRelu", args: ", alpha float32", frame: 28,
		setup: func(w width) string { return zero(w) + floatArg("alpha", 24, "C1") },
		// max(x, 0) + alpha*min(x, 0): one of the two is 0, so the FMA rounds like the plain sum.
		body: func(w width) string { return "\tVMINPS @0, C0, @1\n\tVMAXPS @0, C0, @0\n\tVFMADD231PS C1, @1, @0\n" }},
	{name: "hardSigmoid", args: ", alpha, beta float32", frame: 32,
		setup: hardSetup,
		body:  func(w width) string { return hardSigmoidBody }},
	{name: "hardSwish", args: ", alpha, beta float32", frame: 32,
		setup: hardSetup,
		body: func(w width) string {
			return "\tVMOVAPS @0, @1\n" + hardSigmoidBody + "\tVMULPS @1, @0, @0\n"
		}},
	{name: "add", binary: true, frame: 32, body: func(w width) string { return "\tVADDPS @1, @0, @0\n" }},
	{name: "sub", binary: true, frame: 32, body: func(w width) string { return "\tVSUBPS @1, @0, @0\n" }},
	{name: "mul", binary: true, frame: 32, body: func(w width) string { return "\tVMULPS @1, @0, @0\n" }},
	{name: "addScalar", args: ", s float32", frame: 28, setup: func(w width) string { return floatArg("s", 24, "C0") },
		body: func(w width) string { return "\tVADDPS C0, @0, @0\n" }},
	{name: "mulScalar", args: ", s float32", frame: 28, setup: func(w width) string { return floatArg("s", 24, "C0") },
		body: func(w width) string { return "\tVMULPS C0, @0, @0\n" }},
}

// hardSigmoidBody rounds alpha*x and the sum separately, not with an FMA, so that it matches the Go
// loop and the Conv-fused activation bit for bit.
const hardSigmoidBody = "\tVMULPS C1, @0, @0\n\tVADDPS C2, @0, @0\n\tVMAXPS @0, C0, @0\n\tVMINPS @0, C3, @0\n"

func hardSetup(w width) string {
	return zero(w) + floatArg("alpha", 24, "C1") + floatArg("beta", 28, "C2") + w.broadcastConst("C3", f32bits(1))
}

// Sigmoid and Exp compute in float64, four or eight lanes at a time, and round once at the end:
// their results are then the float64 function's rounded to float32 (bar 1e-8 relative error
// before rounding), as the Go loops give, and the float64 exponent range covers float32's
// subnormal results, so no range special cases are needed beyond a clamp.
//
// e^a = 2^k e^f with k = round(a log2e), f = a - k ln2 (ln2 in two parts, so that f is exact) and
// e^f by its degree-8 Taylor polynomial (|f| <= ln2/2: error 2e-10). k is rounded by adding
// 1.5*2^52, which leaves k in the low mantissa bits; an integer subtract and shift turn those into
// the exponent bits of 2^k.
type doubleKernel struct {
	name  string
	expm1 bool                 // expCore leaves e^a - 1, not e^a, in @3
	clamp func(w width) string // sets @2 = a, the exponent, from x in @1
	tail  func(w width) string // sets @1 from x in @1 and e = e^a in @3
}

var doubleKernels = []doubleKernel{
	{name: "sigmoid", clamp: sigmoidClamp, tail: func(w width) string { return sigmoidTail(w, "@1") }},
	{name: "silu", clamp: sigmoidClamp,
		// x * sigmoid(x), the sigmoid rounded to float32 first (there and back) so that the result
		// is the float32 product a separate Sigmoid and Mul give, bit for bit: the product of two
		// float32 values is exact in float64, leaving one rounding, the final conversion's.
		tail: func(w width) string {
			cvt := "VCVTPD2PS" + map[string]string{"Z": "", "Y": "Y"}[w.reg]
			return sigmoidTail(w, "@5") + "\t" + cvt + " @5, &5\n\tVCVTPS2PD &5, @5\n\tVMULPD @5, @1, @1\n"
		}},
	{name: "exp",
		// Beyond [-110, 89] e^x is 0 or +Inf in float32 anyway; the conversion rounds to them.
		clamp: func(w width) string {
			return "\tVMAXPD @1, " + w.dconst("low") + ", @2\n\tVMINPD @2, " + w.dconst("high") + ", @2\n"
		},
		tail: func(w width) string { return "\tVMOVAPD @3, @1\n" }},
	{name: "tanh", expm1: true,
		// tanh|x| = -m/(2+m) with m = e^a - 1, a = -2|x|: m in (-1, 0] has no cancellation, even
		// for tiny x, because expCore gives e^a - 1 directly.
		clamp: func(w width) string {
			return "\tVORPD " + w.dconst("sign") + ", @1, @2\n\tVADDPD @2, @2, @2\n\tVMAXPD @2, " + w.dconst("low") + ", @2\n"
		},
		tail: func(w width) string {
			one, sign := w.dconst("one"), w.dconst("sign")
			return "\tVADDPD " + one + ", @3, @4\n\tVADDPD " + one + ", @4, @4\n\tVDIVPD @4, @3, @3\n" +
				"\tVANDNPD @3, " + sign + ", @3\n\tVANDPD " + sign + ", @1, @4\n\tVORPD @4, @3, @1\n"
		}},
}

// sigmoidClamp sets a = -|x|: e^-|x| cannot overflow, and 1/(1+e) for x >= 0, e/(1+e) for x < 0
// have no cancellation.
func sigmoidClamp(w width) string {
	return "\tVORPD " + w.dconst("sign") + ", @1, @2\n\tVMAXPD @2, " + w.dconst("low") + ", @2\n"
}

// sigmoidTail sets dst to the sigmoid from x in @1 and e in @3.
func sigmoidTail(w width, dst string) string {
	s := "\tVADDPD " + w.dconst("one") + ", @3, @4\n"
	if w.reg == "Z" {
		s += "\tVPMOVQ2M @1, K2\n\tVMOVAPD Z23, @5\n\tVMOVAPD @3, K2, @5\n"
	} else {
		s += "\tVBLENDVPD @1, @3, Y14, @5\n"
	}
	return s + "\tVDIVPD @4, @5, " + dst + "\n"
}

// taylor are the coefficients of e^f from f^8 down to f^2 (f^1 and f^0 use "one").
var taylor = []float64{1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2}

const magic = 1.5 * (1 << 52)

// doubleConsts are the float64 constants in table order; AVX-512 keeps them in Z16 on.
var doubleConsts = []struct {
	name string
	bits uint64
}{
	{"sign", 1 << 63}, {"low", math.Float64bits(-110)}, {"high", math.Float64bits(89)},
	{"log2e", math.Float64bits(math.Log2E)}, {"magic", math.Float64bits(magic)},
	{"ln2hi", math.Float64bits(0.693145751953125)}, {"ln2lo", math.Float64bits(1.42860682030941723212e-6)},
	{"one", math.Float64bits(1)}, {"bias", math.Float64bits(magic) - 1023},
	{"c8", math.Float64bits(taylor[0])}, {"c7", math.Float64bits(taylor[1])}, {"c6", math.Float64bits(taylor[2])},
	{"c5", math.Float64bits(taylor[3])}, {"c4", math.Float64bits(taylor[4])}, {"c3", math.Float64bits(taylor[5])},
	{"c2", math.Float64bits(taylor[6])},
}

// dconst is the operand of a float64 constant: a register on AVX-512; on AVX2 (16 registers) a
// memory operand, except those VMAXPD/VMINPD, VBLENDVPD and VANDNPD need in registers (a memory
// operand would be the NaN-winning second source, or is not allowed).
func (w width) dconst(name string) string {
	if w.reg == "Y" {
		switch name {
		case "low":
			return "Y15"
		case "one":
			return "Y14"
		case "high":
			return "Y13"
		case "sign":
			return "Y12"
		}
		return "·actD" + name + "(SB)"
	}
	for i, c := range doubleConsts {
		if c.name == name {
			return fmt.Sprintf("Z%d", 16+i)
		}
	}
	panic(name)
}

// expCore sets @3 = e^@2 (@2 in [-110, 89]), or e^@2 - 1 with expm1, using @4 and @5.
func expCore(w width, expm1 bool) string {
	d := w.dconst
	s := "\tVMULPD " + d("log2e") + ", @2, @3\n"
	s += "\tVADDPD " + d("magic") + ", @3, @4\n"
	s += "\tVSUBPD " + d("magic") + ", @4, @3\n"
	s += "\tVFNMADD231PD " + d("ln2hi") + ", @3, @2\n"
	s += "\tVFNMADD231PD " + d("ln2lo") + ", @3, @2\n"
	if w.reg == "Z" {
		s += "\tVMOVAPD Z25, @3\n"
	} else {
		s += "\tVMOVUPD ·actDc8(SB), @3\n"
	}
	for _, c := range []string{"c7", "c6", "c5", "c4", "c3", "c2", "one"} {
		s += "\tVFMADD213PD " + d(c) + ", @2, @3\n"
	}
	s += "\tVPSUBQ " + d("bias") + ", @4, @4\n\tVPSLLQ $52, @4, @4\n"
	if !expm1 {
		return s + "\tVFMADD213PD " + d("one") + ", @2, @3\n\tVMULPD @4, @3, @3\n"
	}
	// e^f - 1 = q = f(1 + f/2 + ...), and e^a - 1 = 2^k q + (2^k - 1): exact for k = 0, where
	// e^a is near 1.
	return s + "\tVMULPD @2, @3, @3\n\tVSUBPD " + d("one") + ", @4, @5\n\tVFMADD213PD @5, @4, @3\n"
}

func genDoubleKernel(k doubleKernel, w width) {
	lanes := w.lanes / 2
	half := map[string]string{"Z": "Y", "Y": "X"}[w.reg]
	emit("\n// func %s%s(dst, src *float32, n int)\n", k.name, w.suffix)
	if w.reg == "Y" {
		emit("// n must be a multiple of 4.\n")
	}
	emit("TEXT ·%s%s(SB), NOSPLIT, $0-24\n\tMOVQ dst+0(FP), DI\n\tMOVQ src+8(FP), SI\n\tMOVQ n+16(FP), CX\n", k.name, w.suffix)
	if w.reg == "Z" {
		for i, c := range doubleConsts {
			emit("\tVBROADCASTSD ·actD%s(SB), Z%d\n", c.name, 16+i)
		}
	} else {
		emit("\tVMOVUPD ·actDlow(SB), Y15\n\tVMOVUPD ·actDone(SB), Y14\n\tVMOVUPD ·actDhigh(SB), Y13\n\tVMOVUPD ·actDsign(SB), Y12\n")
	}
	code := k.clamp(w) + expCore(w, k.expm1) + k.tail(w)
	body := w.expand(code)
	cvt := "VCVTPD2PS" + map[string]string{"Z": "", "Y": "Y"}[w.reg]
	// Two vectors per iteration, their instructions interleaved: the exp is a long dependency chain.
	emit("\nloop2:\n\tCMPQ CX, $%d\n\tJLT loop\n", 2*lanes)
	emit("\tVCVTPS2PD (SI), %s1\n\tVCVTPS2PD %d(SI), %s6\n", w.reg, 4*lanes, w.reg)
	emit("%s", interleave(body, w.expand(secondVector(code))))
	emit("\t%s %s1, %s1\n\tVMOVUPS %s1, (DI)\n", cvt, w.reg, half, half)
	emit("\t%s %s6, %s6\n\tVMOVUPS %s6, %d(DI)\n", cvt, w.reg, half, half, 4*lanes)
	emit("\tADDQ $%d, SI\n\tADDQ $%d, DI\n\tSUBQ $%d, CX\n\tJMP loop2\n", 8*lanes, 8*lanes, 2*lanes)
	emit("\nloop:\n\tCMPQ CX, $%d\n\tJLT tail\n", lanes)
	emit("%s", w.expand("\tVCVTPS2PD (SI), @1\n")+body)
	emit("\t%s %s1, %s1\n\tVMOVUPS %s1, (DI)\n", cvt, w.reg, half, half)
	emit("\tADDQ $%d, SI\n\tADDQ $%d, DI\n\tSUBQ $%d, CX\n\tJMP loop\n\ntail:\n", 4*lanes, 4*lanes, lanes)
	if w.reg == "Z" {
		// The last n%8 elements, under a mask of n low bits.
		emit("\tTESTQ CX, CX\n\tJZ done\n\tMOVL $1, AX\n\tSHLL CX, AX\n\tDECL AX\n\tKMOVW AX, K1\n")
		emit("\tVMOVUPS.Z (SI), K1, Y1\n\tVCVTPS2PD Y1, Z1\n%s", body)
		emit("\tVCVTPD2PS Z1, Y1\n\tVMOVUPS Y1, K1, (DI)\n")
	}
	emit("\ndone:\n\tVZEROUPPER\n\tRET\n")
}

// secondVector renames the scratch registers @1..@5 (and their halves &1..&5) to @6..@10 and the
// mask K2 to K3.
func secondVector(code string) string {
	for i := 5; i >= 1; i-- {
		for _, p := range []string{"@", "&"} {
			code = strings.ReplaceAll(code, fmt.Sprintf("%s%d,", p, i), fmt.Sprintf("%s%d,", p, i+5))
			code = strings.ReplaceAll(code, fmt.Sprintf("%s%d\n", p, i), fmt.Sprintf("%s%d\n", p, i+5))
		}
	}
	return strings.ReplaceAll(code, "K2", "K3")
}

// interleave alternates the lines of two instruction sequences of the same length.
func interleave(a, b string) string {
	la, lb := strings.Split(strings.TrimSuffix(a, "\n"), "\n"), strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	var s strings.Builder
	for i := range la {
		s.WriteString(la[i] + "\n" + lb[i] + "\n")
	}
	return s.String()
}

// The float32 Sigmoid and SiLU of AVX-512, 16 lanes per vector. With e = e^-|x| (which cannot
// overflow), sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0, neither with cancellation;
// SiLU is x times that same float32 sigmoid, so a fused SiLU is bit for bit Sigmoid then Mul.
// e^a = 2^k e^f with k = round(a log2e), f = a - k ln2 (ln2 in two parts, Cody and Waite, so f is
// exact) and e^f by its degree-7 Taylor polynomial (|f| <= ln2/2: truncation error 5e-9, so the
// result is within a few float32 roundings, about 3e-7 relative). VSCALEFPS applies 2^k, subnormal
// results included. A float64 version (the AVX2 one) needs a VDIVPD per 8 lanes, which costs
// several times this whole loop.
var singleConsts = []struct {
	name string
	bits uint32
}{
	{"sign", 1 << 31}, {"low", f32bits(-104)}, {"log2e", f32bits(math.Log2E)},
	{"ln2hi", f32bits(0.693359375)}, {"ln2lo", f32bits(-2.12194440e-4)}, {"one", f32bits(1)},
	{"c7", f32bits(1.0 / 5040)}, {"c6", f32bits(1.0 / 720)}, {"c5", f32bits(1.0 / 120)},
	{"c4", f32bits(1.0 / 24)}, {"c3", f32bits(1.0 / 6)}, {"c2", f32bits(1.0 / 2)},
}

// sconst is the register holding float32 constant name (Z16 on).
func sconst(name string) string {
	for i, c := range singleConsts {
		if c.name == name {
			return fmt.Sprintf("Z%d", 16+i)
		}
	}
	panic(name)
}

// singleSigmoidBody maps x in @1 to sigmoid(x) (or SiLU) in @1, using @2..@5 and K2.
func singleSigmoidBody(silu bool) string {
	c := sconst
	s := "\tVORPS " + c("sign") + ", @1, @2\n"         // a = -|x|
	s += "\tVMAXPS @2, " + c("low") + ", @2\n"         // a >= -104 (e^a is 0 below); NaN stays
	s += "\tVMULPS " + c("log2e") + ", @2, @3\n"       // a log2e
	s += "\tVRNDSCALEPS $0, @3, @3\n"                  // k
	s += "\tVFNMADD231PS " + c("ln2hi") + ", @3, @2\n" // f = a - k ln2
	s += "\tVFNMADD231PS " + c("ln2lo") + ", @3, @2\n"
	s += "\tVMOVAPS " + c("c7") + ", @4\n"
	for _, k := range []string{"c6", "c5", "c4", "c3", "c2", "one", "one"} {
		s += "\tVFMADD213PS " + c(k) + ", @2, @4\n" // e^f by Horner
	}
	s += "\tVSCALEFPS @3, @4, @4\n"                                                  // e = 2^k e^f
	s += "\tVADDPS " + c("one") + ", @4, @5\n"                                       // 1 + e
	s += "\tVPMOVD2M @1, K2\n\tVMOVAPS " + c("one") + ", @3\n\tVMOVAPS @4, K2, @3\n" // 1, or e where x < 0
	// 1/(1+e) by a 14-bit reciprocal and a Newton step (28 bits): VDIVPS would take as long as
	// the rest of the loop. 1+e is in [1, 2] (or NaN), so there are no special cases.
	s += "\tVRCP14PS @5, @2\n\tVFNMADD213PS " + c("one") + ", @2, @5\n\tVFMADD213PS @2, @2, @5\n"
	s += "\tVMULPS @5, @3, @3\n"
	if silu {
		return s + "\tVMULPS @3, @1, @1\n"
	}
	return s + "\tVMOVAPS @3, @1\n"
}

func genSingleSigmoid(name string) {
	w := avx512
	emit("\n// func %sAVX512(dst, src *float32, n int)\n", name)
	emit("TEXT ·%sAVX512(SB), NOSPLIT, $0-24\n\tMOVQ dst+0(FP), DI\n\tMOVQ src+8(FP), SI\n\tMOVQ n+16(FP), CX\n", name)
	for i, c := range singleConsts {
		emit("\tVBROADCASTSS ·actS%s(SB), Z%d\n", c.name, 16+i)
	}
	code := singleSigmoidBody(name == "silu")
	body := w.expand(code)
	// Two vectors per iteration, their instructions interleaved: the exp is a long dependency chain.
	emit("\nloop2:\n\tCMPQ CX, $32\n\tJLT loop\n\tVMOVUPS (SI), Z1\n\tVMOVUPS 64(SI), Z6\n")
	emit("%s", interleave(body, w.expand(secondVector(code))))
	emit("\tVMOVUPS Z1, (DI)\n\tVMOVUPS Z6, 64(DI)\n\tADDQ $128, SI\n\tADDQ $128, DI\n\tSUBQ $32, CX\n\tJMP loop2\n")
	emit("\nloop:\n\tCMPQ CX, $16\n\tJLT tail\n\tVMOVUPS (SI), Z1\n%s", body)
	emit("\tVMOVUPS Z1, (DI)\n\tADDQ $64, SI\n\tADDQ $64, DI\n\tSUBQ $16, CX\n\tJMP loop\n")
	// The last n%16 elements, under a mask of n low bits.
	emit("\ntail:\n\tTESTQ CX, CX\n\tJZ done\n\tMOVL $1, AX\n\tSHLL CX, AX\n\tDECL AX\n\tKMOVW AX, K1\n")
	emit("\tVMOVUPS.Z (SI), K1, Z1\n%s\tVMOVUPS Z1, K1, (DI)\n", body)
	emit("\ndone:\n\tVZEROUPPER\n\tRET\n")
}

func singleConstTable() {
	emit("\n// The float32 constants of the AVX-512 Sigmoid and SiLU.\n")
	for _, c := range singleConsts {
		emit("DATA ·actS%s+0(SB)/4, $0x%08x\nGLOBL ·actS%s(SB), RODATA|NOPTR, $4\n", c.name, c.bits, c.name)
	}
}

func constTable() {
	emit("\n// The float64 constants of Sigmoid and Exp, four lanes each.\n")
	for _, c := range doubleConsts {
		for i := 0; i < 4; i++ {
			emit("DATA ·actD%s+%d(SB)/8, $0x%016x\n", c.name, 8*i, c.bits)
		}
		emit("GLOBL ·actD%s(SB), RODATA|NOPTR, $32\n", c.name)
	}
}

// AVX-512 computes Sigmoid and SiLU in float32 (singleSigmoid below); AVX2, without VSCALEFPS
// to build 2^k for subnormal results, keeps the float64 route.
func avx512Single(name string) bool { return name == "sigmoid" || name == "silu" }

func main() {
	emit("// Code generated by act_genkernels.go; DO NOT EDIT.\n\n#include \"textflag.h\"\n")
	for _, w := range []width{avx512, avx2} {
		for _, k := range kernels {
			genKernel(k, w)
		}
		for _, k := range doubleKernels {
			if w.reg == "Z" && avx512Single(k.name) {
				genSingleSigmoid(k.name)
				continue
			}
			genDoubleKernel(k, w)
		}
	}
	constTable()
	singleConstTable()
	if err := os.WriteFile("act_kernels_amd64.s", out.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
