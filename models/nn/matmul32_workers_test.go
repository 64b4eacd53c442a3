package nn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMatMul32WorkersSameBits checks that MatMul32Workers gives
// MatMul32's bits whatever the number of workers.
func TestMatMul32WorkersSameBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	const m, n, k = 130, 200, 70
	a, b := rand32(rng, m*k), rand32(rng, k*n)
	want := make([]float32, m*n)
	MatMul32(true, false, m, n, k, a, m, b, n, want, n, false)
	for _, w := range []int{0, 1, 2, 5} {
		got := make([]float32, m*n)
		MatMul32Workers(w, true, false, m, n, k, a, m, b, n, got, n, false)
		if !slices.Equal(got, want) {
			t.Errorf("%d workers: product differs from MatMul32's", w)
		}
	}
}
