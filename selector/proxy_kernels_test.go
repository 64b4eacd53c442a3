package selector

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLinearLossGradMatchesTextbook compares the matrix-product objective
// of the linear proxy with a row-by-row textbook cross-entropy, and its
// gradient with central finite differences of that textbook loss.
func TestLinearLossGradMatchesTextbook(t *testing.T) {
	const n, d, c, l2 = 37, 9, 4, 0.03
	rng := rand.New(rand.NewPCG(5, 6))
	z := make([]float64, n*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(c)
	}
	theta := make([]float64, c*d+c)
	for i := range theta {
		theta[i] = 0.5 * rng.NormFloat64()
	}
	naive := func(th []float64) float64 {
		w, b := th[:c*d], th[c*d:]
		var loss float64
		for i := range n {
			lg := make([]float64, c)
			m := math.Inf(-1)
			for k := range c {
				lg[k] = b[k]
				for j := range d {
					lg[k] += w[k*d+j] * z[i*d+j]
				}
				m = max(m, lg[k])
			}
			var s float64
			for _, v := range lg {
				s += math.Exp(v - m)
			}
			loss += m + math.Log(s) - lg[y[i]]
		}
		var pen float64
		for _, v := range w {
			pen += v * v
		}
		return loss/n + l2/2*pen
	}
	grad := make([]float64, len(theta))
	got := linearLossGrad(z, n, d, y, c, l2)(theta, grad)
	if want := naive(theta); math.Abs(got-want) > 1e-12*max(1, math.Abs(want)) {
		t.Fatalf("loss %v, want %v", got, want)
	}
	const h = 1e-6
	for i := range theta {
		tp := append([]float64(nil), theta...)
		tm := append([]float64(nil), theta...)
		tp[i] += h
		tm[i] -= h
		fd := (naive(tp) - naive(tm)) / (2 * h)
		if math.Abs(grad[i]-fd) > 1e-7 {
			t.Fatalf("grad[%d] = %v, finite difference %v", i, grad[i], fd)
		}
	}
}

// TestProxyForwardMatchesNaive checks Forward's probabilities (and the mlp
// embedding) on a row range against float64 loops over the proxy's
// float32 weights.
func TestProxyForwardMatchesNaive(t *testing.T) {
	X, y := blobs(9, 400, 7, 3, 2)
	for _, kind := range []string{"linear", "mlp"} {
		t.Run(kind, func(t *testing.T) {
			cfg := DefaultProxyConfig(kind)
			cfg.Epochs = 5
			p, err := TrainProxy(cfg, X, y, 3)
			if err != nil {
				t.Fatal(err)
			}
			d, c := X.Cols, 3
			lo, hi := 13, 391
			probs := make([]float32, (hi-lo)*c)
			emb := make([]float32, (hi-lo)*d)
			p.Forward(X, lo, hi, probs, emb)
			for i := lo; i < hi; i++ {
				x := make([]float64, d)
				for j := range d {
					x[j] = float64(X.Data[i*d+j])
				}
				var w []float32
				var b []float32
				switch q := p.(type) {
				case *linearProxy:
					w, b = q.w, q.b
				case *mlpProxy:
					h := make([]float64, d)
					for r := range d {
						s := float64(q.b1[r])
						for j := range d {
							s += float64(q.w1[r*d+j]) * x[j]
						}
						h[r] = max(s, 0)
						if e := float64(emb[(i-lo)*d+r]); math.Abs(e-h[r]) > 1e-5*max(1, h[r]) {
							t.Fatalf("row %d emb[%d] = %v, want %v", i, r, e, h[r])
						}
					}
					x, w, b = h, q.w2, q.b2
				}
				lg := make([]float64, c)
				for k := range c {
					lg[k] = float64(b[k])
					for j := range d {
						lg[k] += float64(w[k*d+j]) * x[j]
					}
				}
				softmaxRow64(lg)
				for k := range c {
					if got := float64(probs[(i-lo)*c+k]); math.Abs(got-lg[k]) > 1e-5 {
						t.Fatalf("row %d prob %d = %v, want %v", i, k, got, lg[k])
					}
				}
			}
		})
	}
}

// TestGemmABtMatchesNaive checks the widened float32 product against
// float64 loops, on shapes that leave partial tiles.
func TestGemmABtMatchesNaive(t *testing.T) {
	for _, sh := range [][3]int{{1, 1, 1}, {7, 9, 13}, {50, 10, 33}, {13, 17, 300}} {
		m, n, k := sh[0], sh[1], sh[2]
		rng := rand.New(rand.NewPCG(uint64(m), uint64(k)))
		a := make([]float32, m*k)
		b := make([]float32, n*k)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		c := make([]float32, m*n)
		gemmABt(a, m, widen(b), n, k, c, make([]float64, m*k), make([]float64, m*n))
		for i := range m {
			for j := range n {
				var s float64
				for p := range k {
					s += float64(a[i*k+p]) * float64(b[j*k+p])
				}
				if got := float64(c[i*n+j]); math.Abs(got-s) > 1e-6*max(1, math.Abs(s)) {
					t.Fatalf("%v: c[%d,%d] = %v, want %v", sh, i, j, got, s)
				}
			}
		}
	}
}
