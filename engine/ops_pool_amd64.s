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
