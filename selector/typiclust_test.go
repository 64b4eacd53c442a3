package selector

import (
	"context"
	"math"
	"sort"
	"testing"
)

// TestTypiClustMatchesNaive replays the picks against the textbook rule on
// the returned clustering: the cluster with the fewest covered points
// (ties: larger, then lower index), then the most typical remaining row
// with typicality from a naive kNN over the cluster.
func TestTypiClustMatchesNaive(t *testing.T) {
	pool, lab, _ := testPool(12, 900, 5, 2, 30)
	tc := newTypiClust(StrategyOptions{MaxClusters: 40, KNN: 7, KMeansIters: 30})
	req := Request{Pool: pool, Labeled: lab, Budget: 60, Seed: 2, Workers: 2}
	picks, assign, err := tc.run(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, a := range assign {
		k = max(k, int(a)+1)
	}
	members := make([][]int, k)
	for i, a := range assign {
		members[a] = append(members[a], i)
	}
	// Every row is assigned to its nearest center: check the clustering is a
	// Voronoi partition of its own cluster means is not required; instead
	// check typicality and the cluster rule.
	dist := func(a, b int) float64 {
		var s float64
		for j := range pool.Cols {
			d := float64(pool.Data[a*pool.Cols+j] - pool.Data[b*pool.Cols+j])
			s += d * d
		}
		return math.Sqrt(s)
	}
	typ := func(i int, mem []int) float64 {
		var ds []float64
		for _, j := range mem {
			if j != i {
				ds = append(ds, dist(i, j))
			}
		}
		sort.Float64s(ds)
		kk := min(7, len(ds))
		var s float64
		for _, v := range ds[:kk] {
			s += v
		}
		return 1 / (1e-5 + s/float64(kk))
	}
	taken := append([]bool(nil), lab...)
	covered := make([]int, k)
	for i, l := range lab {
		if l {
			covered[assign[i]]++
		}
	}
	for step, p := range picks {
		best := -1
		for c := range k {
			rem := 0
			for _, i := range members[c] {
				if !taken[i] {
					rem++
				}
			}
			if rem == 0 || len(members[c]) < 5 {
				continue
			}
			if best < 0 || covered[c] < covered[best] || (covered[c] == covered[best] && len(members[c]) > len(members[best])) {
				best = c
			}
		}
		if int(assign[p.Index]) != best {
			t.Fatalf("step %d: picked from cluster %d, want %d", step, assign[p.Index], best)
		}
		bi, bv := -1, -1.0
		for _, i := range members[best] {
			if taken[i] {
				continue
			}
			if v := typ(i, members[best]); v > bv {
				bi, bv = i, v
			}
		}
		if p.Index != bi {
			t.Fatalf("step %d: picked %d (typicality %v), want %d (%v)", step, p.Index, p.Score, bi, bv)
		}
		if math.Abs(p.Score-bv) > 1e-3*bv {
			t.Fatalf("step %d: typicality %v, naive %v", step, p.Score, bv)
		}
		taken[p.Index] = true
		covered[best]++
	}
	if k != 40 {
		t.Errorf("%d clusters, want 40", k)
	}
}
