package selector

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/fmnisttest"
)

// loadFMNIST returns the first n images of a split as pixels/255 (pooled by
// pool×pool averaging when pool > 1) and their labels.
func loadFMNIST(t testing.TB, split string, n, pool int) (*features.Matrix, []int) {
	t.Helper()
	px, lb := fmnisttest.Pixels(t, map[string]string{"train": "fashion-mnist:train", "t10k": "fashion-mnist:test"}[split], n)
	h, w := 28, 28
	oh, ow := h/pool, w/pool
	m := features.NewMatrix(n, oh*ow)
	y := make([]int, n)
	for i := range n {
		img := px[i*h*w : (i+1)*h*w]
		row := m.Row(i)
		for r := range oh {
			for c := range ow {
				var s float32
				for dr := range pool {
					for dc := range pool {
						s += float32(img[(r*pool+dr)*w+c*pool+dc])
					}
				}
				row[r*ow+c] = s / float32(255*pool*pool)
			}
		}
		y[i] = lb[i]
		m.IDs[i] = fmt.Sprintf("%s-%d", split, i)
	}
	return m, y
}

// blobs returns n rows of d features drawn around c well separated class
// means, with labels.
func blobs(seed uint64, n, d, c int, spread float64) (*features.Matrix, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	means := make([][]float64, c)
	for k := range means {
		means[k] = make([]float64, d)
		for j := range means[k] {
			means[k][j] = rng.NormFloat64() * 4
		}
	}
	m := features.NewMatrix(n, d)
	y := make([]int, n)
	for i := range n {
		y[i] = i % c
		for j := range d {
			m.Data[i*d+j] = float32(means[y[i]][j] + spread*rng.NormFloat64())
		}
		m.IDs[i] = fmt.Sprintf("s%05d", i)
	}
	return m, y
}

func TestProxySeparable(t *testing.T) {
	Xtr, ytr := blobs(7, 600, 8, 4, 1)
	Xte, yte := blobs(7, 400, 8, 4, 1) // same means (same seed stream), fresh noise below
	rng := rand.New(rand.NewPCG(99, 2))
	for i := range Xte.Data {
		Xte.Data[i] += float32(0.3 * rng.NormFloat64())
	}
	for _, kind := range []string{"linear", "mlp"} {
		t.Run(kind, func(t *testing.T) {
			p, err := TrainProxy(DefaultProxyConfig(kind), Xtr, ytr, 4)
			if err != nil {
				t.Fatal(err)
			}
			if acc := Accuracy(p, Xte, yte); acc < 0.98 {
				t.Errorf("accuracy %.3f < 0.98", acc)
			}
			probs := Predict(p, Xte)
			for i := range Xte.Rows {
				var s float64
				for _, v := range probs[i*4 : (i+1)*4] {
					s += float64(v)
				}
				if math.Abs(s-1) > 1e-4 {
					t.Fatalf("row %d probabilities sum to %v", i, s)
				}
			}
		})
	}
}

func TestProxyFashionMNIST(t *testing.T) {
	tests := []struct {
		kind    string
		pool    int
		ntrain  int
		epochs  int
		minAcc  float64
		std     bool
		comment string
	}{
		{"linear", 1, 5000, 0, 0.80, false, "raw 784 pixels/255"},
		{"mlp", 2, 2000, 15, 0.78, true, "14x14 average-pooled pixels, keeps the test fast"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			Xtr, ytr := loadFMNIST(t, "train", tc.ntrain, tc.pool)
			Xte, yte := loadFMNIST(t, "t10k", 2000, tc.pool)
			cfg := DefaultProxyConfig(tc.kind)
			cfg.Standardize = tc.std
			if tc.epochs > 0 {
				cfg.Epochs = tc.epochs
			}
			p, err := TrainProxy(cfg, Xtr, ytr, 10)
			if err != nil {
				t.Fatal(err)
			}
			acc := Accuracy(p, Xte, yte)
			t.Logf("%s (%s): test accuracy %.4f", tc.kind, tc.comment, acc)
			if acc < tc.minAcc {
				t.Errorf("accuracy %.4f < %.2f", acc, tc.minAcc)
			}
		})
	}
}

