//go:build ignore

// act_genkernels writes act_kernels_amd64.s: the AVX-512 and AVX2 loops of the element-wise
// activation and arithmetic kernels. Each loop is one skeleton (load, body, store) and the bodies
// are shared between the widths where the instructions are the same, so a generator is shorter and
// safer than writing 22 loops by hand. Run: go run act_genkernels.go
package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"
)

// A width names the registers of one instruction set: vector prefix, scratch registers @0..@5,
// and constant registers C0..C3 (set up before the loop).
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
	return strings.ReplaceAll(code, "@", w.reg)
}

// broadcastConst sets register reg to bits in every lane.
func (w width) broadcastConst(reg string, bits uint32) string {
	if w.reg == "Z" {
		return fmt.Sprintf("\tMOVL $0x%08x, AX\n\tVPBROADCASTD AX, %s\n", bits, reg)
	}
	x := "X" + reg[1:]
	return fmt.Sprintf("\tMOVL $0x%08x, AX\n\tMOVQ AX, %s\n\tVPBROADCASTD %s, %s\n", bits, x, x, reg)
}

func f32bits(v float64) uint32 { return math.Float32bits(float32(v)) }

// A kernel is one function: its Go arguments after the pointers and n, the setup of its constant
// registers and the body that maps @0 (and @1, the second operand of binary kernels) into @0.
type kernel struct {
	name   string
	binary bool                   // dst, a, b pointers; else dst, src
	args   string                 // Go-declared extra float32 args, for the comment
	frame  int                    // argument frame size
	setup  func(w width) string   // constant registers
	body   func(w width) string   // @0 = f(@0[, @1])
	only   map[string]bool        // widths it exists for (nil: both)
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
		body:  func(w width) string { return "\tVFMADD213PS C2, C1, @0\n\tVMAXPS @0, C0, @0\n\tVMINPS @0, C3, @0\n" }},
	{name: "hardSwish", args: ", alpha, beta float32", frame: 32,
		setup: hardSetup,
		body: func(w width) string {
			return "\tVMOVAPS @0, @1\n\tVFMADD213PS C2, C1, @0\n\tVMAXPS @0, C0, @0\n\tVMINPS @0, C3, @0\n\tVMULPS @1, @0, @0\n"
		}},
	{name: "add", binary: true, frame: 32, body: func(w width) string { return "\tVADDPS @1, @0, @0\n" }},
	{name: "sub", binary: true, frame: 32, body: func(w width) string { return "\tVSUBPS @1, @0, @0\n" }},
	{name: "mul", binary: true, frame: 32, body: func(w width) string { return "\tVMULPS @1, @0, @0\n" }},
	{name: "addScalar", args: ", s float32", frame: 28, setup: func(w width) string { return floatArg("s", 24, "C0") },
		body: func(w width) string { return "\tVADDPS C0, @0, @0\n" }},
	{name: "mulScalar", args: ", s float32", frame: 28, setup: func(w width) string { return floatArg("s", 24, "C0") },
		body: func(w width) string { return "\tVMULPS C0, @0, @0\n" }},
	{name: "sigmoid", frame: 24, setup: sigmoidSetup, body: sigmoidBody},
	{name: "exp", frame: 24, setup: sigmoidSetup, body: expBody, only: map[string]bool{"AVX512": true}},
}

func hardSetup(w width) string {
	return zero(w) + floatArg("alpha", 24, "C1") + floatArg("beta", 28, "C2") + w.broadcastConst("C3", f32bits(1))
}

// The vector exp is Cephes' expf: e^x = 2^k e^f with k = round(x log2e) and f = x - k ln2 (ln2 in
// two parts so that f is exact), e^f = 1 + f + f^2 P(f) with a degree-5 minimax P (relative error
// about 1e-7 for |f| <= ln2/2).
var expPoly = []float64{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}

const (
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
)

// AVX-512 keeps every constant in a register (Z16..Z28); AVX2 has only 16 registers, so it reads
// most from memory (the constant table at the end of the file) and keeps in registers only those
// VMAXPS compares with (a memory operand would be the NaN-winning second source).
func sigmoidSetup(w width) string {
	if w.reg == "Y" {
		return w.broadcastConst("Y15", f32bits(expLowAVX2)) + w.broadcastConst("Y14", f32bits(1))
	}
	s := w.broadcastConst("Z16", 0x80000000) + w.broadcastConst("Z17", f32bits(-104)) + w.broadcastConst("Z18", f32bits(89)) +
		w.broadcastConst("Z19", f32bits(log2e)) + w.broadcastConst("Z20", f32bits(ln2Hi)) + w.broadcastConst("Z21", f32bits(ln2Lo)) +
		w.broadcastConst("Z22", f32bits(1))
	for i, c := range expPoly {
		s += w.broadcastConst(fmt.Sprintf("Z%d", 23+i), f32bits(c))
	}
	return s
}

