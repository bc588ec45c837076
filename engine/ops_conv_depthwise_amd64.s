#include "textflag.h"

// func depthwiseRowAVX2(out *float32, n int, srcs *uintptr, w *float32, k int, bias float32)
//
// out[i] = bias + sum over t < k of w[t] * srcs[t][i] (srcs holds float32 addresses), for
// i < n, n a multiple of 8. Eight accumulators of 8 lanes cover 64 outputs per pass over the
// taps: enough independent FMA chains to hide the FMA latency. A one-vector loop finishes the
// multiple of 8 below 64.
TEXT ·depthwiseRowAVX2(SB), NOSPLIT, $0-44
	MOVQ         out+0(FP), DI
	MOVQ         n+8(FP), CX
	MOVQ         srcs+16(FP), SI
	MOVQ         w+24(FP), R8
	MOVQ         k+32(FP), R9
	VBROADCASTSS bias+40(FP), Y15
	XORQ         AX, AX

loop64:
	CMPQ    CX, $64
	JLT     loop8
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	VMOVAPS Y15, Y4
	VMOVAPS Y15, Y5
	VMOVAPS Y15, Y6
	VMOVAPS Y15, Y7
	XORQ    BX, BX

tap64:
	MOVQ         (SI)(BX*8), DX
	LEAQ         (DX)(AX*4), DX
	VBROADCASTSS (R8)(BX*4), Y8
	VFMADD231PS  (DX), Y8, Y0
	VFMADD231PS  32(DX), Y8, Y1
	VFMADD231PS  64(DX), Y8, Y2
	VFMADD231PS  96(DX), Y8, Y3
	VFMADD231PS  128(DX), Y8, Y4
	VFMADD231PS  160(DX), Y8, Y5
	VFMADD231PS  192(DX), Y8, Y6
	VFMADD231PS  224(DX), Y8, Y7
	INCQ         BX
	CMPQ         BX, R9
	JLT          tap64
	LEAQ         (DI)(AX*4), DX
	VMOVUPS      Y0, (DX)
	VMOVUPS      Y1, 32(DX)
	VMOVUPS      Y2, 64(DX)
	VMOVUPS      Y3, 96(DX)
	VMOVUPS      Y4, 128(DX)
	VMOVUPS      Y5, 160(DX)
	VMOVUPS      Y6, 192(DX)
	VMOVUPS      Y7, 224(DX)
	ADDQ         $64, AX
	SUBQ         $64, CX
	JMP          loop64

loop8:
	CMPQ    CX, $8
	JLT     done
	VMOVAPS Y15, Y0
	XORQ    BX, BX

tap8:
	MOVQ         (SI)(BX*8), DX
	VBROADCASTSS (R8)(BX*4), Y8
	VFMADD231PS  (DX)(AX*4), Y8, Y0
	INCQ         BX
	CMPQ         BX, R9
	JLT          tap8
	VMOVUPS      Y0, (DI)(AX*4)
	ADDQ         $8, AX
	SUBQ         $8, CX
	JMP          loop8

done:
	VZEROUPPER
	RET

// The direct depthwise kernels (ops_conv_depthwise_direct.go). Register use:
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

// s1Entry4 adds entry E's contribution to the block's four vectors in A0..A3.
#define s1Entry4(E, A0, A1, A2, A3) \
	dwEntry(E) \
	s1Load(0, Z10) \
	VFMADD231PS Z10, Z8, A0 \
	s1Load(1, Z11) \
	VFMADD231PS Z11, Z8, A1 \
	s1Load(2, Z12) \
	VFMADD231PS Z12, Z8, A2 \
	s1Load(3, Z13) \
	VFMADD231PS Z13, Z8, A3

// s1Entry1 adds entry E's contribution to a single vector in A.
#define s1Entry1(E, A) \
	dwEntry(E) \
	s1Load(0, Z10) \
	VFMADD231PS Z10, Z8, A

// s2Load(j, z): z = the even columns of the 32 read for vector j of the block, under its two
// masks, zeros elsewhere.
#define s2Load(j, z) \
	KMOVW     (j*4)(R12), K1 \
	KMOVW     (j*4+2)(R12), K2 \
	VMOVUPS.Z (j*128)(BX)(R11*1), K1, z \
	VMOVUPS.Z (j*128+64)(BX)(R11*1), K2, Z9 \
	VPERMT2PS Z9, Z7, z

#define s2Entry4(E, A0, A1, A2, A3) \
	dwEntry(E) \
	s2Load(0, Z10) \
	VFMADD231PS Z10, Z8, A0 \
	s2Load(1, Z11) \
	VFMADD231PS Z11, Z8, A1 \
	s2Load(2, Z12) \
	VFMADD231PS Z12, Z8, A2 \
	s2Load(3, Z13) \
	VFMADD231PS Z13, Z8, A3

#define s2Entry1(E, A) \
	dwEntry(E) \
	s2Load(0, Z10) \
	VFMADD231PS Z10, Z8, A

// Both kernels below have the same body, with their own load macros (s1Entry*, s2Entry*) and
// shifts (input bytes per output vector: 64 or 128; mask bytes: 2 or 4).

// dwEvens indexes the even lanes of two vectors, for VPERMT2PS.
DATA dwEvens<>+0(SB)/4, $0
DATA dwEvens<>+4(SB)/4, $2
DATA dwEvens<>+8(SB)/4, $4
DATA dwEvens<>+12(SB)/4, $6
DATA dwEvens<>+16(SB)/4, $8
DATA dwEvens<>+20(SB)/4, $10
DATA dwEvens<>+24(SB)/4, $12
DATA dwEvens<>+28(SB)/4, $14
DATA dwEvens<>+32(SB)/4, $16
DATA dwEvens<>+36(SB)/4, $18
DATA dwEvens<>+40(SB)/4, $20
DATA dwEvens<>+44(SB)/4, $22
DATA dwEvens<>+48(SB)/4, $24
DATA dwEvens<>+52(SB)/4, $26
DATA dwEvens<>+56(SB)/4, $28
DATA dwEvens<>+60(SB)/4, $30
GLOBL dwEvens<>(SB), RODATA|NOPTR, $64

// func depthwiseDirectS1(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32)
TEXT ·depthwiseDirectS1(SB), NOSPLIT, $0-36
	MOVQ         d+0(FP), R15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         k+24(FP), R8
	VBROADCASTSS bias+32(FP), Z15
	VMOVUPS      dwEvens<>(SB), Z7
	MOVQ         0(R15), R9
	MOVQ         32(R15), R10
s1row:
	XORQ CX, CX
s1block4:
	MOVQ 8(R15), AX
	SUBQ CX, AX
	CMPQ AX, $4
	JLT  s1block1
	dwStoreMask(4)
	MOVQ    CX, BX
	SHLQ    $6, BX
	ADDQ    SI, BX
	MOVQ    CX, DX
	SHLQ    $1, DX
	ADDQ    48(R15), DX
	dwEntries
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	VXORPS  Z16, Z16, Z16
	VXORPS  Z17, Z17, Z17
	VXORPS  Z18, Z18, Z18
	VXORPS  Z19, Z19, Z19
s1pairs4:
	CMPQ R14, $2
	JLT  s1last4
	s1Entry4(0, Z0, Z1, Z2, Z3)
	s1Entry4(12, Z16, Z17, Z18, Z19)
	ADDQ $24, R13
	SUBQ $2, R14
	JMP  s1pairs4
s1last4:
	TESTQ R14, R14
	JEQ   s1store4
	s1Entry4(0, Z0, Z1, Z2, Z3)
s1store4:
	VADDPS  Z16, Z0, Z0
	VADDPS  Z17, Z1, Z1
	VADDPS  Z18, Z2, Z2
	VADDPS  Z19, Z3, Z3
	MOVQ    CX, AX
	SHLQ    $6, AX
	ADDQ    DI, AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, K6, 192(AX)
	ADDQ    $4, CX
	JMP     s1block4
s1block1:
	TESTQ AX, AX
	JEQ   s1nextrow
	dwStoreMask(1)
	MOVQ    CX, BX
	SHLQ    $6, BX
	ADDQ    SI, BX
	MOVQ    CX, DX
	SHLQ    $1, DX
	ADDQ    48(R15), DX
	dwEntries
	VMOVAPS Z15, Z0
	VXORPS  Z1, Z1, Z1
	VXORPS  Z2, Z2, Z2
	VXORPS  Z3, Z3, Z3
