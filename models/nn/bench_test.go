package nn

import (
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
