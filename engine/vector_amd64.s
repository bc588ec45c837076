#include "textflag.h"

// func nnFillAVX2(dst *float32, n int, x float32)
//
// dst[i] = x for i < n, n a multiple of 8.
TEXT ·nnFillAVX2(SB), NOSPLIT, $0-20
	MOVQ         dst+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS x+16(FP), Y0

loop32:
	CMPQ    CX, $32
	JLT     loop8
	VMOVUPS Y0, (DI)
	VMOVUPS Y0, 32(DI)
	VMOVUPS Y0, 64(DI)
	VMOVUPS Y0, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     loop32

loop8:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop8

done:
	VZEROUPPER
	RET

// func nnEvensAVX2(dst, src *float32, n int)
//
// dst[j] = src[2j] for j < n, n a multiple of 8 (src holds 2n values).
TEXT ·nnEvensAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

loop:
	CMPQ    CX, $8
	JLT     done
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2 // per 128-bit lane: a0 a2 b0 b2
	VPERMPD $0xD8, Y2, Y2     // 64-bit pairs in order 0 2 1 3: a0 a2 a4 a6 b0 b2 b4 b6
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET

// func nnClampAVX2(v *float32, n int, lo, hi float32)
//
// v[i] = min(max(v[i], lo), hi) for i < n, n a multiple of 8. v is the second operand of MAXPS
// and MINPS, the one they return when either is NaN, so NaNs pass through as in Go's min and max.
TEXT ·nnClampAVX2(SB), NOSPLIT, $0-24
	MOVQ         v+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS lo+16(FP), Y0
	VBROADCASTSS hi+20(FP), Y1

loop32:
	CMPQ    CX, $32
	JLT     loop8
	VMAXPS  (DI), Y0, Y2
	VMAXPS  32(DI), Y0, Y3
	VMAXPS  64(DI), Y0, Y4
	VMAXPS  96(DI), Y0, Y5
	VMINPS  Y2, Y1, Y2
	VMINPS  Y3, Y1, Y3
	VMINPS  Y4, Y1, Y4
	VMINPS  Y5, Y1, Y5
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	VMOVUPS Y4, 64(DI)
	VMOVUPS Y5, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     loop32

loop8:
	CMPQ    CX, $8
	JLT     done
	VMAXPS  (DI), Y0, Y2
	VMINPS  Y2, Y1, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop8

done:
	VZEROUPPER
	RET

// func nnBiasClampAVX2(v *float32, n int, bias, lo, hi float32)
//
// v[i] = min(max(v[i] + bias, lo), hi) for i < n, n a multiple of 8, NaNs passing through as
// in nnClampAVX2.
TEXT ·nnBiasClampAVX2(SB), NOSPLIT, $0-28
	MOVQ         v+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS bias+16(FP), Y6
	VBROADCASTSS lo+20(FP), Y0
	VBROADCASTSS hi+24(FP), Y1

loop32:
	CMPQ    CX, $32
	JLT     loop8
	VADDPS  (DI), Y6, Y2
	VADDPS  32(DI), Y6, Y3
	VADDPS  64(DI), Y6, Y4
	VADDPS  96(DI), Y6, Y5
	VMAXPS  Y2, Y0, Y2
	VMAXPS  Y3, Y0, Y3
	VMAXPS  Y4, Y0, Y4
	VMAXPS  Y5, Y0, Y5
	VMINPS  Y2, Y1, Y2
	VMINPS  Y3, Y1, Y3
	VMINPS  Y4, Y1, Y4
	VMINPS  Y5, Y1, Y5
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	VMOVUPS Y4, 64(DI)
	VMOVUPS Y5, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     loop32

loop8:
	CMPQ    CX, $8
	JLT     done
	VADDPS  (DI), Y6, Y2
	VMAXPS  Y2, Y0, Y2
	VMINPS  Y2, Y1, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     loop8

done:
	VZEROUPPER
	RET

// func nnSumAVX2(v *float32, n int) float32
//
// The sum of v[:n], n a multiple of 8: four accumulators of 8 lanes (32 values per pass), so the
// additions' latency does not bound the loop, then one vector at a time.
TEXT ·nnSumAVX2(SB), NOSPLIT, $0-20
	MOVQ   v+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ   CX, $32
	JLT    sum8
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	SUBQ   $32, CX
	JMP    sum32

sum8:
	CMPQ   CX, $8
	JLT    reduce
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    sum8

reduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVHLPS     X0, X1, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+16(FP)
	RET