s1quads1:
	CMPQ R14, $4
	JLT  s1rest1
	s1Entry1(0, Z0)
	s1Entry1(12, Z1)
	s1Entry1(24, Z2)
	s1Entry1(36, Z3)
	ADDQ $48, R13
	SUBQ $4, R14
	JMP  s1quads1
s1rest1:
	TESTQ R14, R14
	JEQ   s1store1
	s1Entry1(0, Z0)
	ADDQ $12, R13
	DECQ R14
	JMP  s1rest1
s1store1:
	VADDPS  Z1, Z0, Z0
	VADDPS  Z3, Z2, Z2
	VADDPS  Z2, Z0, Z0
	MOVQ    CX, AX
	SHLQ    $6, AX
	ADDQ    DI, AX
	VMOVUPS Z0, K6, (AX)
	INCQ    CX
	JMP     s1block4
s1nextrow:
	ADDQ 16(R15), DI
	ADDQ $4, R10
	DECQ R9
	JNZ  s1row
	VZEROUPPER
	RET

// func depthwiseDirectS2(d *dwDirectDesc, x, y unsafe.Pointer, k *float32, bias float32)
TEXT ·depthwiseDirectS2(SB), NOSPLIT, $0-36
	MOVQ         d+0(FP), R15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         k+24(FP), R8
	VBROADCASTSS bias+32(FP), Z15
	VMOVUPS      dwEvens<>(SB), Z7
	MOVQ         0(R15), R9
	MOVQ         32(R15), R10
s2row:
	XORQ CX, CX
s2block4:
	MOVQ 8(R15), AX
	SUBQ CX, AX
	CMPQ AX, $4
	JLT  s2block1
	dwStoreMask(4)
	MOVQ    CX, BX
	SHLQ    $7, BX
	ADDQ    SI, BX
	MOVQ    CX, DX
	SHLQ    $2, DX
	ADDQ    48(R15), DX
	dwEntries
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	VXORPS  Z16, Z16, Z16
	VXORPS  Z17, Z17, Z17
	VXORPS  Z18, Z18, Z18
	VXORPS  Z19, Z19, Z19
s2pairs4:
	CMPQ R14, $2
	JLT  s2last4
	s2Entry4(0, Z0, Z1, Z2, Z3)
	s2Entry4(12, Z16, Z17, Z18, Z19)
	ADDQ $24, R13
	SUBQ $2, R14
	JMP  s2pairs4
s2last4:
	TESTQ R14, R14
	JEQ   s2store4
	s2Entry4(0, Z0, Z1, Z2, Z3)
s2store4:
	VADDPS  Z16, Z0, Z0
	VADDPS  Z17, Z1, Z1
	VADDPS  Z18, Z2, Z2
	VADDPS  Z19, Z3, Z3
	MOVQ    CX, AX
	SHLQ    $6, AX
	ADDQ    DI, AX
	VMOVUPS Z0, (AX)
	VMOVUPS Z1, 64(AX)
	VMOVUPS Z2, 128(AX)
	VMOVUPS Z3, K6, 192(AX)
	ADDQ    $4, CX
	JMP     s2block4
s2block1:
	TESTQ AX, AX
	JEQ   s2nextrow
	dwStoreMask(1)
	MOVQ    CX, BX
	SHLQ    $7, BX
	ADDQ    SI, BX
	MOVQ    CX, DX
	SHLQ    $2, DX
	ADDQ    48(R15), DX
	dwEntries
	VMOVAPS Z15, Z0
	VXORPS  Z1, Z1, Z1
	VXORPS  Z2, Z2, Z2
	VXORPS  Z3, Z3, Z3
s2quads1:
	CMPQ R14, $4
	JLT  s2rest1
	s2Entry1(0, Z0)
	s2Entry1(12, Z1)
	s2Entry1(24, Z2)
	s2Entry1(36, Z3)
	ADDQ $48, R13
	SUBQ $4, R14
	JMP  s2quads1
