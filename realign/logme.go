package realign

import (
	"errors"
	"fmt"
	"math"

	"github.com/asvp-dev/asvp/features"
	"gonum.org/v1/gonum/mat"
)

// ErrLogMEInput is returned by LogME for inputs it cannot score: an empty
// or inconsistent matrix, labels that do not match its rows or fall
// outside [0, classes), non-finite features.
var ErrLogMEInput = errors.New("realign: invalid logme input")

// ErrLogMEDegenerate is returned by LogME when the evidence cannot be
// computed, for example when the features are all zero.
var ErrLogMEDegenerate = errors.New("realign: logme evidence is degenerate")

// LogME fixed-point settings. The reference implementation (You et al.,
// github.com/thuml/LogME) stops after at most 11 iterations or when
// λ = α/β changes by less than 1%, and evaluates the evidence with the
// weights of the previous iterate. Here the iteration runs to a tight
// tolerance and the evidence is evaluated at the final (α, β) with
// matching weights, so the value is the maximised evidence itself; it
// differs from the reference's by the reference's truncation error.
//
// The iteration stops when α and β both change by less than logmeTol
// (relative), when λ = α/β leaves [σmin/logmeBoundary, σmax·logmeBoundary]
// (a maximum on the boundary, see evidence), or after logmeMaxIter
// iterations. Each iteration costs O(min(n, d)).
const (
	logmeMaxIter  = 200000
	logmeTol      = 1e-10
	logmeBoundary = 1e10
)

// LogME returns the LogME score of features X for labels y (You et al.,
// ICML 2021): for each class k, the target is the one-hot column
// t_k = [y == k], the model is Bayesian linear regression t_k = X·w + ε
// with prior w ~ N(0, α⁻¹I) and noise ε ~ N(0, β⁻¹I); α and β maximise
// the marginal likelihood (evidence) by MacKay's fixed-point updates,
// and the score is the maximised log-evidence divided by the number of
// samples, averaged over the classes that occur in y. Higher means the
// features fit the labels better.
//
// Features are used as given (no centring, no bias column), as in the
// paper. With n samples and d features, the eigendecomposition is of
// XᵀX (d×d) when n ≥ d and of the Gram matrix XXᵀ (n×n) when n < d.
// X and y are not modified.
func LogME(X *features.Matrix, y []int, classes int) (float64, error) {
	if X == nil {
		return 0, fmt.Errorf("%w: nil matrix", ErrLogMEInput)
	}
	n, d := X.Rows, X.Cols
	switch {
	case n <= 0 || d <= 0:
		return 0, fmt.Errorf("%w: empty %dx%d matrix", ErrLogMEInput, n, d)
	case len(X.Data) != n*d:
		return 0, fmt.Errorf("%w: %d values for %dx%d", ErrLogMEInput, len(X.Data), n, d)
	case len(y) != n:
		return 0, fmt.Errorf("%w: %d labels for %d rows", ErrLogMEInput, len(y), n)
	case classes < 1:
		return 0, fmt.Errorf("%w: %d classes", ErrLogMEInput, classes)
	}
	count := make([]int, classes)
	for i, c := range y {
		if c < 0 || c >= classes {
			return 0, fmt.Errorf("%w: label %d of row %d not in [0, %d)", ErrLogMEInput, c, i, classes)
		}
		count[c]++
	}
	f := mat.NewDense(n, d, nil)
	for i := range n {
		for j := range d {
			v := float64(X.Data[i*d+j])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("%w: non-finite feature at row %d column %d", ErrLogMEInput, i, j)
			}
			f.Set(i, j, v)
		}
	}
	sp, err := newSpectrum(f)
	if err != nil {
		return 0, err
	}
	var total float64
	present := 0
	t := make([]float64, n)
	for k := range classes {
		if count[k] == 0 {
			continue
		}
		for i, c := range y {
			t[i] = 0
			if c == k {
				t[i] = 1
			}
		}
		ev, err := sp.evidence(t)
		if err != nil {
			return 0, fmt.Errorf("class %d: %w", k, err)
		}
		total += ev / float64(n)
		present++
	}
	return total / float64(present), nil
}

// spectrum holds what the fixed-point iteration needs from the features F
// (n×d): the eigenvalues σ of FᵀF (or FFᵀ) and the matching basis.
type spectrum struct {
	n, d  int
	gram  bool       // n < d: basis U (n×n) are eigenvectors of FFᵀ
	sigma []float64  // eigenvalues, clamped at 0
	basis *mat.Dense // gram: U (n×n); otherwise V (d×d), eigenvectors of FᵀF
	f     *mat.Dense
}

