package selector

import (
	"context"
	"math"
	"testing"

	"github.com/asvp-dev/asvp/features"
)

// naiveKCenter is the textbook O(n²) greedy k-center with exact float64
// distances. first, when >= 0, is forced as the first pick.
func naiveKCenter(m *features.Matrix, lab []bool, budget, first int) ([]int, float64) {
	n := m.Rows
	dist := func(a, b int) float64 {
		var s float64
		for j := range m.Cols {
			t := float64(m.Data[a*m.Cols+j]) - float64(m.Data[b*m.Cols+j])
			s += t * t
		}
		return math.Sqrt(s)
	}
	var centers []int
	for i, l := range lab {
		if l {
			centers = append(centers, i)
		}
	}
	nearest := func(i int) float64 {
		best := math.Inf(1)
		for _, c := range centers {
			best = min(best, dist(i, c))
		}
		return best
	}
	var picks []int
	for len(picks) < budget {
		next := -1
		if len(picks) == 0 && first >= 0 {
			next = first
		} else {
			bv := -1.0
			for i := range n {
				if lab[i] || contains(picks, i) {
					continue
				}
				if v := nearest(i); v > bv {
					next, bv = i, v
				}
			}
		}
		picks = append(picks, next)
		centers = append(centers, next)
	}
	var radius float64
	for i := range n {
		radius = max(radius, nearest(i))
	}
	return picks, radius
}

func contains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestKCenterMatchesNaive(t *testing.T) {
	tests := []struct {
		name               string
		n, d, labeled, bud int
	}{
		{"with labeled", 700, 6, 40, 30},
		{"many labeled chunked", 1500, 3, 600, 20},
		{"no labeled", 500, 5, 0, 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, lab, _ := testPool(uint64(tc.n), tc.n, tc.d, 2, tc.labeled)
			for _, w := range []int{1, 3} {
				req := Request{Pool: pool, Labeled: lab, Budget: tc.bud, Seed: 4, Workers: w}
				picks, radius, err := kcenterGreedy(context.Background(), &req)
				if err != nil {
					t.Fatal(err)
				}
				checkAgainstNaive(t, pool, lab, tc.bud, tc.labeled == 0, w, picks, radius)
			}
		})
	}
}

// TestKCenterLazyMatchesNaive drives the lazy evaluation with small blocks
// (many blocks, most left behind), more labeled rows than one product or
// the seed pass covers, and a float64 center cache smaller than the center
// list, against the eager textbook algorithm.
func TestKCenterLazyMatchesNaive(t *testing.T) {
	tests := []struct {
		name                       string
		n, d, labeled, bud, blocks int
		cache                      int
	}{
		{"single rows", 300, 4, 10, 40, 1, 1000},
		{"small blocks", 900, 5, 80, 60, 7, 1000},
		{"chunked labeled", 1400, 3, 700, 30, 64, 600},
		{"uncached centers", 800, 6, 100, 50, 16, 30},
		{"no labeled", 600, 5, 0, 30, 13, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, lab, _ := testPool(uint64(tc.n)+7, tc.n, tc.d, 3, tc.labeled)
			var ref []Pick
			for _, w := range []int{1, 4} {
				req := Request{Pool: pool, Labeled: lab, Budget: tc.bud, Seed: 9, Workers: w}
				picks, radius, err := kcenterGreedyBlocks(context.Background(), &req, tc.blocks, tc.cache)
				if err != nil {
					t.Fatal(err)
				}
				checkAgainstNaive(t, pool, lab, tc.bud, tc.labeled == 0, w, picks, radius)
				if ref == nil {
					ref = picks
				} else {
					for k := range ref {
						if ref[k] != picks[k] {
							t.Fatalf("pick %d differs between workers: %+v vs %+v", k, ref[k], picks[k])
						}
					}
				}
			}
		})
	}
}

// checkAgainstNaive compares k-center picks and radius with naiveKCenter's
// on the same pool; with no labeled rows the first pick is free (seeded)
// and the naive run starts from it.
func checkAgainstNaive(t *testing.T, pool *features.Matrix, lab []bool, budget int, freeFirst bool, workers int, picks []Pick, radius float64) {
	t.Helper()
	first := -1
	if freeFirst {
		first = picks[0].Index
	}
	want, wantR := naiveKCenter(pool, lab, budget, first)
	for k := range want {
		if picks[k].Index != want[k] {
			t.Fatalf("workers %d pick %d: got %d, want %d", workers, k, picks[k].Index, want[k])
		}
	}
	if math.Abs(radius-wantR) > 1e-4*wantR {
		t.Errorf("radius %v, want %v", radius, wantR)
	}
}