s2rest1:
	TESTQ R14, R14
	JEQ   s2store1
	s2Entry1(0, Z0)
	ADDQ $12, R13
	DECQ R14
	JMP  s2rest1
s2store1:
	VADDPS  Z1, Z0, Z0
	VADDPS  Z3, Z2, Z2
	VADDPS  Z2, Z0, Z0
	MOVQ    CX, AX
	SHLQ    $6, AX
	ADDQ    DI, AX
	VMOVUPS Z0, K6, (AX)
	INCQ    CX
	JMP     s2block4
s2nextrow:
	ADDQ 16(R15), DI
	ADDQ $4, R10
	DECQ R9
	JNZ  s2row
	VZEROUPPER
	RET

// The narrow depthwise kernels (dwNarrowDesc): Z0..Z7 accumulate 8 output rows, Z8 is the tap's
// weight, Z16..Z23 the rows' inputs; R13 walks the records, BX the tap's input rows (R12 apart),
// R10 counts the output rows left to store, K6 masks a row's real lanes. Descriptor offsets:
// groups 0, taps 8, rowStride 16, rowBytes 24, lastMask 32, rows 40, records 48. A record is
// offset 0, tap 4, then per row two 16-bit masks from 8.

// func depthwiseNarrowS1(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32)
TEXT ·depthwiseNarrowS1(SB), NOSPLIT, $0-36
	MOVQ         d+0(FP), R15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         k+24(FP), R8
	VBROADCASTSS bias+32(FP), Z15
	MOVQ         0(R15), R9
	MOVQ         48(R15), R13
	MOVQ         16(R15), R12
	MOVQ         40(R15), R10
	KMOVW        32(R15), K6

n1group:
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	VMOVAPS Z15, Z4
	VMOVAPS Z15, Z5
	VMOVAPS Z15, Z6
	VMOVAPS Z15, Z7
	MOVQ    8(R15), R14

n1tap:
	MOVLQSX      4(R13), AX
	VBROADCASTSS (R8)(AX*4), Z8
	MOVLQSX      0(R13), BX
	ADDQ         SI, BX
	KMOVW        8(R13), K1
	VMOVUPS.Z    (BX), K1, Z16
	VFMADD231PS  Z16, Z8, Z0
	ADDQ         R12, BX
	KMOVW        12(R13), K1
	VMOVUPS.Z    (BX), K1, Z17
	VFMADD231PS  Z17, Z8, Z1
	ADDQ         R12, BX
	KMOVW        16(R13), K1
	VMOVUPS.Z    (BX), K1, Z18
	VFMADD231PS  Z18, Z8, Z2
	ADDQ         R12, BX
	KMOVW        20(R13), K1
	VMOVUPS.Z    (BX), K1, Z19
	VFMADD231PS  Z19, Z8, Z3
	ADDQ         R12, BX
	KMOVW        24(R13), K1
	VMOVUPS.Z    (BX), K1, Z20
	VFMADD231PS  Z20, Z8, Z4
	ADDQ         R12, BX
	KMOVW        28(R13), K1
	VMOVUPS.Z    (BX), K1, Z21
	VFMADD231PS  Z21, Z8, Z5
	ADDQ         R12, BX
	KMOVW        32(R13), K1
	VMOVUPS.Z    (BX), K1, Z22
	VFMADD231PS  Z22, Z8, Z6
	ADDQ         R12, BX
	KMOVW        36(R13), K1
	VMOVUPS.Z    (BX), K1, Z23
	VFMADD231PS  Z23, Z8, Z7
	ADDQ         $40, R13
	DECQ         R14
	JNZ          n1tap

	// Store the group's rows that exist.
	CMPQ    R10, $1
	JLT     n1stored
	VMOVUPS Z0, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $2
	JLT     n1stored
	VMOVUPS Z1, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $3
	JLT     n1stored
	VMOVUPS Z2, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $4
	JLT     n1stored
	VMOVUPS Z3, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $5
	JLT     n1stored
	VMOVUPS Z4, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $6
	JLT     n1stored
	VMOVUPS Z5, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $7
	JLT     n1stored
	VMOVUPS Z6, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $8
	JLT     n1stored
	VMOVUPS Z7, K6, (DI)
	ADDQ    24(R15), DI

