package finetune

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/models/tail"
)

// benchPretrained returns the default backbone's blocks 13-16 (cut at
// block_12_add, 6×6×96 inputs at 96×96) with BatchNorms calibrated on
// random activations, and n random activations: the set-up of
// /work/shared/bench/torch_tail.py with 'bn', to compare like with like.
func benchPretrained(b *testing.B, n int) (*Pretrained, Activations, []int) {
	b.Helper()
	path := filepath.Join("..", "..", "third_party", "models", models.DefaultModel+".onnx")
	m, err := onnxgraph.ReadFile(path)
	if err != nil {
		b.Fatalf("default backbone (run make setup): %v", err)
	}
	tl, err := m.Cut("block_12_add", []string{"pool_blocks_10_13_16"})
	if err != nil {
		b.Fatal(err)
	}
	net, err := tail.New(tl, []int{96, 6, 6}, [][]int{{96}})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	acts := func(rows int) Activations {
		a := Activations{Rows: rows, X: make([]float32, rows*96*36), Frozen: [][]float32{make([]float32, rows*96)}}
		for i := range a.X {
			a.X[i] = float32(rng.NormFloat64())
		}
		for i := range a.Frozen[0] {
			a.Frozen[0][i] = float32(rng.NormFloat64())
		}
		return a
	}
	pre, err := Prepare(net, acts(512), PrepareOptions{})
	if err != nil {
		b.Fatal(err)
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	return pre, acts(n), y
}

// BenchmarkTailTrain fine-tunes (FT) blocks 13-16 with BatchNorm and a
// 10-class head on 1,000 samples, batch 64, one epoch per iteration:
// samples·epochs/s as torch_tail.py's "train" figure.
func BenchmarkTailTrain(b *testing.B) {
	const rows = 1000
	pre, a, y := benchPretrained(b, rows)
	r := DefaultRecipe(MethodFT)
	r.Epochs = 1
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Train(pre, r, a, y, 10); err != nil {
			b.Fatal(err)
		}
	}
	// Train also predicts the training set once at the end (an eval
	// forward of 1,000 samples); it is counted in the time.
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "samples·epochs/s")
}

// BenchmarkTailTrain5 is BenchmarkTailTrain with 5 epochs per Train call,
// as torch_tail.py times 5 epochs: the final predict of the training set
// weighs a fifth as much.
func BenchmarkTailTrain5(b *testing.B) {
	const rows, epochs = 1000, 5
	pre, a, y := benchPretrained(b, rows)
	r := DefaultRecipe(MethodFT)
	r.Epochs = epochs
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := Train(pre, r, a, y, 10); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*epochs*b.N)/b.Elapsed().Seconds(), "samples·epochs/s")
}

// BenchmarkTailFeatures computes the pretrained features of 2,560 samples
// with Pretrained.Features, the path by which the re-aligned features of a
// whole cached set are computed (256-sample blocks, input checks
// included): images/s, and the seconds 70,000 samples would take.
func BenchmarkTailFeatures(b *testing.B) {
	const rows = 2560
	pre, a, _ := benchPretrained(b, rows)
	b.ResetTimer()
	for b.Loop() {
		if _, err := pre.Features(a); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(rows*b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "images/s")
	b.ReportMetric(70000/rate, "s/70k")
}

// BenchmarkTailForward runs blocks 13-16 with BatchNorm in eval mode on
// batches of 256: images/s as torch_tail.py's "forward" figure.
func BenchmarkTailForward(b *testing.B) {
	const rows = 256
	pre, a, _ := benchPretrained(b, rows)
	net := pre.net.Clone()
	b.ResetTimer()
	for b.Loop() {
		if _, err := net.Forward(a.X, a.Frozen, rows, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "images/s")
}
