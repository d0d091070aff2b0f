#include "textflag.h"

// The kernels of value_amd64.go. Each keeps the 64-bit patterns of the next
// elements in 4-lane vectors and per 32 bytes narrows them (shifts, and a
// blend or an OR), stores or compares, and adds a multiple of the stride:
// no multiplication, and no dependency between the stores but the additions.

// LANES sets y (whose low half is xlo) to (v, v+step, v+2*step, v+3*step),
// mod 2^64, with t and xhi as scratch.
#define LANES(v, step, t, xlo, xhi, y) \
	VMOVQ v, xlo \
	LEAQ (v)(step*1), t \
	VPINSRQ $1, t, xlo, xlo \
	LEAQ (v)(step*2), t \
	VMOVQ t, xhi \
	ADDQ step, t \
	VPINSRQ $1, t, xhi, xhi \
	VINSERTI128 $1, xhi, y, y

// INT32 makes 8 int32 elements in r from a = (v, v+2s, v+4s, v+6s) and
// b = a+s: a>>33 in the low half of each 64-bit lane, b>>1 (whose high half is
// b>>33) in the high half. Then it moves a and b on by step (8s).
#define INT32(a, b, step, r, t) \
	VPSRLQ $33, a, r \
	VPSRLQ $1, b, t \
	VPBLENDD $0xaa, t, r, r \
	VPADDQ step, a, a \
	VPADDQ step, b, b

// INT64 makes 4 elements or | v>>sh in r from a = (v, v+s, v+2s, v+3s),
// with the count sh in X9 and or in every lane of Y10, then moves a on by
// step (4s).
#define INT64(a, step, r) \
	VPSRLQ X9, a, r \
	VPOR Y10, r, r \
	VPADDQ step, a, a

// START32 is the start of fill32AVX2 and check32AVX2 after p: CX =
// blocks, Y0 = (v, v+2s, v+4s, v+6s), Y1 = Y0+s and Y3 = 8s in every lane.
#define START32 \
	MOVQ blocks+8(FP), CX \
	MOVQ v+16(FP), AX \
	MOVQ stride+24(FP), BX \
	LEAQ (BX)(BX*1), DX \
	LANES(AX, DX, R8, X0, X1, Y0) \
	VMOVQ BX, X2 \
	VPBROADCASTQ X2, Y2 \
	VPADDQ Y2, Y0, Y1 \
	VPSLLQ $3, Y2, Y3

// START64 is the start of fill64AVX2 and check64AVX2 after p: CX =
// blocks, Y0 = (v, v+s, v+2s, v+3s), X9 = sh, Y10 = or and Y3 = 4s in every
// lane (what INT64 uses).
#define START64 \
	MOVQ blocks+8(FP), CX \
	MOVQ v+16(FP), AX \
	MOVQ stride+24(FP), BX \
	LANES(AX, BX, R8, X0, X1, Y0) \
	MOVQ sh+32(FP), R8 \
	VMOVQ R8, X9 \
	VPBROADCASTQ or+40(FP), Y10 \
	SHLQ $2, BX \
	VMOVQ BX, X3 \
	VPBROADCASTQ X3, Y3

// func fill32AVX2(p *byte, blocks int, v, stride uint64)
TEXT ·fill32AVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), DI
	START32
	TESTQ CX, CX
	JZ fill32done

fill32loop:
	INT32(Y0, Y1, Y3, Y4, Y5)
	VMOVDQU Y4, 0(DI)
	INT32(Y0, Y1, Y3, Y6, Y7)
	VMOVDQU Y6, 32(DI)
	INT32(Y0, Y1, Y3, Y4, Y5)
	VMOVDQU Y4, 64(DI)
	INT32(Y0, Y1, Y3, Y6, Y7)
	VMOVDQU Y6, 96(DI)
	ADDQ $128, DI
	DECQ CX
	JNZ fill32loop

fill32done:
	VZEROUPPER
	RET

// func check32AVX2(p *byte, blocks int, v, stride uint64) int
TEXT ·check32AVX2(SB), NOSPLIT, $0-40
	MOVQ p+0(FP), SI
	START32
	XORQ R9, R9

check32loop:
	CMPQ R9, CX
	JEQ check32done
	// The XOR of what is there and what should be, ORed over the block:
	// zero if the block matches.
	INT32(Y0, Y1, Y3, Y4, Y5)
	VPXOR 0(SI), Y4, Y4
	INT32(Y0, Y1, Y3, Y6, Y5)
	VPXOR 32(SI), Y6, Y6
	INT32(Y0, Y1, Y3, Y7, Y5)
	VPXOR 64(SI), Y7, Y7
	INT32(Y0, Y1, Y3, Y8, Y5)
	VPXOR 96(SI), Y8, Y8
	VPOR Y6, Y4, Y4
	VPOR Y8, Y7, Y7
	VPOR Y7, Y4, Y4
	VPTEST Y4, Y4
	JNZ check32done
	ADDQ $128, SI
	INCQ R9
	JMP check32loop

check32done:
	MOVQ R9, ret+32(FP)
	VZEROUPPER
	RET

// func fill64AVX2(p *byte, blocks int, v, stride, sh, or uint64)
TEXT ·fill64AVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	START64
	TESTQ CX, CX
	JZ fill64done

fill64loop:
	INT64(Y0, Y3, Y4)
	VMOVDQU Y4, 0(DI)
	INT64(Y0, Y3, Y5)
	VMOVDQU Y5, 32(DI)
	INT64(Y0, Y3, Y4)
	VMOVDQU Y4, 64(DI)
	INT64(Y0, Y3, Y5)
	VMOVDQU Y5, 96(DI)
	ADDQ $128, DI
	DECQ CX
	JNZ fill64loop

fill64done:
	VZEROUPPER
	RET

// func check64AVX2(p *byte, blocks int, v, stride, sh, or uint64) int
TEXT ·check64AVX2(SB), NOSPLIT, $0-56
	MOVQ p+0(FP), SI
	START64
	XORQ R9, R9

check64loop:
	CMPQ R9, CX
	JEQ check64done
	INT64(Y0, Y3, Y4)
	VPXOR 0(SI), Y4, Y4
	INT64(Y0, Y3, Y5)
	VPXOR 32(SI), Y5, Y5
	INT64(Y0, Y3, Y6)
	VPXOR 64(SI), Y6, Y6
	INT64(Y0, Y3, Y7)
	VPXOR 96(SI), Y7, Y7
	VPOR Y5, Y4, Y4
	VPOR Y7, Y6, Y6
	VPOR Y6, Y4, Y4
	VPTEST Y4, Y4
	JNZ check64done
	ADDQ $128, SI
	INCQ R9
	JMP check64loop

check64done:
	MOVQ R9, ret+48(FP)
	VZEROUPPER
	RET
