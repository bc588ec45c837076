#include "textflag.h"

// func depthwiseRowAVX2(out *float32, n int, srcs *uintptr, w *float32, k int, bias float32)
//
// out[i] = bias + sum over t < k of w[t] * srcs[t][i] (srcs holds float32 addresses), for i < n, n a multiple of 8.
// Four accumulators of 8 lanes cover 32 outputs per pass over the taps; a one-vector loop
// finishes the multiple of 8 below 32.
TEXT ·depthwiseRowAVX2(SB), NOSPLIT, $0-44
	MOVQ         out+0(FP), DI
	MOVQ         n+8(FP), CX
	MOVQ         srcs+16(FP), SI
	MOVQ         w+24(FP), R8
	MOVQ         k+32(FP), R9
	VBROADCASTSS bias+40(FP), Y15
	XORQ         AX, AX

loop32:
	CMPQ    CX, $32
	JLT     loop8
	VMOVAPS Y15, Y0
	VMOVAPS Y15, Y1
	VMOVAPS Y15, Y2
	VMOVAPS Y15, Y3
	XORQ    BX, BX

tap32:
	MOVQ         (SI)(BX*8), DX
	VBROADCASTSS (R8)(BX*4), Y4
	VFMADD231PS  (DX)(AX*4), Y4, Y0
	VFMADD231PS  32(DX)(AX*4), Y4, Y1
	VFMADD231PS  64(DX)(AX*4), Y4, Y2
	VFMADD231PS  96(DX)(AX*4), Y4, Y3
	INCQ         BX
	CMPQ         BX, R9
	JLT          tap32
	VMOVUPS      Y0, (DI)(AX*4)
	VMOVUPS      Y1, 32(DI)(AX*4)
	VMOVUPS      Y2, 64(DI)(AX*4)
	VMOVUPS      Y3, 96(DI)(AX*4)
	ADDQ         $32, AX
	SUBQ         $32, CX
	JMP          loop32

loop8:
	CMPQ    CX, $8
	JLT     done
	VMOVAPS Y15, Y0
	XORQ    BX, BX

tap8:
	MOVQ         (SI)(BX*8), DX
	VBROADCASTSS (R8)(BX*4), Y4
	VFMADD231PS  (DX)(AX*4), Y4, Y0
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
