package finetune

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSGD32KernelMatchesGo checks that sgd32 gives the same bits with the
// assembly kernel and with the Go loop alone, for lengths around the
// kernel's block of 8.
func TestSGD32KernelMatchesGo(t *testing.T) {
	if !useSGDAsm {
		t.Skip("no assembly kernel here")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{1, 7, 8, 9, 16, 23, 64, 1000} {
		w, g, v := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
			g[i] = float32(rng.NormFloat64() * 1e-3)
			v[i] = float32(rng.NormFloat64() * 1e-2)
		}
		w2, v2 := slices.Clone(w), slices.Clone(v)
		sgd32(w, g, v, 0.01, 0.9, 1e-4)
		useSGDAsm = false
		sgd32(w2, g, v2, 0.01, 0.9, 1e-4)
		useSGDAsm = true
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(w2[i]) || math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
				t.Fatalf("n=%d: element %d differs: asm %v %v, Go %v %v", n, i, w[i], v[i], w2[i], v2[i])
			}
		}
	}
}
