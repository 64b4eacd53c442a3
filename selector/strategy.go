package selector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/features"
)

// Strategy errors, usable with errors.Is.
var (
	// ErrUnknownStrategy is returned by NewStrategy for a name it does not know.
	ErrUnknownStrategy = errors.New("selector: unknown strategy")
	// ErrBudget is returned for a budget <= 0 or larger than the unlabeled pool.
	ErrBudget = errors.New("selector: bad budget")
	// ErrNoProxy is returned when a strategy that needs a proxy gets none, or
	// one whose input width differs from the pool's.
	ErrNoProxy = errors.New("selector: strategy needs a proxy")
	// ErrLabeledLength is returned when len(Labeled) differs from Pool.Rows.
	ErrLabeledLength = errors.New("selector: labeled mask length differs from pool rows")
	// ErrNoPool is returned when the request has no pool matrix.
	ErrNoPool = errors.New("selector: no pool")
)

// Request is one selection round.
type Request struct {
	Pool     *features.Matrix // features of every sample, one row each
	Labeled  []bool           // len Pool.Rows; true rows are never picked
	Proxy    Proxy            // needed by score strategies and badge; nil ok for random/kcenter/typiclust
	Budget   int              // number of picks, 1..unlabeled
	Seed     uint64           // seeds every random choice, the order of tied scores included
	Workers  int              // goroutines; <= 0 means GOMAXPROCS. Results do not depend on it
	Progress func(done, total int)
}

// Pick is one selected sample: its pool row, its ID and the strategy's score
// for it (meaning depends on the strategy, larger is more wanted).
type Pick struct {
	Index int
	ID    string
	Score float64
}

// Strategy chooses samples to label.
type Strategy interface {
	// Name returns the strategy's registered name.
	Name() string
	// Select returns exactly req.Budget distinct unlabeled picks, in pick
	// order (rank 1 first), deterministic for req.Seed.
	Select(ctx context.Context, req Request) ([]Pick, error)
}

// StrategyOptions tunes strategies; zero fields take the documented defaults.
type StrategyOptions struct {
	// Beta is the power-sampling exponent of margin-power and entropy-power:
	// samples are drawn without replacement with probability ∝ score^Beta.
	// Default 1.
	Beta float64
	// TypiClust: maximum number of clusters (default 500, as the reference
	// implementation), neighbours for typicality (default 20), minimum
	// cluster size to pick from (default 5), mini-batch k-means iterations
	// (default 100) and batch size (default 1024), and the most members of a
	// cluster used for typicality (default 2000, a seeded sample beyond that).
	MaxClusters, KNN, MinClusterSize, KMeansIters, KMeansBatch, TypicalityCap int
}

// StrategyNames returns the names NewStrategy accepts, sorted.
func StrategyNames() []string {
	n := []string{"random", "least-confidence", "margin", "entropy", "margin-power",
		"entropy-power", "kcenter", "badge", "typiclust"}
	slices.Sort(n)
	return n
}

// NewStrategy returns the strategy called name.
func NewStrategy(name string, opts StrategyOptions) (Strategy, error) {
	if opts.Beta == 0 {
		opts.Beta = 1
	}
	if opts.Beta < 0 || math.IsNaN(opts.Beta) || math.IsInf(opts.Beta, 0) {
		return nil, fmt.Errorf("selector: power-sampling beta %v must be positive", opts.Beta)
	}
	switch name {
	case "random":
		return randomStrategy{}, nil
	case "least-confidence", "margin", "entropy":
		return scoreStrategy{name: name, score: uncertaintyScore(name), logitScore: logitUncertainty(name)}, nil
	case "margin-power", "entropy-power":
		base := strings.TrimSuffix(name, "-power")
		return scoreStrategy{name: name, score: uncertaintyScore(base), logitScore: logitUncertainty(base), power: true, beta: opts.Beta}, nil
	case "kcenter":
		return kcenterStrategy{}, nil
	case "badge":
		return badgeStrategy{}, nil
	case "typiclust":
		return newTypiClust(opts), nil
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownStrategy, name, strings.Join(StrategyNames(), ", "))
}

