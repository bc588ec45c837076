#include "textflag.h"

// func epilogueAVX512(c *float32, ldc, rows, cols int, bias *float32, lo, hi float32)
//
// c[i*ldc+j] = min(max(c[i*ldc+j] + bias[i], lo), hi) for i < rows, j < cols (bias nil: 0), NaNs
// passing through: VMAXPS/VMINPS return their second source when either is NaN, and that is the
// value. Whole vectors, then the row's last cols%16 under a mask.
TEXT ·epilogueAVX512(SB), NOSPLIT, $0-48
	MOVQ         c+0(FP), DI
	MOVQ         ldc+8(FP), R8
	SHLQ         $2, R8
	MOVQ         rows+16(FP), R9
	MOVQ         cols+24(FP), R10
	MOVQ         bias+32(FP), SI
	VBROADCASTSS lo+40(FP), Z1
	VBROADCASTSS hi+44(FP), Z2
	MOVQ         R10, CX
	ANDQ         $15, CX
	MOVL         $1, AX
	SHLL         CX, AX
	DECL         AX
	KMOVW        AX, K1
	MOVQ         R10, R11
	SHRQ         $4, R11

row:
	TESTQ        R9, R9
	JEQ          done
	VXORPS       Z0, Z0, Z0
	TESTQ        SI, SI
	JEQ          nobias
	VBROADCASTSS (SI), Z0
	ADDQ         $4, SI

nobias:
	MOVQ DI, BX
	MOVQ R11, CX

vec:
	TESTQ   CX, CX
	JEQ     tail
	VADDPS  (BX), Z0, Z3
	VMAXPS  Z3, Z1, Z3
	VMINPS  Z3, Z2, Z3
	VMOVUPS Z3, (BX)
	ADDQ    $64, BX
	DECQ    CX
	JMP     vec

tail:
	KORTESTW  K1, K1
	JEQ       next
	VMOVUPS.Z (BX), K1, Z3
	VADDPS    Z3, Z0, Z3
	VMAXPS    Z3, Z1, Z3
	VMINPS    Z3, Z2, Z3
	VMOVUPS   Z3, K1, (BX)

next:
	ADDQ R8, DI
	DECQ R9
	JMP  row

done:
	VZEROUPPER
	RET
