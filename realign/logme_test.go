package realign

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/asvp-dev/asvp/features"
	"gonum.org/v1/gonum/mat"
)

// slowEvidence is a direct implementation of the Bayesian linear
// regression evidence at (alpha, beta), with explicit A = αI + βFᵀF, its
// inverse and its log-determinant.
func slowEvidence(f *mat.Dense, t *mat.VecDense, alpha, beta float64) (ev, gamma, mm, rr float64) {
	n, d := f.Dims()
	var a mat.Dense
	a.Mul(f.T(), f)
	a.Scale(beta, &a)
	for j := range d {
		a.Set(j, j, a.At(j, j)+alpha)
	}
	var ainv mat.Dense
	if err := ainv.Inverse(&a); err != nil {
		panic(err)
	}
	var ft mat.VecDense
	ft.MulVec(f.T(), t)
	var m mat.VecDense
	m.MulVec(&ainv, &ft)
	m.ScaleVec(beta, &m)
	var r mat.VecDense
	r.MulVec(f, &m)
	r.SubVec(t, &r)
	mm, rr = mat.Dot(&m, &m), mat.Dot(&r, &r)
	gamma = float64(d) - alpha*mat.Trace(&ainv)
	logdet, sign := mat.LogDet(&a)
	if sign <= 0 {
		panic("A not positive definite")
	}
	ev = float64(d)/2*math.Log(alpha) + float64(n)/2*math.Log(beta) - logdet/2 -
		beta/2*rr - alpha/2*mm - float64(n)/2*math.Log(2*math.Pi)
	return ev, gamma, mm, rr
}

// slowLogME maximises the evidence of each one-hot column by MacKay's
// fixed-point updates computed with slowEvidence, and averages evidence/n
// over the classes present.
func slowLogME(t *testing.T, x *features.Matrix, y []int, classes int) float64 {
	f := mat.NewDense(x.Rows, x.Cols, nil)
	for i := range x.Rows {
		for j := range x.Cols {
			f.Set(i, j, float64(x.Data[i*x.Cols+j]))
		}
	}
	n := float64(x.Rows)
	var ftf mat.SymDense
	ftf.SymOuterK(1, f.T())
	var eig mat.EigenSym
	if !eig.Factorize(&ftf, false) {
		t.Fatal("eigenvalues of FᵀF failed")
	}
	sigMax, sigMin := 0.0, math.Inf(1)
	for _, s := range eig.Values(nil) {
		sigMax = math.Max(sigMax, s)
	}
	for _, s := range eig.Values(nil) {
		if s > 1e-9*sigMax { // FᵀF's zero eigenvalues come out as ±1e-15
			sigMin = math.Min(sigMin, s)
		}
	}
	var total float64
	present := 0
	for k := range classes {
		tv := mat.NewVecDense(x.Rows, nil)
		for i, c := range y {
			if c == k {
				tv.SetVec(i, 1)
			}
		}
		if mat.Sum(tv) == 0 {
			continue
		}
		alpha, beta := 1.0, 1.0
		for range 200000 {
			_, gamma, mm, rr := slowEvidence(f, tv, alpha, beta)
			na, nb := gamma/mm, (n-gamma)/rr
			done := math.Abs(na-alpha) < 1e-10*na && math.Abs(nb-beta) < 1e-10*nb
			alpha, beta = na, nb
			// Same boundary rule as LogME: stop once α/β is 1e10 beyond
			// the spectrum of FᵀF, where the evidence is flat.
			if lam := alpha / beta; done || lam > 1e10*sigMax || lam < sigMin/1e10 {
				break
			}
		}
		ev, _, _, _ := slowEvidence(f, tv, alpha, beta)
		// The fixed point is a maximum of the evidence: moving α or β
		// away from it must not increase the evidence.
		for _, s := range []float64{0.99, 1.01} {
			if e, _, _, _ := slowEvidence(f, tv, alpha*s, beta); e > ev+1e-12*math.Abs(ev) {
				t.Errorf("class %d: evidence rises from %g to %g when alpha is scaled by %g", k, ev, e, s)
			}
			if e, _, _, _ := slowEvidence(f, tv, alpha, beta*s); e > ev+1e-12*math.Abs(ev) {
				t.Errorf("class %d: evidence rises from %g to %g when beta is scaled by %g", k, ev, e, s)
			}
		}
		total += ev / n
		present++
	}
	return total / float64(present)
}

// randomTask returns n samples of d features whose first coordinates carry
// a class signal of the given strength, plus noise.
func randomTask(n, d, classes int, signal float64, seed uint64) (*features.Matrix, []int) {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := features.NewMatrix(n, d)
	y := make([]int, n)
	for i := range n {
		y[i] = rng.IntN(classes)
		for j := range d {
			v := rng.NormFloat64()
			if j == y[i]%d {
				v += signal
			}
			x.Data[i*d+j] = float32(v)
		}
	}
	return x, y
}

