package nn

import "fmt"

// MatMul computes C = op(A)·op(B), or C += op(A)·op(B) when accumulate is
// true, with the package's deterministic tiled kernel (see gemm.go). op(A)
// is m×k and op(B) is k×n; C is m×n, row-major with row stride ldc. A is
// stored row-major with row stride lda as m×k, or as k×m when transA;
// likewise B as k×n, or n×k when transB. Every element of the product is
// summed in the order of the inner index, so results do not depend on
// GOMAXPROCS. A and B are not modified and must not overlap C. Other
// packages (the selector's proxies) use it for their own layers.
func MatMul(transA, transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int, accumulate bool) {
	if m < 0 || n < 0 || k < 0 || ldc < n {
		panic(fmt.Sprintf("nn: MatMul bad shape m=%d n=%d k=%d ldc=%d", m, n, k, ldc))
	}
	if m == 0 || n == 0 {
		return
	}
	as := strided{data: a, rs: lda, cs: 1}
	if transA {
		as = strided{data: a, rs: 1, cs: lda}
	}
	bs := strided{data: b, rs: ldb, cs: 1}
	if transB {
		bs = strided{data: b, rs: 1, cs: ldb}
	}
	gemm(m, n, k, as, bs, c, ldc, accumulate)
}
