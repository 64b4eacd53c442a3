package nn

import (
	"testing"
	"time"
)

var fmnistMethods = []string{MethodLP, MethodFT, MethodLPFT}

// fmnistCompare trains LP, FT and LP-FT (default recipes) on the first 500
// Fashion-MNIST training images (raw pixels / 255) for each seed, and
// returns each method's accuracy on the first 2,000 test images per seed.
func fmnistCompare(tb testing.TB, seeds []uint64) map[string][]float64 {
	tb.Helper()
	const nTrain, nTest = 500, 2000
	xTr, yTr, dim := loadFMNIST(tb, "train", nTrain)
	xTe, yTe, _ := loadFMNIST(tb, "t10k", nTest)
	acc := map[string][]float64{}
	for _, m := range fmnistMethods {
		for _, s := range seeds {
			r := DefaultRecipe(m)
			r.Seed = s
			start := time.Now()
			net, st, err := Train(r, xTr, nTrain, dim, yTr, 10)
			if err != nil {
				tb.Fatal(err)
			}
			a := testAccuracy(net.Predict(xTe, nTest), yTe, 10)
			acc[m] = append(acc[m], a)
			tb.Logf("%-4s seed %d: train acc %.3f, test acc %.4f, final loss %.4f, %v",
				m, s, st.TrainAcc, a, st.FinalLoss(), time.Since(start).Round(time.Millisecond))
		}
	}
	return acc
}

// TestFashionMNISTMethods checks that every method learns real images
// (500 labels, 10 classes: a linear probe on pixels reaches about 0.78),
// and that LP-FT is not worse than FT by more than a point. Over seeds
// 1, 2, 3 (BenchmarkFashionMNISTMethods) LP-FT was ahead of FT on each seed,
// by 0.05 to 0.15 points.
func TestFashionMNISTMethods(t *testing.T) {
	acc := fmnistCompare(t, []uint64{1})
	for _, m := range fmnistMethods {
		if acc[m][0] < 0.75 {
			t.Errorf("%s: test accuracy %.4f, want >= 0.75", m, acc[m][0])
		}
	}
	if acc[MethodLPFT][0] < acc[MethodFT][0]-0.01 {
		t.Errorf("lpft %.4f is more than 0.01 below ft %.4f", acc[MethodLPFT][0], acc[MethodFT][0])
	}
}

// BenchmarkFashionMNISTMethods reports the mean test accuracy of LP, FT
// and LP-FT over three seeds (one iteration is enough: -benchtime=1x).
func BenchmarkFashionMNISTMethods(b *testing.B) {
	for b.Loop() {
		acc := fmnistCompare(b, []uint64{1, 2, 3})
		for _, m := range fmnistMethods {
			b.ReportMetric(mean(acc[m]), m+"_acc")
		}
	}
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
