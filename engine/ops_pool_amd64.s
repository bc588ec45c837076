#include "textflag.h"

// func poolMaxIntoAVX2(dst, src *float32, n int)
//
// dst[i] = max(dst[i], src[i]) for i < n, n a multiple of 8.
TEXT ·poolMaxIntoAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

loop32:
	CMPQ    CX, $32
	JLT     loop8
	VMOVUPS (DI)(AX*4), Y0
	VMOVUPS 32(DI)(AX*4), Y1
	VMOVUPS 64(DI)(AX*4), Y2
	VMOVUPS 96(DI)(AX*4), Y3
	VMAXPS  (SI)(AX*4), Y0, Y0
	VMAXPS  32(SI)(AX*4), Y1, Y1
	VMAXPS  64(SI)(AX*4), Y2, Y2
	VMAXPS  96(SI)(AX*4), Y3, Y3
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	VMOVUPS Y2, 64(DI)(AX*4)
	VMOVUPS Y3, 96(DI)(AX*4)
	ADDQ    $32, AX
	SUBQ    $32, CX
	JMP     loop32

loop8:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (DI)(AX*4), Y0
	VMAXPS  (SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	SUBQ    $8, CX
	JMP     loop8

done:
	VZEROUPPER
	RET

// func poolMax3AVX2(dst, src *float32, n int)
//
// dst[i] = max(src[i], src[i+1], src[i+2]) for i < n, n a multiple of 8 (src holds n+2 values).
TEXT ·poolMax3AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX

loop16:
	CMPQ    CX, $16
	JLT     loop8b
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMAXPS  4(SI)(AX*4), Y0, Y0
	VMAXPS  36(SI)(AX*4), Y1, Y1
	VMAXPS  8(SI)(AX*4), Y0, Y0
	VMAXPS  40(SI)(AX*4), Y1, Y1
	VMOVUPS Y0, (DI)(AX*4)
	VMOVUPS Y1, 32(DI)(AX*4)
	ADDQ    $16, AX
	SUBQ    $16, CX
	JMP     loop16

loop8b:
	CMPQ    CX, $8
	JLT     done3
	VMOVUPS (SI)(AX*4), Y0
	VMAXPS  4(SI)(AX*4), Y0, Y0
	VMAXPS  8(SI)(AX*4), Y0, Y0
	VMOVUPS Y0, (DI)(AX*4)
	ADDQ    $8, AX
	SUBQ    $8, CX
	JMP     loop8b

done3:
	VZEROUPPER
	RET

// func poolMax3S2AVX2(dst, src *float32, n int)
//
// dst[i] = max(src[2i], src[2i+1], src[2i+2]) for i < n, n a multiple of 8 (src holds 2n+2
// values): the 3-wide maxima at full width, then their even elements.
TEXT ·poolMax3S2AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

loop3s2:
	CMPQ    CX, $8
	JLT     done3s2
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMAXPS  4(SI), Y0, Y0
	VMAXPS  36(SI), Y1, Y1
	VMAXPS  8(SI), Y0, Y0
	VMAXPS  40(SI), Y1, Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop3s2

done3s2:
	VZEROUPPER
	RET

// func poolMax2S2AVX2(dst, src *float32, n int)
//
// dst[i] = max(src[2i], src[2i+1]) for i < n, n a multiple of 8 (src holds 2n values).
TEXT ·poolMax2S2AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

loop2s2:
	CMPQ    CX, $8
	JLT     done2s2
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VSHUFPS $0xDD, Y1, Y0, Y3
	VMAXPS  Y3, Y2, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop2s2

done2s2:
	VZEROUPPER
	RET

// func poolMaxVS2AVX2(dst, src *float32, w, rows, k int)
//
// dst[r*w+x] = max over t < k (2 or 3) of src[(2r+t)*w+x], for r < rows and x < w, w >= 8: the
// vertical maxima of stride-2 windows. Each row's last vector overlaps the one before.
TEXT ·poolMaxVS2AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), R9
	MOVQ rows+24(FP), BX
	MOVQ k+32(FP), R8
	MOVQ R9, R11
	SUBQ $8, R11
	SHLQ $2, R11 // byte offset of a row's last vector
	SHLQ $2, R9  // row stride in bytes

vrow:
	TESTQ BX, BX
	JZ    vdone
	LEAQ  (SI)(R9*1), R12
	LEAQ  (R12)(R9*1), R13
	XORQ  AX, AX

vcol:
	CMPQ    AX, R11
	JGE     vlast
	VMOVUPS (SI)(AX*1), Y0
	VMAXPS  (R12)(AX*1), Y0, Y0
	CMPQ    R8, $3
	JNE     vstore
	VMAXPS  (R13)(AX*1), Y0, Y0

vstore:
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    $32, AX
	JMP     vcol

vlast:
	MOVQ    R11, AX
	VMOVUPS (SI)(AX*1), Y0
	VMAXPS  (R12)(AX*1), Y0, Y0
	CMPQ    R8, $3
	JNE     vstorelast
	VMAXPS  (R13)(AX*1), Y0, Y0

vstorelast:
	VMOVUPS Y0, (DI)(AX*1)
	ADDQ    R9, DI
	LEAQ    (SI)(R9*2), SI
	DECQ    BX
	JMP     vrow

vdone:
	VZEROUPPER
	RET