// validate checks a request and returns the number of unlabeled rows.
func (req *Request) validate(needProxy bool) (int, error) {
	if req.Pool == nil {
		return 0, ErrNoPool
	}
	if len(req.Labeled) != req.Pool.Rows {
		return 0, fmt.Errorf("%w: %d vs %d", ErrLabeledLength, len(req.Labeled), req.Pool.Rows)
	}
	if len(req.Pool.Data) < req.Pool.Rows*req.Pool.Cols {
		return 0, fmt.Errorf("selector: pool data holds %d values, want %dx%d", len(req.Pool.Data), req.Pool.Rows, req.Pool.Cols)
	}
	unl := 0
	for _, l := range req.Labeled {
		if !l {
			unl++
		}
	}
	if req.Budget <= 0 || req.Budget > unl {
		return 0, fmt.Errorf("%w: %d (unlabeled pool holds %d)", ErrBudget, req.Budget, unl)
	}
	if needProxy {
		if req.Proxy == nil {
			return 0, ErrNoProxy
		}
		if e, ok := req.Proxy.(interface{ inputDim() int }); ok && e.inputDim() != req.Pool.Cols {
			return 0, fmt.Errorf("%w: proxy takes %d features, pool has %d", ErrNoProxy, e.inputDim(), req.Pool.Cols)
		}
	}
	return unl, nil
}

// tieSeed returns the seed of the order in which topK breaks ties among
// equal keys, a stream of req.Seed of its own.
func (req *Request) tieSeed() uint64 { return req.Seed ^ 0x7469656f72646572 } // "tieorder"

// progress calls req.Progress when set.
func (req *Request) progress(done, total int) {
	if req.Progress != nil {
		req.Progress(done, total)
	}
}

// makePicks turns pool indices and scores into Picks.
func makePicks(pool *features.Matrix, idx []int, score func(k, i int) float64) []Pick {
	out := make([]Pick, len(idx))
	for k, i := range idx {
		out[k] = Pick{Index: i, ID: rowID(pool, i), Score: score(k, i)}
	}
	return out
}

// rowID returns the ID of row i, or "" when the matrix has no IDs.
func rowID(m *features.Matrix, i int) string {
	if i < len(m.IDs) {
		return m.IDs[i]
	}
	return ""
}

// randomStrategy picks a uniform random subset of the unlabeled rows.
type randomStrategy struct{}

func (randomStrategy) Name() string { return "random" }

