//go:build amd64

#include "textflag.h"

// AVX2 kernels of vec.go; see vec_amd64.go. None uses a fused
// multiply-add: every product is rounded before it is added, as in Go.
// Go's operand order: VOP src2, src1, dst computes dst = src1 OP src2.

// func dwPlaneAsm(y, x *float32, n, nb int, start *int, npos int, offs *int, w *float32, b float32, add bool, ep *[4]float32)
//
// For each position p < npos, with taps j in [start[p], start[p+1]) and
// i < nb: acc = w[j0]*x[offs[j0]+i]; acc += w[j]*x[offs[j]+i], j > j0;
// then y[p*n+i] = acc + b, or y[p*n+i] += acc when add (with no taps: b,
// or nothing). With ep (a, c, lo, hi; not with add), v = acc + b (or b)
// becomes min(hi, max(lo, a*v + c)) before it is stored. Four blocks of 8
// at a time while they last, then one. Registers: DI y of the position,
// SI x, DX n*4, CX nb, R8 &start[p], R9 positions left, R12 &offs[j0],
// R13 &w[j0], R14 taps, R10 tap, R11 i, AX and BX scratch, Y8..Y11 ep.
TEXT ·dwPlaneAsm(SB), NOSPLIT, $0-80
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), DX
	SHLQ $2, DX
	MOVQ nb+24(FP), CX
	MOVQ start+32(FP), R8
	MOVQ npos+40(FP), R9
	VBROADCASTSS b+64(FP), Y15
	MOVQ ep+72(FP), AX
	TESTQ AX, AX
	JEQ pl_pos
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11

pl_pos:
	TESTQ R9, R9
	JEQ pl_done
	MOVQ 0(R8), BX
	MOVQ 8(R8), R14
	SUBQ BX, R14
	MOVQ w+56(FP), R13
	LEAQ (R13)(BX*4), R13
	MOVQ offs+48(FP), R12
	LEAQ (R12)(BX*8), R12
	XORQ R11, R11
	TESTQ R14, R14
	JEQ pl_empty

pl_loop32:
	MOVQ CX, AX
	SUBQ R11, AX
	CMPQ AX, $32
	JLT pl_loop8
	MOVQ (R12), AX
	ADDQ R11, AX
	VBROADCASTSS (R13), Y14
	VMULPS (SI)(AX*4), Y14, Y0
	VMULPS 32(SI)(AX*4), Y14, Y1
	VMULPS 64(SI)(AX*4), Y14, Y2
	VMULPS 96(SI)(AX*4), Y14, Y3
	MOVQ $1, R10

pl_taps32:
	CMPQ R10, R14
	JGE pl_store32
	MOVQ (R12)(R10*8), AX
	ADDQ R11, AX
	VBROADCASTSS (R13)(R10*4), Y14
	VMULPS (SI)(AX*4), Y14, Y4
	VMULPS 32(SI)(AX*4), Y14, Y5
	VMULPS 64(SI)(AX*4), Y14, Y6
	VMULPS 96(SI)(AX*4), Y14, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	INCQ R10
	JMP pl_taps32

pl_store32:
	CMPB add+68(FP), $0
	JNE pl_add32
	VADDPS Y15, Y0, Y0
	VADDPS Y15, Y1, Y1
	VADDPS Y15, Y2, Y2
	VADDPS Y15, Y3, Y3
	CMPQ ep+72(FP), $0
	JEQ pl_put32
	VMULPS Y8, Y0, Y0
	VMULPS Y8, Y1, Y1
	VMULPS Y8, Y2, Y2
	VMULPS Y8, Y3, Y3
	VADDPS Y9, Y0, Y0
	VADDPS Y9, Y1, Y1
	VADDPS Y9, Y2, Y2
	VADDPS Y9, Y3, Y3
	VMAXPS Y0, Y10, Y0
	VMAXPS Y1, Y10, Y1
	VMAXPS Y2, Y10, Y2
	VMAXPS Y3, Y10, Y3
	VMINPS Y0, Y11, Y0
	VMINPS Y1, Y11, Y1
	VMINPS Y2, Y11, Y2
	VMINPS Y3, Y11, Y3
	JMP pl_put32

pl_add32:
	VADDPS (DI)(R11*4), Y0, Y0
	VADDPS 32(DI)(R11*4), Y1, Y1
	VADDPS 64(DI)(R11*4), Y2, Y2
	VADDPS 96(DI)(R11*4), Y3, Y3

