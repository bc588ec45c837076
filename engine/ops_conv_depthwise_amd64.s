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