n1stored:
	SUBQ $8, R10
	DECQ R9
	JNZ  n1group
	VZEROUPPER
	RET

// func depthwiseNarrowS2(d *dwNarrowDesc, x, y unsafe.Pointer, k *float32, bias float32)
TEXT ·depthwiseNarrowS2(SB), NOSPLIT, $0-36
	MOVQ         d+0(FP), R15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         k+24(FP), R8
	VBROADCASTSS bias+32(FP), Z15
	VMOVUPS      dwEvens<>(SB), Z24
	MOVQ         0(R15), R9
	MOVQ         48(R15), R13
	MOVQ         16(R15), R12
	MOVQ         40(R15), R10
	KMOVW        32(R15), K6

n2group:
	VMOVAPS Z15, Z0
	VMOVAPS Z15, Z1
	VMOVAPS Z15, Z2
	VMOVAPS Z15, Z3
	VMOVAPS Z15, Z4
	VMOVAPS Z15, Z5
	VMOVAPS Z15, Z6
	VMOVAPS Z15, Z7
	MOVQ    8(R15), R14

n2tap:
	MOVLQSX      4(R13), AX
	VBROADCASTSS (R8)(AX*4), Z8
	MOVLQSX      0(R13), BX
	ADDQ         SI, BX
	KMOVW        8(R13), K1
	KMOVW        10(R13), K2
	VMOVUPS.Z    (BX), K1, Z16
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z16
	VFMADD231PS  Z16, Z8, Z0
	ADDQ         R12, BX
	KMOVW        12(R13), K1
	KMOVW        14(R13), K2
	VMOVUPS.Z    (BX), K1, Z17
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z17
	VFMADD231PS  Z17, Z8, Z1
	ADDQ         R12, BX
	KMOVW        16(R13), K1
	KMOVW        18(R13), K2
	VMOVUPS.Z    (BX), K1, Z18
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z18
	VFMADD231PS  Z18, Z8, Z2
	ADDQ         R12, BX
	KMOVW        20(R13), K1
	KMOVW        22(R13), K2
	VMOVUPS.Z    (BX), K1, Z19
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z19
	VFMADD231PS  Z19, Z8, Z3
	ADDQ         R12, BX
	KMOVW        24(R13), K1
	KMOVW        26(R13), K2
	VMOVUPS.Z    (BX), K1, Z20
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z20
	VFMADD231PS  Z20, Z8, Z4
	ADDQ         R12, BX
	KMOVW        28(R13), K1
	KMOVW        30(R13), K2
	VMOVUPS.Z    (BX), K1, Z21
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z21
	VFMADD231PS  Z21, Z8, Z5
	ADDQ         R12, BX
	KMOVW        32(R13), K1
	KMOVW        34(R13), K2
	VMOVUPS.Z    (BX), K1, Z22
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z22
	VFMADD231PS  Z22, Z8, Z6
	ADDQ         R12, BX
	KMOVW        36(R13), K1
	KMOVW        38(R13), K2
	VMOVUPS.Z    (BX), K1, Z23
	VMOVUPS.Z    64(BX), K2, Z9
	VPERMT2PS    Z9, Z24, Z23
	VFMADD231PS  Z23, Z8, Z7
	ADDQ         $40, R13
	DECQ         R14
	JNZ          n2tap

	// Store the group's rows that exist.
	CMPQ    R10, $1
	JLT     n2stored
	VMOVUPS Z0, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $2
	JLT     n2stored
	VMOVUPS Z1, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $3
	JLT     n2stored
	VMOVUPS Z2, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $4
	JLT     n2stored
	VMOVUPS Z3, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $5
	JLT     n2stored
	VMOVUPS Z4, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $6
	JLT     n2stored
	VMOVUPS Z5, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $7
	JLT     n2stored
	VMOVUPS Z6, K6, (DI)
	ADDQ    24(R15), DI
	CMPQ    R10, $8
	JLT     n2stored
	VMOVUPS Z7, K6, (DI)
	ADDQ    24(R15), DI

n2stored:
	SUBQ $8, R10
	DECQ R9
	JNZ  n2group
	VZEROUPPER
	RET
