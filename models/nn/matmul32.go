package nn

import "fmt"

// MatMul32 is MatMul for float32 data: C = op(A)·op(B), or C += op(A)·op(B)
// when accumulate is true. Shapes, strides and transposes are as for
// MatMul. It is the product behind the convolutional tail's layers; the
// engine is gemm32 (gemm32.go), a packed GEMM with an AVX2/FMA micro-kernel
// where the CPU has one.
//
// Determinism: every element of the product is one float32 accumulator
// that starts at zero and takes acc = fma(A[i,p], B[p,j], acc) for p = 0,
// 1, ..., k-1 in that order, then is stored (or added to C). Each fma is a
// true fused multiply-add, rounded once to float32, on every path: the
// AVX2 kernel's VFMADD231PS and the portable kernel's fma32 give the same
// bits (NaN payloads aside). No element's
// sum is split, so the result does not depend on tiling, on goroutines, on
// GOMAXPROCS, or on the other rows of A. A and B are not modified and must
// not overlap C. It runs on up to GOMAXPROCS goroutines.
func MatMul32(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	if as, bs, ok := matMul32Args(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); ok {
		gemm32(m, n, k, as, bs, c, ldc, accumulate)
	}
}

// MatMul32Workers is MatMul32 on up to workers goroutines (the calling
// one alone when workers <= 1), for callers that share the cores out
// themselves. The result does not depend on workers.
func MatMul32Workers(workers int, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	if as, bs, ok := matMul32Args(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); ok {
		gemm32Workers(workers, m, n, k, as, bs, c, ldc, accumulate)
	}
}

// matMul32Args checks MatMul32's arguments (it panics on bad ones) and
// returns the views of A and B, and false when C is empty.
func matMul32Args(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (as, bs strided32, ok bool) {
	if m < 0 || n < 0 || k < 0 || ldc < n {
		panic(fmt.Sprintf("nn: MatMul32 bad shape m=%d n=%d k=%d ldc=%d", m, n, k, ldc))
	}
	if m == 0 || n == 0 {
		return as, bs, false
	}
	// The slices must hold the matrices they are said to hold: the packing
	// runs on other goroutines, where an index panic could not be
	// recovered by the caller, and the assembly kernel writes whole tiles
	// of C unchecked.
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	if !fits32(len(a), ra, ca, lda) || !fits32(len(b), rb, cb, ldb) || !fits32(len(c), m, n, ldc) {
		panic(fmt.Sprintf("nn: MatMul32 bad shape m=%d n=%d k=%d: len(a)=%d lda=%d, len(b)=%d ldb=%d, len(c)=%d ldc=%d",
			m, n, k, len(a), lda, len(b), ldb, len(c), ldc))
	}
	as = strided32{data: a, rs: lda, cs: 1}
	if transA {
		as = strided32{data: a, rs: 1, cs: lda}
	}
	bs = strided32{data: b, rs: ldb, cs: 1}
	if transB {
		bs = strided32{data: b, rs: 1, cs: ldb}
	}
	return as, bs, true
}

// fits32 reports whether a slice of length size holds a rows×cols
// row-major matrix with row stride ld.
func fits32(size, rows, cols, ld int) bool {
	if rows == 0 || cols == 0 {
		return ld >= 0
	}
	return ld >= cols && (rows-1)*ld+cols <= size
}
