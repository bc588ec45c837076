//go:build ignore

// dw_genkernels writes ops_conv_depthwise_direct_amd64.s: the AVX-512 direct and narrow depthwise
// kernels (see ops_conv_depthwise_direct.go). Stride 1 and stride 2 share each kernel's body and
// differ only in how a tap's input vector is loaded, so one template per kernel writes both.
// Run: go generate (see ops_conv_depthwise_amd64.go).
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

var out bytes.Buffer

func emit(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

// macros are the direct kernels' shared pieces: descriptor walking and the two tap loads.
const macros = `// The direct depthwise kernels (dwDirectDesc). Register use:
//   R15 descriptor, SI input plane, DI output plane, R8 taps, Z15 bias,
//   R9 output rows left, R10 &rowStart[oy], CX vector index v in the row,
//   BX input base of vector v, DX mask base of vector v, R13 entry pointer, R14 entries left,
//   K6 store mask of a block's last vector.
// Descriptor offsets: rows 0, vectors 8, rowBytes 16, lastMask 24, rowStart 32, entries 40,
// masks 48, maskBytes 56. An entry is 12 bytes: tap, input offset, mask offset.
//
// A row's taps form one chain of dependent FMAs per vector, so the taps are spread over two
// sets of accumulators (blocks of 4 vectors) or four (single vectors), summed at the end: the
// FMA latency, not the loads, would otherwise bound the kernel.

// dwStoreMask sets K6 to the row's last-vector mask when AX (vectors left) equals n, else all
// lanes.
#define dwStoreMask(n) \
	MOVQ    $0xFFFF, R11 \
	CMPQ    AX, $n \
	CMOVQEQ 24(R15), R11 \
	KMOVW   R11, K6

// dwEntries sets R13 and R14 to the current row's entries.
#define dwEntries \
	MOVLQSX (R10), R13 \
	MOVLQSX 4(R10), R14 \
	SUBQ    R13, R14 \
	LEAQ    (R13)(R13*2), R13 \
	SHLQ    $2, R13 \
	ADDQ    40(R15), R13

// dwEntry decodes entry E (a byte offset from R13): Z8 = its tap weight, R11 = input offset,
// R12 = its masks for the vector at DX.
#define dwEntry(E) \
	MOVLQSX      E+0(R13), AX \
	VBROADCASTSS (R8)(AX*4), Z8 \
	MOVLQSX      E+4(R13), R11 \
	MOVLQSX      E+8(R13), R12 \
	ADDQ         DX, R12

// s1Load(j, z): z = input vector j of the block under its mask, zeros elsewhere.
#define s1Load(j, z) \
	KMOVW     (j*2)(R12), K1 \
	VMOVUPS.Z (j*64)(BX)(R11*1), K1, z

// s2Load(j, z): z = the even columns of the 32 read for vector j of the block, under its two
// masks, zeros elsewhere.
#define s2Load(j, z) \
	KMOVW     (j*4)(R12), K1 \
	KMOVW     (j*4+2)(R12), K2 \
	VMOVUPS.Z (j*128)(BX)(R11*1), K1, z \
	VMOVUPS.Z (j*128+64)(BX)(R11*1), K2, Z9 \
	VPERMT2PS Z9, Z7, z

// dwEvens indexes the even lanes of two vectors, for VPERMT2PS.
`

// args loads a kernel's arguments: descriptor R15, input SI, output DI, taps R8, bias Z15.
const args = `	MOVQ         d+0(FP), R15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         k+24(FP), R8
	VBROADCASTSS bias+32(FP), Z15
`

// entry adds the contribution of the entry at byte offset e from R13 to the accumulators accs
// (one per vector of the block), loading each vector with the stride's load macro.
func entry(stride, e int, accs ...string) string {
	s := fmt.Sprintf("\tdwEntry(%d)\n", e)
	for j, acc := range accs {
		z := fmt.Sprintf("Z%d", 10+j)
		s += fmt.Sprintf("\ts%dLoad(%d, %s)\n\tVFMADD231PS  %s, Z8, %s\n", stride, j, z, z, acc)
	}
	return s
}

// direct writes depthwiseDirectS<stride>: per output row, blocks of 4 vectors, then single ones.
func direct(stride int) {
	n := fmt.Sprintf("s%d", stride)
	xShift, maskShift := 5+stride, stride // log2 of input bytes and mask bytes per output vector
	emit("\n// func depthwiseDirectS%d(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32)\n", stride)
	emit("TEXT ·depthwiseDirectS%d(SB), NOSPLIT, $0-36\n%s", stride, args)
	emit("\tVMOVUPS      dwEvens<>(SB), Z7\n\tMOVQ         0(R15), R9\n\tMOVQ         32(R15), R10\n")
	// blockSetup points BX and DX at vector CX's input and masks and R13/R14 at the row's entries.
	blockSetup := fmt.Sprintf("\tMOVQ    CX, BX\n\tSHLQ    $%d, BX\n\tADDQ    SI, BX\n\tMOVQ    CX, DX\n\tSHLQ    $%d, DX\n\tADDQ    48(R15), DX\n\tdwEntries\n", xShift, maskShift)
	emit("%srow:\n\tXORQ CX, CX\n", n)
	emit("%sblock4:\n\tMOVQ 8(R15), AX\n\tSUBQ CX, AX\n\tCMPQ AX, $4\n\tJLT  %sblock1\n\tdwStoreMask(4)\n%s", n, n, blockSetup)
	for z := 0; z < 4; z++ {
		emit("\tVMOVAPS Z15, Z%d\n", z)
	}
	for z := 16; z < 20; z++ {
		emit("\tVXORPS  Z%[1]d, Z%[1]d, Z%[1]d\n", z)
	}
	emit("%spairs4:\n\tCMPQ R14, $2\n\tJLT  %slast4\n", n, n)
	emit("%s%s", entry(stride, 0, "Z0", "Z1", "Z2", "Z3"), entry(stride, 12, "Z16", "Z17", "Z18", "Z19"))
	emit("\tADDQ $24, R13\n\tSUBQ $2, R14\n\tJMP  %spairs4\n", n)
	emit("%slast4:\n\tTESTQ R14, R14\n\tJEQ   %sstore4\n%s", n, n, entry(stride, 0, "Z0", "Z1", "Z2", "Z3"))
	emit("%sstore4:\n", n)
	for z := 0; z < 4; z++ {
		emit("\tVADDPS  Z%d, Z%d, Z%d\n", 16+z, z, z)
	}
	emit("\tMOVQ    CX, AX\n\tSHLQ    $6, AX\n\tADDQ    DI, AX\n")
	emit("\tVMOVUPS Z0, (AX)\n\tVMOVUPS Z1, 64(AX)\n\tVMOVUPS Z2, 128(AX)\n\tVMOVUPS Z3, K6, 192(AX)\n")
	emit("\tADDQ    $4, CX\n\tJMP     %sblock4\n", n)
	emit("%sblock1:\n\tTESTQ AX, AX\n\tJEQ   %snextrow\n\tdwStoreMask(1)\n%s", n, n, blockSetup)
	emit("\tVMOVAPS Z15, Z0\n\tVXORPS  Z1, Z1, Z1\n\tVXORPS  Z2, Z2, Z2\n\tVXORPS  Z3, Z3, Z3\n")
	emit("%squads1:\n\tCMPQ R14, $4\n\tJLT  %srest1\n", n, n)
	for q := 0; q < 4; q++ {
		emit("%s", entry(stride, 12*q, fmt.Sprintf("Z%d", q)))
	}
	emit("\tADDQ $48, R13\n\tSUBQ $4, R14\n\tJMP  %squads1\n", n)
	emit("%srest1:\n\tTESTQ R14, R14\n\tJEQ   %sstore1\n%s", n, n, entry(stride, 0, "Z0"))
	emit("\tADDQ $12, R13\n\tDECQ R14\n\tJMP  %srest1\n", n)
	emit("%sstore1:\n\tVADDPS  Z1, Z0, Z0\n\tVADDPS  Z3, Z2, Z2\n\tVADDPS  Z2, Z0, Z0\n", n)
	emit("\tMOVQ    CX, AX\n\tSHLQ    $6, AX\n\tADDQ    DI, AX\n\tVMOVUPS Z0, K6, (AX)\n\tINCQ    CX\n\tJMP     %sblock4\n", n)
	emit("%snextrow:\n\tADDQ 16(R15), DI\n\tADDQ $4, R10\n\tDECQ R9\n\tJNZ  %srow\n\tVZEROUPPER\n\tRET\n", n, n)
}

// narrow writes depthwiseNarrowS<stride>: 8 output rows at a time, the taps walked once per group.
func narrow(stride int) {
	n := fmt.Sprintf("n%d", stride)
	emit("\n// func depthwiseNarrowS%d(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32)\n", stride)
	emit("TEXT ·depthwiseNarrowS%d(SB), NOSPLIT, $0-36\n%s", stride, args)
	if stride == 2 {
		emit("\tVMOVUPS      dwEvens<>(SB), Z24\n")
	}
	emit("\tMOVQ         0(R15), R9\n\tMOVQ         48(R15), R13\n\tMOVQ         16(R15), R12\n")
	emit("\tMOVQ         40(R15), R10\n\tKMOVW        32(R15), K6\n\n%sgroup:\n", n)
	for r := 0; r < 8; r++ {
		emit("\tVMOVAPS Z15, Z%d\n", r)
	}
	emit("\tMOVQ    8(R15), R14\n\n%stap:\n", n)
	emit("\tMOVLQSX      4(R13), AX\n\tVBROADCASTSS (R8)(AX*4), Z8\n\tMOVLQSX      0(R13), BX\n\tADDQ         SI, BX\n")
	for r := 0; r < 8; r++ {
		t := fmt.Sprintf("Z%d", 16+r)
		emit("\tKMOVW        %d(R13), K1\n", 8+4*r)
		if stride == 1 {
			emit("\tVMOVUPS.Z    (BX), K1, %s\n", t)
		} else {
			emit("\tKMOVW        %d(R13), K2\n\tVMOVUPS.Z    (BX), K1, %s\n", 10+4*r, t)
			emit("\tVMOVUPS.Z    64(BX), K2, Z9\n\tVPERMT2PS    Z9, Z24, %s\n", t)
		}
		emit("\tVFMADD231PS  %s, Z8, Z%d\n", t, r)
		if r < 7 {
			emit("\tADDQ         R12, BX\n")
		}
	}
	emit("\tADDQ         $40, R13\n\tDECQ         R14\n\tJNZ          %stap\n\n\t// Store the group's rows that exist.\n", n)
	for r := 0; r < 8; r++ {
		emit("\tCMPQ    R10, $%d\n\tJLT     %sstored\n\tVMOVUPS Z%d, K6, (DI)\n\tADDQ    24(R15), DI\n", r+1, n, r)
	}
	emit("\n%sstored:\n\tSUBQ $8, R10\n\tDECQ R9\n\tJNZ  %sgroup\n\tVZEROUPPER\n\tRET\n", n, n)
}

func main() {
	emit("// Code generated by dw_genkernels.go; DO NOT EDIT.\n\n#include \"textflag.h\"\n\n%s", macros)
	for i := 0; i < 16; i++ {
		emit("DATA dwEvens<>+%d(SB)/4, $%d\n", 4*i, 2*i)
	}
	emit("GLOBL dwEvens<>(SB), RODATA|NOPTR, $64\n")
	direct(1)
	direct(2)
	emit("\n%s", strings.TrimLeft(`
// The narrow depthwise kernels (dwNarrowDesc): Z0..Z7 accumulate 8 output rows, Z8 is the tap's
// weight, Z16..Z23 the rows' inputs; R13 walks the records, BX the tap's input rows (R12 apart),
// R10 counts the output rows left to store, K6 masks a row's real lanes. Descriptor offsets:
// groups 0, taps 8, rowStride 16, rowBytes 24, lastMask 32, rows 40, records 48. A record is
// offset 0, tap 4, then per row two 16-bit masks from 8.
`, "\n"))
	narrow(1)
	narrow(2)
	if err := os.WriteFile("ops_conv_depthwise_direct_amd64.s", out.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