func TestLogMEMatchesSlow(t *testing.T) {
	tests := []struct {
		name          string
		n, d, classes int
		signal        float64
	}{
		{"n>d", 40, 6, 3, 1.5},
		{"n>>d", 200, 4, 4, 0.5},
		{"n=d", 8, 8, 2, 1},
		{"n<d", 10, 16, 3, 1},
		{"n<<d", 6, 30, 2, 2},
		{"weak signal", 60, 10, 5, 0.1},
		{"absent class", 30, 5, 6, 1}, // labels drawn from 6, class count may leave gaps below
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, y := randomTask(tc.n, tc.d, tc.classes, tc.signal, uint64(i+1))
			classes := tc.classes
			if tc.name == "absent class" {
				classes = 8 // classes 6 and 7 never occur
			}
			orig := append([]float32(nil), x.Data...)
			got, err := LogME(x, y, classes)
			if err != nil {
				t.Fatal(err)
			}
			want := slowLogME(t, x, y, classes)
			if math.Abs(got-want) > 1e-6*math.Abs(want) {
				t.Errorf("LogME = %.12g, slow = %.12g (rel diff %.2g)", got, want, math.Abs(got-want)/math.Abs(want))
			}
			for i := range orig {
				if orig[i] != x.Data[i] {
					t.Fatal("LogME modified its input")
				}
			}
		})
	}
}

func TestLogMESeparableBeatsShuffled(t *testing.T) {
	x, y := randomTask(300, 20, 5, 3, 42)
	good, err := LogME(x, y, 5)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := append([]int(nil), y...)
	rng := rand.New(rand.NewPCG(7, 7))
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	bad, err := LogME(x, shuffled, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !(good > bad) {
		t.Errorf("LogME of true labels %g is not above shuffled labels %g", good, bad)
	}
	// A stronger signal scores higher than a weaker one on the same layout.
	weak, wy := randomTask(300, 20, 5, 0.5, 42)
	w, err := LogME(weak, wy, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !(good > w) {
		t.Errorf("LogME with signal 3 (%g) is not above signal 0.5 (%g)", good, w)
	}
	t.Logf("logme: separable %.4f, weak %.4f, shuffled %.4f", good, w, bad)
}

func TestLogMEErrors(t *testing.T) {
	x := features.NewMatrix(3, 2)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	nan := features.NewMatrix(3, 2)
	nan.Data[4] = float32(math.NaN())
	short := &features.Matrix{Rows: 3, Cols: 2, Data: make([]float32, 5)}
	tests := []struct {
		name    string
		x       *features.Matrix
		y       []int
		classes int
		want    error
	}{
		{"nil", nil, nil, 2, ErrLogMEInput},
		{"empty", features.NewMatrix(0, 2), nil, 2, ErrLogMEInput},
		{"short data", short, []int{0, 1, 0}, 2, ErrLogMEInput},
		{"label count", x, []int{0, 1}, 2, ErrLogMEInput},
		{"label range", x, []int{0, 1, 2}, 2, ErrLogMEInput},
		{"negative label", x, []int{0, -1, 1}, 2, ErrLogMEInput},
		{"no classes", x, []int{0, 0, 0}, 0, ErrLogMEInput},
		{"nan", nan, []int{0, 1, 0}, 2, ErrLogMEInput},
	}
	for _, tc := range tests {
		if _, err := LogME(tc.x, tc.y, tc.classes); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestLogMEUninformative checks the α → ∞ limit against its hand formula:
// when Fᵀt = 0 the evidence tends to that of pure noise,
// n/2·log(n/‖t‖²) − n/2 − n/2·log 2π.
func TestLogMEUninformative(t *testing.T) {
	noise := func(n, tt float64) float64 {
		return (n/2*math.Log(n/tt) - n/2 - n/2*math.Log(2*math.Pi)) / n
	}
	// Class 1 rows (1, 0) and (-1, 0) cancel, class 0 rows lie on the
	// second axis, so Fᵀt = 0 for class 1 only.
	mixed := &features.Matrix{Rows: 4, Cols: 2, Data: []float32{1, 0, -1, 0, 0, 1, 0, 2}}
	tests := []struct {
		name string
		x    *features.Matrix
		y    []int
		want func(t *testing.T) float64
	}{
		{"zero features", features.NewMatrix(3, 2), []int{0, 1, 0}, func(*testing.T) float64 {
			return (noise(3, 2) + noise(3, 1)) / 2
		}},
		{"orthogonal class", mixed, []int{1, 1, 0, 0}, func(t *testing.T) float64 {
			return (slowLogME(t, mixed, []int{1, 1, 0, 0}, 1) + noise(4, 2)) / 2
		}},
	}
	for _, tc := range tests {
		got, err := LogME(tc.x, tc.y, 2)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if want := tc.want(t); math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("%s: LogME %.12g, want %.12g", tc.name, got, want)
		}
	}
}

func BenchmarkLogME(b *testing.B) {
	for _, sz := range []struct {
		name string
		n, d int
	}{{"n1000_d576", 1000, 576}, {"n200_d576", 200, 576}, {"n5000_d576", 5000, 576}} {
		b.Run(sz.name, func(b *testing.B) {
			x, y := randomTask(sz.n, sz.d, 10, 1, 1)
			for b.Loop() {
				if _, err := LogME(x, y, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
