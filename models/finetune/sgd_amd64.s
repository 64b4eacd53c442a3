//go:build amd64

#include "textflag.h"

// func sgd32Asm(w, grad, vel *float32, n int, p *[3]float64)
//
// For i < n (a multiple of 8), in float64, each product and sum rounded
// (no fused multiply-add), as sgd32's Go loop: x = w[i];
// g = grad[i] + wd*x; v = mu*vel[i] + g; vel[i] = float32(v);
// w[i] = float32(x - lr*(g + mu*v)). Four elements per half, two halves
// per step. Go's operand order: VOP src2, src1, dst is dst = src1 OP src2.
TEXT ·sgd32Asm(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ vel+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), R8
	VBROADCASTSD 0(R8), Y13 // lr
	VBROADCASTSD 8(R8), Y14 // mu
	VBROADCASTSD 16(R8), Y15 // wd
	XORQ R11, R11

loop:
	CMPQ R11, CX
	JGE done
	// Low half: elements i..i+3.
	VCVTPS2PD (DI)(R11*4), Y0       // x
	VCVTPS2PD (SI)(R11*4), Y1       // grad
	VCVTPS2PD (DX)(R11*4), Y2       // vel
	VMULPD Y0, Y15, Y3              // wd*x
	VADDPD Y3, Y1, Y1               // g = grad + wd*x
	VMULPD Y2, Y14, Y2              // mu*vel
	VADDPD Y1, Y2, Y2               // v = mu*vel + g
	VCVTPD2PSY Y2, X4
	VMOVUPS X4, (DX)(R11*4)
	VMULPD Y2, Y14, Y2              // mu*v
	VADDPD Y2, Y1, Y1               // g + mu*v
	VMULPD Y1, Y13, Y1              // lr*(g + mu*v)
	VSUBPD Y1, Y0, Y0               // x - lr*(...)
	VCVTPD2PSY Y0, X0
	VMOVUPS X0, (DI)(R11*4)
	// High half: elements i+4..i+7.
	VCVTPS2PD 16(DI)(R11*4), Y5
	VCVTPS2PD 16(SI)(R11*4), Y6
	VCVTPS2PD 16(DX)(R11*4), Y7
	VMULPD Y5, Y15, Y8
	VADDPD Y8, Y6, Y6
	VMULPD Y7, Y14, Y7
	VADDPD Y6, Y7, Y7
	VCVTPD2PSY Y7, X9
	VMOVUPS X9, 16(DX)(R11*4)
	VMULPD Y7, Y14, Y7
	VADDPD Y7, Y6, Y6
	VMULPD Y6, Y13, Y6
	VSUBPD Y6, Y5, Y5
	VCVTPD2PSY Y5, X5
	VMOVUPS X5, 16(DI)(R11*4)
	ADDQ $8, R11
	JMP loop

done:
	VZEROUPPER
	RET
