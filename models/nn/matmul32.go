package nn

import (
	"fmt"
	"math"
)

// MatMul32 is MatMul for float32 data: C = op(A)·op(B), or C += op(A)·op(B)
// when accumulate is true. Shapes, strides and transposes are as for
// MatMul. It is the product behind the convolutional tail's layers.
//
// Determinism: every element of the product is one float32 accumulator
// that starts at zero and takes acc = fma(A[i,p], B[p,j], acc) for p = 0,
// 1, ..., k-1 in that order, then is stored (or added to C). No element's
// sum is split, so the result does not depend on tiling, on goroutines, on
// GOMAXPROCS, or on the other rows of A. A and B are not modified and must
// not overlap C.
func MatMul32(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	if m < 0 || n < 0 || k < 0 || ldc < n {
		panic(fmt.Sprintf("nn: MatMul32 bad shape m=%d n=%d k=%d ldc=%d", m, n, k, ldc))
	}
	if m == 0 || n == 0 {
		return
	}
	ars, acs := lda, 1
	if transA {
		ars, acs = 1, lda
	}
	brs, bcs := ldb, 1
	if transB {
		brs, bcs = 1, ldb
	}
	matMul32Go(m, n, k, a, ars, acs, b, brs, bcs, c, ldc, accumulate)
}

// matMul32Go is the portable reference implementation of MatMul32.
func matMul32Go(m, n, k int, a []float32, ars, acs int, b []float32, brs, bcs int, c []float32, ldc int, accumulate bool) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var acc float32
			for p := 0; p < k; p++ {
				acc = fma32(a[i*ars+p*acs], b[p*brs+j*bcs], acc)
			}
			if accumulate {
				c[i*ldc+j] += acc
			} else {
				c[i*ldc+j] = acc
			}
		}
	}
}

// fma32 returns x*y + acc rounded to float32. The product of two float32
// values is exact in float64, so the only roundings are the float64 sum and
// its conversion to float32.
func fma32(x, y, acc float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(acc)))
}