// expLowAVX2 is where e^x leaves float32's normal range: the AVX2 exp builds 2^k in the exponent
// bits, which cannot express subnormals, so it clamps here and flushes results below to 0 (an
// absolute error under 1.2e-38).
const expLowAVX2 = -87.33

// expCore512 sets Z1 = e^Z1 for Z1 in [-104, 89]; VSCALEFPS does the 2^k, overflow and subnormals.
const expCore512 = `	VMULPS Z19, Z1, Z2
	VRNDSCALEPS $0, Z2, Z2
	VFNMADD231PS Z20, Z2, Z1
	VFNMADD231PS Z21, Z2, Z1
	VMULPS Z1, Z1, Z3
	VMOVAPS Z23, Z4
	VFMADD213PS Z24, Z1, Z4
	VFMADD213PS Z25, Z1, Z4
	VFMADD213PS Z26, Z1, Z4
	VFMADD213PS Z27, Z1, Z4
	VFMADD213PS Z28, Z1, Z4
	VFMADD213PS Z1, Z3, Z4
	VADDPS Z22, Z4, Z4
	VSCALEFPS Z2, Z4, Z1
`

// expBody clamps x to [-104, 89], beyond which e^x is 0 or +Inf in float32 anyway.
func expBody(w width) string {
	return "\tVMAXPS Z0, Z17, Z1\n\tVMINPS Z1, Z18, Z1\n" + expCore512 + "\tVMOVAPS Z1, Z0\n"
}

// sigmoidBody computes e = e^-|x|, which cannot overflow, then 1/(1+e) for x >= 0 and e/(1+e) for
// x < 0: no cancellation on either side, one rounding in the division.
func sigmoidBody(w width) string {
	if w.reg == "Z" {
		return "\tVPORD Z16, Z0, Z1\n\tVMAXPS Z1, Z17, Z1\n" + expCore512 + `	VADDPS Z22, Z1, Z2
	VPMOVD2M Z0, K2
	VMOVAPS Z22, Z3
	VMOVAPS Z1, K2, Z3
	VDIVPS Z2, Z3, Z0
`
	}
	return `	VORPS ·actSignBit(SB), Y0, Y1
	VCMPPS $1, Y15, Y1, Y5
	VMAXPS Y1, Y15, Y1
	VMULPS ·actLog2e(SB), Y1, Y2
	VROUNDPS $0, Y2, Y2
	VFNMADD231PS ·actLn2Hi(SB), Y2, Y1
	VFNMADD231PS ·actLn2Lo(SB), Y2, Y1
	VMULPS Y1, Y1, Y3
	VMOVUPS ·actExpP0(SB), Y4
	VFMADD213PS ·actExpP1(SB), Y1, Y4
	VFMADD213PS ·actExpP2(SB), Y1, Y4
	VFMADD213PS ·actExpP3(SB), Y1, Y4
	VFMADD213PS ·actExpP4(SB), Y1, Y4
	VFMADD213PS ·actExpP5(SB), Y1, Y4
	VFMADD213PS Y1, Y3, Y4
	VADDPS Y14, Y4, Y4
	VCVTPS2DQ Y2, Y2
	VPADDD ·actExpBias(SB), Y2, Y2
	VPSLLD $23, Y2, Y2
	VMULPS Y2, Y4, Y1
	VANDNPS Y1, Y5, Y1
	VADDPS Y14, Y1, Y2
	VBLENDVPS Y0, Y1, Y14, Y3
	VDIVPS Y2, Y3, Y0
`
}

func constTable() {
	table := []struct {
		name string
		bits uint32
	}{{"actSignBit", 0x80000000}, {"actLog2e", f32bits(log2e)}, {"actLn2Hi", f32bits(ln2Hi)}, {"actLn2Lo", f32bits(ln2Lo)}, {"actExpBias", 127}}
	for i, c := range expPoly {
		table = append(table, struct {
			name string
			bits uint32
		}{fmt.Sprintf("actExpP%d", i), f32bits(c)})
	}
	emit("\n// Constants of the AVX2 exp, eight lanes each.\n")
	for _, c := range table {
		for i := 0; i < 8; i++ {
			emit("DATA ·%s+%d(SB)/4, $0x%08x\n", c.name, 4*i, c.bits)
		}
		emit("GLOBL ·%s(SB), RODATA|NOPTR, $32\n", c.name)
	}
}

func main() {
	emit("// Code generated by act_genkernels.go; DO NOT EDIT.\n\n#include \"textflag.h\"\n")
	for _, w := range []width{avx512, avx2} {
		for _, k := range kernels {
			if k.only == nil || k.only[w.suffix] {
				genKernel(k, w)
			}
		}
	}
	constTable()
	if err := os.WriteFile("act_kernels_amd64.s", out.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
