package selector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// badgeStrategy is BADGE (Ash et al. 2020): k-means++ seeding over the
// last-layer gradient embeddings g_i = (p_i - e_ŷi) ⊗ x_i of the unlabeled
// rows, where p_i are the proxy's probabilities, ŷi its predicted class and
// x_i its embedding (Proxy.Forward's emb). As in the paper, labeled rows are
// not centers; the first pick is the row with the largest ||g_i||, each next
// one is drawn with probability ∝ its squared distance D²(i) to the nearest
// pick. Inner products use <g_i,g_j> = <p_i-e_i, p_j-e_j>·<x_i,x_j>, so the
// n×(C·E) matrix is never built; state is one O(n) D² vector plus the n×C
// residuals. For the linear proxy the embedding is the pool row itself and
// no copy is made; for the mlp proxy an n×E float32 embedding matrix is
// computed once.
type badgeStrategy struct{}

func (badgeStrategy) Name() string { return "badge" }

// Select implements Strategy. A pick's Score is its D² at the time of the
// pick (||g_i||² for the first).
func (badgeStrategy) Select(ctx context.Context, req Request) ([]Pick, error) {
	return badgeSelect(ctx, &req, nil)
}

// badgeSelect runs BADGE. When observe is non-nil it is called before each
// sampled pick t >= 1 with the D² vector and the taken mask; the sampling
// probability of row i is d2[i]/Σ d2 over rows not taken.
func badgeSelect(ctx context.Context, req *Request, observe func(t int, d2 []float64, taken []bool)) ([]Pick, error) {
	if _, err := req.validate(true); err != nil {
		return nil, err
	}
	n, c := req.Pool.Rows, req.Proxy.NumClasses()
	e := req.Proxy.EmbedDim()
	var emb []float32
	ie, direct := req.Proxy.(inputEmbedder)
	direct = direct && ie.embedsInput() && e == req.Pool.Cols
	if direct {
		emb = req.Pool.Data
	} else {
		emb = make([]float32, n*e)
	}
	// resid holds p_i - e_ŷi; rn and en the squared norms of residual and embedding.
	resid := make([]float32, n*c)
	gn := make([]float64, n)
	err := selParallel(ctx, n, selBlockRows, req.Workers, func(_, lo, hi int) {
		var eb []float32
		if !direct {
			eb = emb[lo*e : hi*e]
		}
		req.Proxy.Forward(req.Pool, lo, hi, resid[lo*c:hi*c], eb)
		for i := lo; i < hi; i++ {
			r := resid[i*c : (i+1)*c]
			r[argmax32(r)] -= 1
			var rn, en float64
			for _, v := range r {
				rn += float64(v) * float64(v)
			}
			for _, v := range emb[i*e : (i+1)*e] {
				en += float64(v) * float64(v)
			}
			gn[i] = rn * en
		}
	})
	if err != nil {
		return nil, fmt.Errorf("selector: badge: %w", err)
	}
	taken := append([]bool(nil), req.Labeled...)
	next := -1
	for i, g := range gn {
		if !taken[i] && (next < 0 || g > gn[next]) {
			next = i
		}
	}
	rng := rand.New(rand.NewPCG(req.Seed, 0x6261646765))
	d2 := make([]float64, n)
	nb := selNumBlocks(n, selBlockRows)
	sums := make([]float64, nb)
	center := make([]float32, e)
	rc := make([]float64, c)
	picks := make([]Pick, 0, req.Budget)
	scr := scratch32(selPoolWorkers(n, selBlockRows, req.Workers), selBlockRows)
	score := gn[next]
	for t := 0; ; t++ {
		picks = append(picks, Pick{Index: next, ID: rowID(req.Pool, next), Score: score})
		taken[next] = true
		d2[next] = 0
		req.progress(t+1, req.Budget)
		if len(picks) == req.Budget {
			return picks, nil
		}
		copy(center, emb[next*e:(next+1)*e])
		for j := range rc {
			rc[j] = float64(resid[next*c+j])
		}
		gc := gn[next]
		first := t == 0
		err := selParallelW(ctx, n, selBlockRows, req.Workers, func(w, b, lo, hi int) {
			dots := scr[w][:hi-lo]
			gemvRows(emb[lo*e:hi*e], hi-lo, e, center, dots)
			var s float64
			for r, dot := range dots {
				i := lo + r
				if taken[i] {
					d2[i] = 0
					continue
				}
				var rr float64
				for j, v := range resid[i*c : (i+1)*c] {
					rr += float64(v) * rc[j]
				}
				v := max(gn[i]+gc-2*rr*float64(dot), 0)
				if first || v < d2[i] {
					d2[i] = v
				}
				s += d2[i]
			}
			sums[b] = s
		})
		if err != nil {
			return nil, fmt.Errorf("selector: badge: %w", err)
		}
		if observe != nil {
			observe(t+1, d2, taken)
		}
		next = sampleD2(rng, d2, taken, sums)
		score = d2[next]
	}
}

// sampleD2 draws an untaken row with probability ∝ d2, using per-block sums
// (fixed blocks of selBlockRows) so the draw does not depend on workers.
// When every untaken row has D² = 0 it draws uniformly among them.
func sampleD2(rng *rand.Rand, d2 []float64, taken []bool, sums []float64) int {
	var total float64
	for _, s := range sums {
		total += s
	}
	n := len(d2)
	if !(total > 0) || math.IsInf(total, 0) {
		cnt := 0
		for _, t := range taken {
			if !t {
				cnt++
			}
		}
		k := rng.IntN(cnt)
		for i, t := range taken {
			if !t {
				if k == 0 {
					return i
				}
				k--
			}
		}
	}
	u := rng.Float64() * total
	last := -1
	for b, s := range sums {
		if u >= s && b < len(sums)-1 {
			u -= s
			continue
		}
		lo := b * selBlockRows
		for i := lo; i < min(lo+selBlockRows, n); i++ {
			if taken[i] || d2[i] <= 0 {
				continue
			}
			last = i
			if u < d2[i] {
				return i
			}
			u -= d2[i]
		}
		if last >= 0 {
			return last // rounding left u just past the block's end
		}
	}
	for i := n - 1; i >= 0; i-- { // rounding fallback: last row with mass
		if !taken[i] && d2[i] > 0 {
			return i
		}
	}
	panic("selector: badge: no row to sample")
}
