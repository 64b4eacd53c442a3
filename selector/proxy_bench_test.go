package selector

import (
	"testing"
)

// BenchmarkTrainProxyMLP trains the default mlp proxy (Linear(D,D)-BN-ReLU-
// Linear(D,C), 50 epochs) on 1,000 × 576 synthetic rows over 10 classes:
// the proxy the simulator retrains every round.
func BenchmarkTrainProxyMLP(b *testing.B) {
	const n, d, c = 1000, 576, 10
	X, y := SyntheticMixture(n, d, c, 7)
	cfg := DefaultProxyConfig("mlp")
	for b.Loop() {
		if _, err := TrainProxy(cfg, X, y, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainProxyLinear trains the default linear proxy (L-BFGS, at
// most 100 iterations) on 5,000 × 784 synthetic rows over 10 classes.
func BenchmarkTrainProxyLinear(b *testing.B) {
	const n, d, c = 5000, 784, 10
	X, y := SyntheticMixture(n, d, c, 7)
	cfg := DefaultProxyConfig("linear")
	for b.Loop() {
		if _, err := TrainProxy(cfg, X, y, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrainProxyLinearFMNIST trains the linear proxy as
// bench/selector/run.sh does: 5,000 raw Fashion-MNIST training images
// (784 pixels/255, no standardisation), L2 1e-4, at most 100 iterations.
func BenchmarkTrainProxyLinearFMNIST(b *testing.B) {
	X, y := loadFMNIST(b, "train", 5000, 1)
	cfg := DefaultProxyConfig("linear")
	cfg.Standardize = false
	for b.Loop() {
		if _, err := TrainProxy(cfg, X, y, 10); err != nil {
			b.Fatal(err)
		}
	}
}
