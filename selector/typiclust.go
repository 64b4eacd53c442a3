package selector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// typiClust is TypiClust (Hacohen et al. 2022), chosen over ProbCover because
// it needs no n×n δ-ball graph. The pool is clustered into
// min(|labeled|+budget, MaxClusters) clusters with seeded mini-batch k-means
// (Sculley 2010; Forgy initialisation from distinct random rows, then one
// full assignment pass). Each pick comes from the cluster with the fewest
// labeled-or-picked members (ties: the larger cluster, then the lower
// cluster index) among clusters with at least MinClusterSize members and an
// unpicked unlabeled member (the size rule is dropped when no cluster meets
// it); within it, the unlabeled row of highest typicality
// 1/(1e-5 + mean Euclidean distance to its KNN nearest cluster members).
// Clusters larger than TypicalityCap use a seeded sample of that many
// members, for both neighbours and candidates.
type typiClust struct{ o StrategyOptions }

func newTypiClust(o StrategyOptions) typiClust {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxClusters, 500)
	def(&o.KNN, 20)
	def(&o.MinClusterSize, 5)
	def(&o.KMeansIters, 100)
	def(&o.KMeansBatch, 1024)
	def(&o.TypicalityCap, 2000)
	return typiClust{o: o}
}

func (typiClust) Name() string { return "typiclust" }

// Select implements Strategy. A pick's Score is its typicality.
func (t typiClust) Select(ctx context.Context, req Request) ([]Pick, error) {
	picks, _, err := t.run(ctx, &req)
	return picks, err
}

// run returns the picks and the cluster of every pool row.
func (t typiClust) run(ctx context.Context, req *Request) ([]Pick, []int32, error) {
	if _, err := req.validate(false); err != nil {
		return nil, nil, err
	}
	n, d := req.Pool.Rows, req.Pool.Cols
	data := req.Pool.Data
	nl := n - countFalse(req.Labeled)
	k := min(nl+req.Budget, t.o.MaxClusters, n)
	norms, err := poolSqNorms(ctx, data, n, d, req.Workers)
	if err != nil {
		return nil, nil, fmt.Errorf("selector: typiclust: %w", err)
	}
	rng := rand.New(rand.NewPCG(req.Seed, 0x7479706963))
	centers := miniBatchKMeans(rng, data, n, d, norms, k, t.o.KMeansIters, t.o.KMeansBatch)
	assign, err := assignNearest(ctx, data, n, d, norms, centers, k, req.Workers)
	if err != nil {
		return nil, nil, fmt.Errorf("selector: typiclust: %w", err)
	}
	members := make([][]int, k)
	for i, a := range assign {
		members[a] = append(members[a], i)
	}
	covered := make([]int, k)
	for i, l := range req.Labeled {
		if l {
			covered[assign[i]]++
		}
	}
	remaining := make([]int, k) // unlabeled, unpicked members
	for i, l := range req.Labeled {
		if !l {
			remaining[assign[i]]++
		}
	}
	taken := append([]bool(nil), req.Labeled...)
	typ := make(map[int]map[int]float64) // cluster -> row -> typicality
	picks := make([]Pick, 0, req.Budget)
	for len(picks) < req.Budget {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("selector: typiclust: %w", err)
		}
		cl := chooseCluster(members, covered, remaining, t.o.MinClusterSize)
		tm, ok := typ[cl]
		if !ok {
			sub := members[cl]
			if len(sub) > t.o.TypicalityCap {
				sub = sampleSorted(rand.New(rand.NewPCG(req.Seed, uint64(cl)<<8|0x7f)), sub, t.o.TypicalityCap)
			}
			tm = typicality(data, d, norms, sub, t.o.KNN)
			typ[cl] = tm
		}
		best, bestV := -1, math.Inf(-1)
		for _, i := range members[cl] {
			if taken[i] {
				continue
			}
			v, ok := tm[i]
			if !ok {
				v = math.Inf(-1) // not in the sampled subset: only as a last resort
			}
			if best < 0 || v > bestV {
				best, bestV = i, v
			}
		}
		if math.IsInf(bestV, -1) {
			bestV = 0
		}
		picks = append(picks, Pick{Index: best, ID: rowID(req.Pool, best), Score: bestV})
		taken[best] = true
		covered[cl]++
		remaining[cl]--
		req.progress(len(picks), req.Budget)
	}
	return picks, assign, nil
}

// chooseCluster applies TypiClust's cluster rule; see typiClust.
func chooseCluster(members [][]int, covered, remaining []int, minSize int) int {
	pick := func(sizeOK bool) int {
		best := -1
		for c := range members {
			if remaining[c] == 0 || (sizeOK && len(members[c]) < minSize) {
				continue
			}
			if best < 0 || covered[c] < covered[best] ||
				(covered[c] == covered[best] && len(members[c]) > len(members[best])) {
				best = c
			}
		}
		return best
	}
	if c := pick(true); c >= 0 {
		return c
	}
	return pick(false)
}