func TestProxyDeterministic(t *testing.T) {
	X, y := blobs(3, 300, 6, 3, 2)
	for _, kind := range []string{"linear", "mlp"} {
		t.Run(kind, func(t *testing.T) {
			cfg := DefaultProxyConfig(kind)
			cfg.Seed = 11
			cfg.Epochs = 20
			snap := func(p Proxy) []float32 {
				switch q := p.(type) {
				case *linearProxy:
					return slices.Concat(q.w, q.b)
				case *mlpProxy:
					return slices.Concat(q.w1, q.b1, q.w2, q.b2)
				}
				t.Fatalf("unexpected proxy %T", p)
				return nil
			}
			orig := slices.Clone(X.Data)
			a, err := TrainProxy(cfg, X, y, 3)
			if err != nil {
				t.Fatal(err)
			}
			b, err := TrainProxy(cfg, X, y, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(X.Data, orig) {
				t.Fatal("TrainProxy modified its input")
			}
			if !slices.Equal(snap(a), snap(b)) {
				t.Error("same seed gave different weights")
			}
			if kind == "mlp" {
				cfg.Seed = 12
				c, err := TrainProxy(cfg, X, y, 3)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Equal(snap(a), snap(c)) {
					t.Error("different seeds gave identical weights")
				}
			}
		})
	}
}

// Standardisation with training statistics makes the L2-regularised linear
// proxy invariant to rescaling and shifting features.
func TestLinearStandardizeInvariance(t *testing.T) {
	X, y := blobs(5, 300, 5, 3, 3)
	Y := features.NewMatrix(X.Rows, X.Cols)
	for i, v := range X.Data {
		j := i % X.Cols
		Y.Data[i] = v*float32(j*100+1) + float32(j)*7
	}
	pa, err := TrainProxy(DefaultProxyConfig("linear"), X, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := TrainProxy(DefaultProxyConfig("linear"), Y, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	a, b := Predict(pa, X), Predict(pb, Y)
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 2e-3 {
			t.Fatalf("prob %d: %v vs %v", i, a[i], b[i])
		}
	}
}

func TestLBFGSRosenbrock(t *testing.T) {
	fg := func(x, g []float64) float64 {
		a, b := x[0], x[1]
		if g != nil {
			g[0] = -2*(1-a) - 400*a*(b-a*a)
			g[1] = 200 * (b - a*a)
		}
		return (1-a)*(1-a) + 100*(b-a*a)*(b-a*a)
	}
	x := lbfgsMinimize(fg, []float64{-1.2, 1}, 500, 1e-9)
	if math.Abs(x[0]-1) > 1e-4 || math.Abs(x[1]-1) > 1e-4 {
		t.Errorf("minimum at %v, want (1,1)", x)
	}
}

func TestTrainProxyErrors(t *testing.T) {
	X, y := blobs(1, 20, 3, 2, 1)
	one := make([]int, 20)
	bad := slices.Clone(y)
	bad[3] = 5
	nan := features.NewMatrix(20, 3)
	copy(nan.Data, X.Data)
	nan.Data[4] = float32(math.NaN())
	tests := []struct {
		name string
		kind string
		X    *features.Matrix
		y    []int
		c    int
		want error
	}{
		{"unknown kind", "svm", X, y, 2, ErrUnknownProxyKind},
		{"one class", "linear", X, one, 2, ErrProxyTooFewClasses},
		{"numClasses 1", "mlp", X, one, 1, ErrProxyTooFewClasses},
		{"label range", "linear", X, bad, 2, ErrProxyData},
		{"length", "mlp", X, y[:5], 2, ErrProxyData},
		{"empty", "linear", features.NewMatrix(0, 3), nil, 2, ErrProxyData},
		{"nan", "linear", nan, y, 2, ErrProxyData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TrainProxy(DefaultProxyConfig(tc.kind), tc.X, tc.y, tc.c)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
