package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMatMulMatchesLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	for _, tc := range []struct {
		m, n, k        int
		transA, transB bool
	}{{7, 5, 3, false, false}, {13, 9, 17, true, false}, {4, 11, 6, false, true}, {20, 3, 33, true, true}} {
		a, b := rnd(tc.m*tc.k), rnd(tc.k*tc.n)
		at := func(i, p int) float64 { // op(A)[i][p]
			if tc.transA {
				return a[p*tc.m+i]
			}
			return a[i*tc.k+p]
		}
		bt := func(p, j int) float64 {
			if tc.transB {
				return b[j*tc.k+p]
			}
			return b[p*tc.n+j]
		}
		lda, ldb := tc.k, tc.n
		if tc.transA {
			lda = tc.m
		}
		if tc.transB {
			ldb = tc.k
		}
		c := rnd(tc.m * tc.n)
		c0 := append([]float64(nil), c...)
		MatMul(tc.transA, tc.transB, tc.m, tc.n, tc.k, a, lda, b, ldb, c, tc.n, true)
		for i := range tc.m {
			for j := range tc.n {
				want := c0[i*tc.n+j]
				for p := range tc.k {
					want += at(i, p) * bt(p, j)
				}
				if math.Abs(c[i*tc.n+j]-want) > 1e-9*(1+math.Abs(want)) {
					t.Fatalf("%+v: C[%d][%d] = %g, want %g", tc, i, j, c[i*tc.n+j], want)
				}
			}
		}
	}
}