// typicality returns 1/(1e-5 + mean distance to the knn nearest other rows
// of sub) for every row of sub, with knn capped at len(sub)-1.
func typicality(data []float32, d int, norms []float64, sub []int, knn int) map[int]float64 {
	s := len(sub)
	out := make(map[int]float64, s)
	kk := min(knn, s-1)
	if kk <= 0 {
		for _, i := range sub {
			out[i] = 1 / 1e-5
		}
		return out
	}
	x := make([]float32, s*d)
	xn := make([]float64, s)
	for j, i := range sub {
		copy(x[j*d:(j+1)*d], data[i*d:(i+1)*d])
		xn[j] = norms[i]
	}
	dist := make([]float32, s*s)
	blockCenterSqDists(x, s, d, xn, x, s, xn, dist)
	near := make([]float64, 0, s)
	for j, i := range sub {
		near = near[:0]
		for m, v := range dist[j*s : (j+1)*s] {
			if m != j {
				near = append(near, math.Sqrt(float64(v)))
			}
		}
		slices.Sort(near)
		var sum float64
		for _, v := range near[:kk] {
			sum += v
		}
		out[i] = 1 / (1e-5 + sum/float64(kk))
	}
	return out
}

// sampleSorted returns k distinct elements of idx drawn uniformly, in
// ascending order of position.
func sampleSorted(rng *rand.Rand, idx []int, k int) []int {
	pos := rng.Perm(len(idx))[:k]
	slices.Sort(pos)
	out := make([]int, k)
	for j, p := range pos {
		out[j] = idx[p]
	}
	return out
}

// miniBatchKMeans returns k×d float32 centers: Forgy initialisation from k
// distinct random rows, then iters mini-batches of batch rows drawn with
// replacement, each row moving its nearest center by 1/count (Sculley 2010).
func miniBatchKMeans(rng *rand.Rand, data []float32, n, d int, norms []float64, k, iters, batch int) []float32 {
	centers := make([]float32, k*d)
	seen := make(map[int]bool, k)
	for j := 0; j < k; {
		i := rng.IntN(n)
		if seen[i] {
			continue
		}
		seen[i] = true
		copy(centers[j*d:(j+1)*d], data[i*d:(i+1)*d])
		j++
	}
	counts := make([]float64, k)
	cn := make([]float64, k)
	batch = min(batch, n)
	bx := make([]float32, batch*d)
	bn := make([]float64, batch)
	dist := make([]float32, batch*k)
	for range iters {
		for j := range k {
			cn[j] = sqNorm32(centers[j*d : (j+1)*d])
		}
		for r := range batch {
			i := rng.IntN(n)
			copy(bx[r*d:(r+1)*d], data[i*d:(i+1)*d])
			bn[r] = norms[i]
		}
		blockCenterSqDists(bx, batch, d, bn, centers, k, cn, dist)
		for r := range batch {
			a := argmin32(dist[r*k : (r+1)*k])
			counts[a]++
			eta := float32(1 / counts[a])
			c := centers[a*d : (a+1)*d]
			for j, v := range bx[r*d : (r+1)*d] {
				c[j] += eta * (v - c[j])
			}
		}
	}
	return centers
}

// assignNearest returns the index of the nearest center of every pool row.
func assignNearest(ctx context.Context, data []float32, n, d int, norms []float64, centers []float32, k, workers int) ([]int32, error) {
	cn := make([]float64, k)
	for j := range k {
		cn[j] = sqNorm32(centers[j*d : (j+1)*d])
	}
	out := make([]int32, n)
	scr := scratch32(selPoolWorkers(n, selBlockRows, workers), selBlockRows*k)
	err := selParallelW(ctx, n, selBlockRows, workers, func(w, _, lo, hi int) {
		tmp := scr[w][:(hi-lo)*k]
		blockCenterSqDists(data[lo*d:hi*d], hi-lo, d, norms[lo:hi], centers, k, cn, tmp)
		for r := range hi - lo {
			out[lo+r] = int32(argmin32(tmp[r*k : (r+1)*k]))
		}
	})
	return out, err
}

func sqNorm32(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return s
}

// argmin32 returns the index of the smallest value, the lowest on ties.
func argmin32(v []float32) int {
	best := 0
	for j := 1; j < len(v); j++ {
		if v[j] < v[best] {
			best = j
		}
	}
	return best
}

func countFalse(b []bool) int {
	n := 0
	for _, v := range b {
		if !v {
			n++
		}
	}
	return n
}