// Select implements Strategy. The score of a pick is its uniform random key;
// the picks are the unlabeled rows with the largest keys.
func (randomStrategy) Select(ctx context.Context, req Request) ([]Pick, error) {
	if _, err := req.validate(false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys := seededUniforms(req.Seed, 0x72616e64, req.Pool.Rows)
	idx := topK(keys, req.Budget, func(i int) bool { return !req.Labeled[i] }, req.tieSeed())
	req.progress(req.Pool.Rows, req.Pool.Rows)
	return makePicks(req.Pool, idx, func(_, i int) float64 { return keys[i] }), nil
}

// uncertaintyScore returns the score of a probability row for an
// uncertainty strategy; larger means more uncertain.
func uncertaintyScore(name string) func(p []float32) float64 {
	switch name {
	case "least-confidence": // 1 - max p
		return func(p []float32) float64 {
			m := p[0]
			for _, v := range p[1:] {
				m = max(m, v)
			}
			return 1 - float64(m)
		}
	case "margin": // 1 - (p_top1 - p_top2)
		return func(p []float32) float64 {
			a, b := float32(math.Inf(-1)), float32(math.Inf(-1))
			for _, v := range p {
				if v > a {
					a, b = v, a
				} else if v > b {
					b = v
				}
			}
			return 1 - (float64(a) - float64(b))
		}
	case "entropy": // -Σ p log p, natural log, 0 log 0 = 0
		return func(p []float32) float64 {
			var h float64
			for _, v := range p {
				if v > 0 {
					h -= float64(v) * math.Log(float64(v))
				}
			}
			return h
		}
	}
	panic("selector: no uncertainty score " + name)
}

// logitUncertainty returns uncertaintyScore's score computed from a row of
// logits in float64. With t the largest logit, g_j = l_t - l_j and
// r = Σ_{j≠t} exp(-g_j), the probabilities are p_t = 1/(1+r) and
// p_j = exp(-g_j)/(1+r), so
//
//	least-confidence  1 - p_t         = r / (1+r)
//	margin            1 - (p_t - p_2) = (r + exp(-g_2)) / (1+r)
//	entropy           -Σ p log p      = log1p(r) + Σ_{j≠t} g_j exp(-g_j) / (1+r)
//
// with no 1 - p cancellation: the scores of a confident proxy stay distinct
// down to about exp(-745), where float32 probabilities have already rounded
// to exactly 1 and 0 (least-confidence at a logit gap of about 17, margin
// and entropy at about 104) and tie.
func logitUncertainty(name string) func(l []float64) float64 {
	// stats returns r and exp(-g_2) of a row.
	stats := func(l []float64) (r, q float64) {
		t := 0
		for j, v := range l {
			if v > l[t] {
				t = j
			}
		}
		for j, v := range l {
			if j != t {
				e := math.Exp(v - l[t])
				r += e
				q = max(q, e)
			}
		}
		return r, q
	}
	switch name {
	case "least-confidence":
		return func(l []float64) float64 {
			r, _ := stats(l)
			return r / (1 + r)
		}
	case "margin":
		return func(l []float64) float64 {
			r, q := stats(l)
			return (r + q) / (1 + r)
		}
	case "entropy":
		return func(l []float64) float64 {
			t := 0
			for j, v := range l {
				if v > l[t] {
					t = j
				}
			}
			var r, s float64
			for j, v := range l {
				if j != t {
					g := l[t] - v
					e := math.Exp(-g)
					r += e
					s += g * e
				}
			}
			return math.Log1p(r) + s/(1+r)
		}
	}
	panic("selector: no uncertainty score " + name)
}

// logitForwarder is implemented by proxies that can give their logits in
// float64, so that uncertainty scores need not pass through saturating
// float32 probabilities (see logitUncertainty).
type logitForwarder interface {
	// forwardLogits writes the logits (bias included) of rows [lo,hi) of X
	// into logits ((hi-lo)*C). Safe for concurrent use.
	forwardLogits(X *features.Matrix, lo, hi int, logits []float64)
}

// scoreStrategy ranks rows by an uncertainty score of the proxy's
// probabilities (top-k; computed from its logits when it is a
// logitForwarder), or, with power, samples them without replacement
// with probability ∝ score^beta via the Gumbel top-k trick: key =
// beta·log(score) + Gumbel noise, picks = the k largest keys.
//
// Rows with equal keys are taken in a seeded random order (topK's tie rule
// with req.Seed), not in dataset order: a saturated proxy gives many rows
// the same score, and a folder dataset is sorted by class.
type scoreStrategy struct {
	name       string
	score      func(p []float32) float64
	logitScore func(l []float64) float64 // the same score from logits
	power      bool
	beta       float64
}

func (s scoreStrategy) Name() string { return s.name }

// Select implements Strategy. A pick's Score is its uncertainty score.
func (s scoreStrategy) Select(ctx context.Context, req Request) ([]Pick, error) {
	if _, err := req.validate(true); err != nil {
		return nil, err
	}
	scores, err := poolScores(ctx, &req, s.score, s.logitScore)
	if err != nil {
		return nil, err
	}
	keys := scores
	if s.power {
		u := seededUniforms(req.Seed, 0x706f776572, len(scores))
		keys = make([]float64, len(scores))
		for i, sc := range scores {
			// A zero score would give -Inf; clamp so such rows still rank by
			// their noise, after every row with a positive score.
			l := math.Log(max(sc, math.SmallestNonzeroFloat64))
			keys[i] = s.beta*l - math.Log(-math.Log(u[i]))
		}
	}
	idx := topK(keys, req.Budget, func(i int) bool { return !req.Labeled[i] }, req.tieSeed())
	return makePicks(req.Pool, idx, func(_, i int) float64 { return scores[i] }), nil
}

// poolScores returns the score of every pool row (labeled rows get NaN),
// computed block by block in parallel: logitScore of its logits when the
// proxy is a logitForwarder, else score of its probabilities.
func poolScores(ctx context.Context, req *Request, score func([]float32) float64, logitScore func([]float64) float64) ([]float64, error) {
	n := req.Pool.Rows
	c := req.Proxy.NumClasses()
	out := make([]float64, n)
	var done progressCounter
	workers := selPoolWorkers(n, selBlockRows, req.Workers)
	lf, useLogits := req.Proxy.(logitForwarder)
	var scr32 [][]float32
	var scr64 [][]float64
	if useLogits {
		scr64 = make([][]float64, workers)
		for w := range scr64 {
			scr64[w] = make([]float64, selBlockRows*c)
		}
	} else {
		scr32 = scratch32(workers, selBlockRows*c)
	}
	err := selParallelW(ctx, n, selBlockRows, req.Workers, func(w, _, lo, hi int) {
		if useLogits {
			logits := scr64[w][:(hi-lo)*c]
			lf.forwardLogits(req.Pool, lo, hi, logits)
			for i := lo; i < hi; i++ {
				out[i] = math.NaN()
				if !req.Labeled[i] {
					out[i] = logitScore(logits[(i-lo)*c : (i-lo+1)*c])
				}
			}
		} else {
			probs := scr32[w][:(hi-lo)*c]
			req.Proxy.Forward(req.Pool, lo, hi, probs, nil)
			for i := lo; i < hi; i++ {
				out[i] = math.NaN()
				if !req.Labeled[i] {
					out[i] = score(probs[(i-lo)*c : (i-lo+1)*c])
				}
			}
		}
		done.add(req, hi-lo, n)
	})
	if err != nil {
		return nil, fmt.Errorf("selector: scoring pool: %w", err)
	}
	return out, nil
}