pl_put32:
	VMOVUPS Y0, (DI)(R11*4)
	VMOVUPS Y1, 32(DI)(R11*4)
	VMOVUPS Y2, 64(DI)(R11*4)
	VMOVUPS Y3, 96(DI)(R11*4)
	ADDQ $32, R11
	JMP pl_loop32

pl_loop8:
	CMPQ R11, CX
	JGE pl_next
	MOVQ (R12), AX
	ADDQ R11, AX
	VBROADCASTSS (R13), Y14
	VMULPS (SI)(AX*4), Y14, Y0
	MOVQ $1, R10

pl_taps8:
	CMPQ R10, R14
	JGE pl_store8
	MOVQ (R12)(R10*8), AX
	ADDQ R11, AX
	VBROADCASTSS (R13)(R10*4), Y14
	VMULPS (SI)(AX*4), Y14, Y4
	VADDPS Y4, Y0, Y0
	INCQ R10
	JMP pl_taps8

pl_store8:
	CMPB add+68(FP), $0
	JNE pl_add8
	VADDPS Y15, Y0, Y0
	CMPQ ep+72(FP), $0
	JEQ pl_put8
	VMULPS Y8, Y0, Y0
	VADDPS Y9, Y0, Y0
	VMAXPS Y0, Y10, Y0
	VMINPS Y0, Y11, Y0
	JMP pl_put8

pl_add8:
	VADDPS (DI)(R11*4), Y0, Y0

pl_put8:
	VMOVUPS Y0, (DI)(R11*4)
	ADDQ $8, R11
	JMP pl_loop8

pl_empty:
	CMPB add+68(FP), $0
	JNE pl_next
	VMOVUPS Y15, Y0
	CMPQ ep+72(FP), $0
	JEQ pl_fill
	VMULPS Y8, Y0, Y0
	VADDPS Y9, Y0, Y0
	VMAXPS Y0, Y10, Y0
	VMINPS Y0, Y11, Y0

pl_fill:
	CMPQ R11, CX
	JGE pl_next
	VMOVUPS Y0, (DI)(R11*4)
	ADDQ $8, R11
	JMP pl_fill

pl_next:
	ADDQ DX, DI
	ADDQ $8, R8
	DECQ R9
	JMP pl_pos

pl_done:
	VZEROUPPER
	RET

