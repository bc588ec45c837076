#include "textflag.h"

// func packGather32AVX512(dst, src *float32, rows *int, depth int)
//
// For p < depth: dst[32p : 32p+32] = src[rows[p] : rows[p]+32].
TEXT ·packGather32AVX512(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), BX
	MOVQ  depth+24(FP), CX
	TESTQ CX, CX
	JZ    done

loop:
	MOVQ    (BX), AX
	VMOVUPS (SI)(AX*4), Z0
	VMOVUPS 64(SI)(AX*4), Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ    $8, BX
	ADDQ    $128, DI
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET

// func packGather16AVX2(dst, src *float32, rows *int, depth int)
//
// For p < depth: dst[16p : 16p+16] = src[rows[p] : rows[p]+16].
TEXT ·packGather16AVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  rows+16(FP), BX
	MOVQ  depth+24(FP), CX
	TESTQ CX, CX
	JZ    done

loop:
	MOVQ    (BX), AX
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $8, BX
	ADDQ    $64, DI
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET
