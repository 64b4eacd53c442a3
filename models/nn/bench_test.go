package nn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTrain fine-tunes (FT, default recipe) on 1,000 labelled
// 576-d samples of 10 classes.
func BenchmarkTrain(b *testing.B) {
	const rows, dim, c = 1000, 576, 10
	x, y := blobs(rows, dim, c, 1, 1)
	r := DefaultRecipe(MethodFT)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Train(r, x, rows, dim, y, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*r.Epochs*b.N)/b.Elapsed().Seconds(), "samples·epochs/s")
}

// BenchmarkEmbed60k maps 60,000 576-d samples through a trained adapter.
func BenchmarkEmbed60k(b *testing.B) {
	const rows, dim, c = 60000, 576, 10
	x, y := blobs(rows, dim, c, 1, 2)
	r := DefaultRecipe(MethodFT)
	r.Epochs = 1
	net, _, err := Train(r, x[:1000*dim], 1000, dim, y[:1000], c)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, len(x))
	b.ResetTimer()
	for b.Loop() {
		net.Embed(x, rows, dst)
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "samples/s")
}

// matMulShapes are the products of the MobileNetV2 convolutional tail
// fine-tuned from cached activations at batch 64: 1x1 convolutions as
// GEMMs over m = 64·36 or 64·9 pixels (forward x·Wᵀ, input gradient g·W,
// weight gradient gᵀ·x with k = the pixels) and a 10-class head.
var matMulShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"fwd_2304x960x160_NT", false, true, 2304, 960, 160},
	{"fwd_2304x160x960_NT", false, true, 2304, 160, 960},
	{"fwd_2304x320x960_NT", false, true, 2304, 320, 960},
	{"fwd_576x576x96_NT", false, true, 576, 576, 96},
	{"fwd_576x160x576_NT", false, true, 576, 160, 576},
	{"dx_2304x160x960_NN", false, false, 2304, 160, 960},
	{"dx_576x96x576_NN", false, false, 576, 96, 576},
	{"dW_960x160x2304_TN", true, false, 960, 160, 2304},
	{"dW_320x960x2304_TN", true, false, 320, 960, 2304},
	{"dW_576x96x576_TN", true, false, 576, 96, 576},
	{"both_960x160x576_TT", true, true, 960, 160, 576},
	{"head_64x10x960_NT", false, true, 64, 10, 960},
	{"head_dW_10x960x64_TN", true, false, 10, 960, 64},
	{"head_dx_64x960x10_NN", false, false, 64, 960, 10},
}

// matMulLeads returns the leading dimensions of op(A) m×k and op(B) k×n
// stored densely.
func matMulLeads(transA, transB bool, m, n, k int) (lda, ldb int) {
	lda, ldb = k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	return lda, ldb
}

// BenchmarkMatMul32 times MatMul32 on the tail's shapes.
func BenchmarkMatMul32(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range matMulShapes {
		b.Run(s.name, func(b *testing.B) {
			lda, ldb := matMulLeads(s.transA, s.transB, s.m, s.n, s.k)
			a, bm, c := rand32(rng, s.m*s.k), rand32(rng, s.k*s.n), make([]float32, s.m*s.n)
			for b.Loop() {
				MatMul32(s.transA, s.transB, s.m, s.n, s.k, a, lda, bm, ldb, c, s.n, false)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatMul times the float64 MatMul on the same shapes, for
// reference.
func BenchmarkMatMul(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range matMulShapes {
		b.Run(s.name, func(b *testing.B) {
			lda, ldb := matMulLeads(s.transA, s.transB, s.m, s.n, s.k)
			a, bm, c := randMatrix(rng, s.m, s.k).Data, randMatrix(rng, s.k, s.n).Data, make([]float64, s.m*s.n)
			for b.Loop() {
				MatMul(s.transA, s.transB, s.m, s.n, s.k, a, lda, bm, ldb, c, s.n, false)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatMul32GoKernel times MatMul32 with the portable micro-kernel
// and packers forced, on two of the tail's shapes, to show what CPUs
// without AVX2/FMA get.
func BenchmarkMatMul32GoKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range matMulShapes {
		if s.name != "fwd_576x160x576_NT" && s.name != "dW_576x96x576_TN" {
			continue
		}
		b.Run(s.name, func(b *testing.B) {
			lda, ldb := matMulLeads(s.transA, s.transB, s.m, s.n, s.k)
			a, bm, c := rand32(rng, s.m*s.k), rand32(rng, s.k*s.n), make([]float32, s.m*s.n)
			withGoKernel(func() {
				for b.Loop() {
					MatMul32(s.transA, s.transB, s.m, s.n, s.k, a, lda, bm, ldb, c, s.n, false)
				}
			})
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