// func dwGradsAsm(acc, a, b *float32, n int, start *int, taps int, pairs *int)
//
// For each tap t < taps, pairs q in [start[t], start[t+1]) and i < n:
// acc[32t + i mod 32] += a[pairs[2q]+i]*b[pairs[2q+1]+i]. A tap's lanes
// 8k..8k+7 live in Y(k); block i/8 goes to Y((i/8) mod 4). Registers: DI
// the tap's acc, SI a, DX b, CX n, R8 &start[t], R9 taps left, R10
// &pairs[2q], R14 pairs left, R12 and R13 the pair's rows, R11 i, BX
// elements left.
TEXT ·dwGradsAsm(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ start+32(FP), R8
	MOVQ taps+40(FP), R9

dg_tap:
	TESTQ R9, R9
	JEQ dg_done
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ 0(R8), AX
	MOVQ 8(R8), R14
	SUBQ AX, R14
	SHLQ $4, AX
	MOVQ pairs+48(FP), R10
	ADDQ AX, R10

dg_pair:
	TESTQ R14, R14
	JEQ dg_store
	MOVQ 0(R10), R12
	MOVQ 8(R10), R13
	LEAQ (SI)(R12*4), R12
	LEAQ (DX)(R13*4), R13
	XORQ R11, R11

dg_loop32:
	MOVQ CX, BX
	SUBQ R11, BX
	CMPQ BX, $32
	JLT dg_rest
	VMOVUPS (R12)(R11*4), Y4
	VMOVUPS 32(R12)(R11*4), Y5
	VMOVUPS 64(R12)(R11*4), Y6
	VMOVUPS 96(R12)(R11*4), Y7
	VMULPS (R13)(R11*4), Y4, Y4
	VMULPS 32(R13)(R11*4), Y5, Y5
	VMULPS 64(R13)(R11*4), Y6, Y6
	VMULPS 96(R13)(R11*4), Y7, Y7
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	ADDQ $32, R11
	JMP dg_loop32

dg_rest:
	// At most three blocks of 8 are left: to Y0, Y1, Y2.
	CMPQ BX, $8
	JLT dg_nextpair
	VMOVUPS (R12)(R11*4), Y4
	VMULPS (R13)(R11*4), Y4, Y4
	VADDPS Y4, Y0, Y0
	CMPQ BX, $16
	JLT dg_nextpair
	VMOVUPS 32(R12)(R11*4), Y5
	VMULPS 32(R13)(R11*4), Y5, Y5
	VADDPS Y5, Y1, Y1
	CMPQ BX, $24
	JLT dg_nextpair
	VMOVUPS 64(R12)(R11*4), Y6
	VMULPS 64(R13)(R11*4), Y6, Y6
	VADDPS Y6, Y2, Y2

dg_nextpair:
	ADDQ $16, R10
	DECQ R14
	JMP dg_pair

dg_store:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $8, R8
	DECQ R9
	JMP dg_tap

dg_done:
	VZEROUPPER
	RET

// func sumLanesAsm(acc *[32]float32, x *float32, n int)
//
// For i < n: acc[i mod 32] += x[i]; lanes 8k..8k+7 live in Y(k), block
// i/8 goes to Y((i/8) mod 4).
TEXT ·sumLanesAsm(SB), NOSPLIT, $0-24
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	XORQ R11, R11

sl_loop32:
	MOVQ CX, BX
	SUBQ R11, BX
	CMPQ BX, $32
	JLT sl_rest
	VADDPS (SI)(R11*4), Y0, Y0
	VADDPS 32(SI)(R11*4), Y1, Y1
	VADDPS 64(SI)(R11*4), Y2, Y2
	VADDPS 96(SI)(R11*4), Y3, Y3
	ADDQ $32, R11
	JMP sl_loop32

sl_rest:
	CMPQ BX, $8
	JLT sl_done
	VADDPS (SI)(R11*4), Y0, Y0
	CMPQ BX, $16
	JLT sl_done
	VADDPS 32(SI)(R11*4), Y1, Y1
	CMPQ BX, $24
	JLT sl_done
	VADDPS 64(SI)(R11*4), Y2, Y2

sl_done:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VZEROUPPER
	RET

// func sum64Asm(acc *[16]float64, x *float32, n int, beta float32)
//
// For i < n (a multiple of 16): acc[i mod 16] += float64(x[i]+beta).
TEXT ·sum64Asm(SB), NOSPLIT, $0-28
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS beta+24(FP), Y14
	VMOVUPD 0(DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	SHRQ $4, CX
	JEQ s64_done

s64_loop:
	VADDPS 0(SI), Y14, Y8
	VADDPS 32(SI), Y14, Y9
	VCVTPS2PD X8, Y4
	VEXTRACTF128 $1, Y8, X5
	VCVTPS2PD X5, Y5
	VCVTPS2PD X9, Y6
	VEXTRACTF128 $1, Y9, X7
	VCVTPS2PD X7, Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	ADDQ $64, SI
	DECQ CX
	JNE s64_loop

s64_done:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func sqDev64Asm(acc *[16]float64, x *float32, n int, beta float32, mu float64)
//
// For i < n (a multiple of 16): d = float64(x[i]+beta) - mu;
// acc[i mod 16] += d*d.
TEXT ·sqDev64Asm(SB), NOSPLIT, $0-40
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS beta+24(FP), Y14
	VBROADCASTSD mu+32(FP), Y15
	VMOVUPD 0(DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	SHRQ $4, CX
	JEQ sq_done

sq_loop:
	VADDPS 0(SI), Y14, Y8
	VADDPS 32(SI), Y14, Y9
	VCVTPS2PD X8, Y4
	VEXTRACTF128 $1, Y8, X5
	VCVTPS2PD X5, Y5
	VCVTPS2PD X9, Y6
	VEXTRACTF128 $1, Y9, X7
	VCVTPS2PD X7, Y7
	VSUBPD Y15, Y4, Y4
	VSUBPD Y15, Y5, Y5
	VSUBPD Y15, Y6, Y6
	VSUBPD Y15, Y7, Y7
	VMULPD Y4, Y4, Y4
	VMULPD Y5, Y5, Y5
	VMULPD Y6, Y6, Y6
	VMULPD Y7, Y7, Y7
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	ADDQ $64, SI
	DECQ CX
	JNE sq_loop

sq_done:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func bnNormAsm(xh, out, x *float32, n int, p *[7]float32, hasBeta bool)
//
// v = x (+ beta when hasBeta); h = (v-mu)*inv; xh = h;
// out = min(hi, max(lo, sc*h + sh)). MAXPS and MINPS return their second
// source when the comparison fails, so with y second a NaN y passes
// through and y = lo (or hi) keeps y's sign of zero, as clamp does.
TEXT ·bnNormAsm(SB), NOSPLIT, $0-41
	MOVQ xh+0(FP), DI
	MOVQ out+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), R8
	MOVBLZX hasBeta+40(FP), AX
	VBROADCASTSS 0(R8), Y10
	VBROADCASTSS 4(R8), Y11
	VBROADCASTSS 8(R8), Y12
	VBROADCASTSS 12(R8), Y13
	VBROADCASTSS 16(R8), Y14
	VBROADCASTSS 20(R8), Y15
	VBROADCASTSS 24(R8), Y9
	XORQ R11, R11

bn_loop:
	CMPQ R11, CX
	JGE bn_done
	VMOVUPS (SI)(R11*4), Y0
	TESTQ AX, AX
	JEQ bn_nobeta
	VADDPS Y9, Y0, Y0

bn_nobeta:
	VSUBPS Y10, Y0, Y0
	VMULPS Y11, Y0, Y0
	VMOVUPS Y0, (DI)(R11*4)
	VMULPS Y12, Y0, Y1
	VADDPS Y13, Y1, Y1
	VMAXPS Y1, Y14, Y1
	VMINPS Y1, Y15, Y1
	VMOVUPS Y1, (DX)(R11*4)
	ADDQ $8, R11
	JMP bn_loop

bn_done:
	VZEROUPPER
	RET

// func affineClampAsm(out, x *float32, n int, p *[5]float32, hasBeta bool)
//
// out = min(hi, max(lo, a*(x (+ beta when hasBeta)) + b)), clamped as
// bnNormAsm clamps.
TEXT ·affineClampAsm(SB), NOSPLIT, $0-33
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ p+24(FP), R8
	MOVBLZX hasBeta+32(FP), AX
	VBROADCASTSS 0(R8), Y12
	VBROADCASTSS 4(R8), Y13
	VBROADCASTSS 8(R8), Y14
	VBROADCASTSS 12(R8), Y15
	VBROADCASTSS 16(R8), Y11
	XORQ R11, R11

ac_loop16:
	MOVQ CX, BX
	SUBQ R11, BX
	CMPQ BX, $16
	JLT ac_loop8
	VMOVUPS (SI)(R11*4), Y0
	VMOVUPS 32(SI)(R11*4), Y1
	TESTQ AX, AX
	JEQ ac_nobeta16
	VADDPS Y11, Y0, Y0
	VADDPS Y11, Y1, Y1

ac_nobeta16:
	VMULPS Y12, Y0, Y0
	VMULPS Y12, Y1, Y1
	VADDPS Y13, Y0, Y0
	VADDPS Y13, Y1, Y1
	VMAXPS Y0, Y14, Y0
	VMAXPS Y1, Y14, Y1
	VMINPS Y0, Y15, Y0
	VMINPS Y1, Y15, Y1
	VMOVUPS Y0, (DI)(R11*4)
	VMOVUPS Y1, 32(DI)(R11*4)
	ADDQ $16, R11
	JMP ac_loop16

ac_loop8:
	CMPQ R11, CX
	JGE ac_done
	VMOVUPS (SI)(R11*4), Y0
	TESTQ AX, AX
	JEQ ac_nobeta8
	VADDPS Y11, Y0, Y0

ac_nobeta8:
	VMULPS Y12, Y0, Y0
	VADDPS Y13, Y0, Y0
	VMAXPS Y0, Y14, Y0
	VMINPS Y0, Y15, Y0
	VMOVUPS Y0, (DI)(R11*4)
	ADDQ $8, R11
	JMP ac_loop8

ac_done:
	VZEROUPPER
	RET

// func bnGradSumsAsm(acc *[16]float64, dy, xh *float32, n int, p *[4]float32, masked bool)
//
// For i < n: g = dy[i], or +0 when masked and the BatchNorm output
// y = sc*xh[i] + sh is not strictly between lo and hi (the masks of the
// two comparisons, ANDed, AND the gradient); acc[i mod 8] += float64(g);
// acc[8 + i mod 8] += float64(g)*float64(xh[i]).
TEXT ·bnGradSumsAsm(SB), NOSPLIT, $0-41
	MOVQ acc+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ xh+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), R8
	MOVBLZX masked+40(FP), AX
	VBROADCASTSS 0(R8), Y12
	VBROADCASTSS 4(R8), Y13
	VBROADCASTSS 8(R8), Y14
	VBROADCASTSS 12(R8), Y15
	VMOVUPD 0(DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	XORQ R11, R11

gs_loop:
	CMPQ R11, CX
	JGE gs_done
	VMOVUPS (SI)(R11*4), Y4
	VMOVUPS (DX)(R11*4), Y5
	TESTQ AX, AX
	JEQ gs_sum
	VMULPS Y12, Y5, Y6
	VADDPS Y13, Y6, Y6
	VCMPPS $1, Y6, Y14, Y7
	VCMPPS $1, Y15, Y6, Y8
	VANDPS Y7, Y8, Y7
	VANDPS Y7, Y4, Y4

gs_sum:
	VCVTPS2PD X4, Y6
	VEXTRACTF128 $1, Y4, X7
	VCVTPS2PD X7, Y7
	VCVTPS2PD X5, Y8
	VEXTRACTF128 $1, Y5, X9
	VCVTPS2PD X9, Y9
	VADDPD Y6, Y0, Y0
	VADDPD Y7, Y1, Y1
	VMULPD Y8, Y6, Y6
	VMULPD Y9, Y7, Y7
	VADDPD Y6, Y2, Y2
	VADDPD Y7, Y3, Y3
	ADDQ $8, R11
	JMP gs_loop

gs_done:
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VZEROUPPER
	RET

// func bnGradInputAsm(dx, dy, xh *float32, n int, k *[3]float64, p *[4]float32, masked, add bool)
//
// For i < n: g as in bnGradSumsAsm; v = float32(k*((float64(g) - mg) -
// float64(xh[i])*mgx)); dx[i] = v, or dx[i] = dx[i] + v when add.
TEXT ·bnGradInputAsm(SB), NOSPLIT, $0-50
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ xh+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ k+32(FP), R9
	MOVQ p+40(FP), R8
	MOVBLZX masked+48(FP), AX
	MOVBLZX add+49(FP), BX
	VBROADCASTSD 0(R9), Y9
	VBROADCASTSD 8(R9), Y10
	VBROADCASTSD 16(R9), Y11
	VBROADCASTSS 0(R8), Y12
	VBROADCASTSS 4(R8), Y13
	VBROADCASTSS 8(R8), Y14
	VBROADCASTSS 12(R8), Y15
	XORQ R11, R11

gi_loop:
	CMPQ R11, CX
	JGE gi_done
	VMOVUPS (SI)(R11*4), Y4
	VMOVUPS (DX)(R11*4), Y5
	TESTQ AX, AX
	JEQ gi_calc
	VMULPS Y12, Y5, Y6
	VADDPS Y13, Y6, Y6
	VCMPPS $1, Y6, Y14, Y7
	VCMPPS $1, Y15, Y6, Y8
	VANDPS Y7, Y8, Y7
	VANDPS Y7, Y4, Y4

gi_calc:
	VCVTPS2PD X4, Y0
	VCVTPS2PD X5, Y1
	VEXTRACTF128 $1, Y4, X2
	VCVTPS2PD X2, Y2
	VEXTRACTF128 $1, Y5, X3
	VCVTPS2PD X3, Y3
	VSUBPD Y10, Y0, Y0
	VSUBPD Y10, Y2, Y2
	VMULPD Y11, Y1, Y1
	VMULPD Y11, Y3, Y3
	VSUBPD Y1, Y0, Y0
	VSUBPD Y3, Y2, Y2
	VMULPD Y9, Y0, Y0
	VMULPD Y9, Y2, Y2
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y2, X2
	VINSERTF128 $1, X2, Y0, Y0
	TESTQ BX, BX
	JEQ gi_put
	VADDPS (DI)(R11*4), Y0, Y0

gi_put:
	VMOVUPS Y0, (DI)(R11*4)
	ADDQ $8, R11
	JMP gi_loop

gi_done:
	VZEROUPPER
	RET