func newSpectrum(f *mat.Dense) (*spectrum, error) {
	n, d := f.Dims()
	sp := &spectrum{n: n, d: d, gram: n < d, f: f}
	var s mat.SymDense
	if sp.gram {
		s.SymOuterK(1, f) // F·Fᵀ
	} else {
		s.SymOuterK(1, f.T()) // Fᵀ·F
	}
	var eig mat.EigenSym
	if !eig.Factorize(&s, true) {
		return nil, fmt.Errorf("%w: eigendecomposition failed", ErrLogMEDegenerate)
	}
	sp.sigma = eig.Values(nil)
	for i, v := range sp.sigma {
		sp.sigma[i] = math.Max(0, v)
	}
	sp.basis = &mat.Dense{}
	eig.VectorsTo(sp.basis)
	return sp, nil
}

// evidence returns the maximised log-evidence of target t.
func (sp *spectrum) evidence(t []float64) (float64, error) {
	n, d := float64(sp.n), float64(sp.d)
	tv := mat.NewVecDense(sp.n, t)
	tt := mat.Dot(tv, tv)
	// z = Uᵀ·t (Gram path) or Vᵀ·Fᵀ·t.
	z := make([]float64, len(sp.sigma))
	zv := mat.NewVecDense(len(z), z)
	if sp.gram {
		zv.MulVec(sp.basis.T(), tv)
	} else {
		var ft mat.VecDense
		ft.MulVec(sp.f.T(), tv)
		zv.MulVec(sp.basis.T(), &ft)
	}
	sigMax, sigMin := 0.0, math.Inf(1)
	for _, s := range sp.sigma {
		sigMax = math.Max(sigMax, s)
		if s > 0 {
			sigMin = math.Min(sigMin, s)
		}
	}
	// terms returns γ, ‖m‖² and ‖t − F·m‖² at (α, β), where the
	// posterior mean is m = β·A⁻¹·Fᵀ·t and A = αI + βFᵀF, in O(len(σ)).
	terms := func(alpha, beta float64) (gamma, mm, rr float64) {
		rr = tt
		if sp.gram {
			rr = 0
		}
		for j, s := range sp.sigma {
			den := alpha + beta*s
			gamma += beta * s / den
			zj := z[j]
			if sp.gram {
				// m = β·Fᵀ·U·diag(1/den)·z, t − F·m = U·diag(α/den)·z.
				mm += beta * beta * s * zj * zj / (den * den)
				rr += alpha * alpha * zj * zj / (den * den)
			} else {
				// m = V·w with w = β·z/den; with P = F·V, PᵀP = diag(σ) and
				// Pᵀt = z, so ‖t − F·m‖² = ‖t‖² − 2·wᵀz + Σ σ·w².
				w := beta * zj / den
				mm += w * w
				rr += -2*w*zj + s*w*w
			}
		}
		return gamma, mm, rr
	}
	alpha, beta := 1.0, 1.0
	for range logmeMaxIter {
		gamma, mm, rr := terms(alpha, beta)
		if mm == 0 || sigMax == 0 {
			// Fᵀ·t = 0: the features say nothing about t and the evidence
			// is maximised as α → ∞ (w = 0), where it tends to that of
			// pure noise with β = n/‖t‖².
			return n/2*math.Log(n/tt) - n/2 - n/2*math.Log(2*math.Pi), nil
		}
		if !(rr > 0) {
			break // t is fitted exactly: the β → ∞ boundary, evaluate here
		}
		na, nb := gamma/mm, (n-gamma)/rr
		done := math.Abs(na-alpha) <= logmeTol*na && math.Abs(nb-beta) <= logmeTol*nb
		alpha, beta = na, nb
		// The maximum can sit on a boundary, which the updates approach
		// without reaching: λ = α/β → ∞ (the features do not help with t)
		// or λ → 0 (t is interpolated without noise). The evidence is flat
		// there, so stop once λ is far outside the spectrum.
		lam := alpha / beta
		if done || lam > logmeBoundary*sigMax || lam < sigMin/logmeBoundary {
			break
		}
	}
	_, mm, rr := terms(alpha, beta)
	logdet := 0.0
	for _, s := range sp.sigma {
		logdet += math.Log(alpha + beta*s)
	}
	if sp.gram {
		logdet += (d - n) * math.Log(alpha) // the d−n zero eigenvalues of FᵀF
	}
	ev := d/2*math.Log(alpha) + n/2*math.Log(beta) - logdet/2 -
		beta/2*rr - alpha/2*mm - n/2*math.Log(2*math.Pi)
	if math.IsNaN(ev) || math.IsInf(ev, 0) {
		return 0, fmt.Errorf("%w: evidence %g (alpha %g, beta %g)", ErrLogMEDegenerate, ev, alpha, beta)
	}
	return ev, nil
}
