package selector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/asvp-dev/asvp/features"
)

// tableProxy returns fixed probabilities per pool row; its embedding is a
// separate fixed matrix (so BADGE takes its copying path).
type tableProxy struct {
	c, e  int
	probs []float32
	emb   []float32
}

func (p *tableProxy) NumClasses() int { return p.c }
func (p *tableProxy) EmbedDim() int   { return p.e }
func (p *tableProxy) Forward(X *features.Matrix, lo, hi int, probs, emb []float32) {
	copy(probs, p.probs[lo*p.c:hi*p.c])
	if emb != nil {
		copy(emb, p.emb[lo*p.e:hi*p.e])
	}
}

// testPool returns a seeded gaussian-mixture pool, a labeled mask with
// nLabeled rows set, and a table proxy with random probabilities.
func testPool(seed uint64, n, d, c, nLabeled int) (*features.Matrix, []bool, *tableProxy) {
	rng := rand.New(rand.NewPCG(seed, 3))
	m := features.NewMatrix(n, d)
	means := make([]float64, 5*d)
	for j := range means {
		means[j] = rng.NormFloat64() * 3
	}
	for i := range n {
		k := rng.IntN(5)
		for j := range d {
			m.Data[i*d+j] = float32(means[k*d+j] + rng.NormFloat64())
		}
		m.IDs[i] = fmt.Sprintf("id%05d", i)
	}
	lab := make([]bool, n)
	for _, i := range rng.Perm(n)[:nLabeled] {
		lab[i] = true
	}
	p := &tableProxy{c: c, e: 7, probs: make([]float32, n*c), emb: make([]float32, n*7)}
	for i := range n {
		var s float64
		row := make([]float64, c)
		for k := range row {
			row[k] = math.Exp(2 * rng.NormFloat64())
			s += row[k]
		}
		for k := range row {
			p.probs[i*c+k] = float32(row[k] / s)
		}
	}
	for i := range p.emb {
		p.emb[i] = float32(rng.NormFloat64())
	}
	return m, lab, p
}

func TestStrategiesContract(t *testing.T) {
	pool, lab, proxy := testPool(1, 2600, 12, 4, 150)
	for _, name := range StrategyNames() {
		t.Run(name, func(t *testing.T) {
			s, err := NewStrategy(name, StrategyOptions{MaxClusters: 60, KMeansIters: 20})
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != name {
				t.Errorf("Name() = %q", s.Name())
			}
			orig := slices.Clone(pool.Data)
			run := func(seed uint64, workers int) []Pick {
				var calls int
				req := Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 97, Seed: seed, Workers: workers,
					Progress: func(done, total int) { calls++ }}
				p, err := s.Select(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				if calls == 0 {
					t.Error("progress never called")
				}
				return p
			}
			a := run(5, 1)
			if len(a) != 97 {
				t.Fatalf("%d picks, want 97", len(a))
			}
			seen := map[int]bool{}
			for _, p := range a {
				if lab[p.Index] {
					t.Errorf("picked labeled row %d", p.Index)
				}
				if seen[p.Index] {
					t.Errorf("row %d picked twice", p.Index)
				}
				seen[p.Index] = true
				if p.ID != pool.IDs[p.Index] {
					t.Errorf("pick %d has ID %q", p.Index, p.ID)
				}
				if math.IsNaN(p.Score) || math.IsInf(p.Score, 0) {
					t.Errorf("pick %d score %v", p.Index, p.Score)
				}
			}
			if b := run(5, 4); !slices.Equal(a, b) {
				t.Error("Workers=1 and Workers=4 differ")
			}
			if b := run(5, 1); !slices.Equal(a, b) {
				t.Error("same seed differs")
			}
			if !slices.Equal(pool.Data, orig) {
				t.Error("pool modified")
			}
			if name != "least-confidence" && name != "margin" && name != "entropy" && name != "kcenter" {
				if b := run(6, 2); slices.Equal(a, b) {
					t.Error("seeds 5 and 6 give the same picks")
				}
			}
		})
	}
}

func TestStrategyErrors(t *testing.T) {
	pool, lab, proxy := testPool(2, 50, 3, 3, 10)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		strat string
		req   Request
		ctx   context.Context
		want  error
	}{
		{"zero budget", "margin", Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 0}, nil, ErrBudget},
		{"budget over pool", "kcenter", Request{Pool: pool, Labeled: lab, Budget: 41}, nil, ErrBudget},
		{"nil proxy margin", "margin", Request{Pool: pool, Labeled: lab, Budget: 3}, nil, ErrNoProxy},
		{"nil proxy badge", "badge", Request{Pool: pool, Labeled: lab, Budget: 3}, nil, ErrNoProxy},
		{"nil proxy power", "entropy-power", Request{Pool: pool, Labeled: lab, Budget: 3}, nil, ErrNoProxy},
		{"labeled length", "random", Request{Pool: pool, Labeled: lab[:10], Budget: 3}, nil, ErrLabeledLength},
		{"no pool", "typiclust", Request{Labeled: lab, Budget: 3}, nil, ErrNoPool},
		{"cancelled kcenter", "kcenter", Request{Pool: pool, Labeled: lab, Budget: 3}, cancelled, context.Canceled},
		{"cancelled badge", "badge", Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 3}, cancelled, context.Canceled},
		{"cancelled margin", "margin", Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 3}, cancelled, context.Canceled},
		{"cancelled typiclust", "typiclust", Request{Pool: pool, Labeled: lab, Budget: 3}, cancelled, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStrategy(tc.strat, StrategyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			_, err = s.Select(ctx, tc.req)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewStrategy("coreset", StrategyOptions{}); !errors.Is(err, ErrUnknownStrategy) {
		t.Errorf("unknown name: err = %v", err)
	} else if msg := err.Error(); !containsAll(msg, StrategyNames()) {
		t.Errorf("error %q does not list the valid names", msg)
	}
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !slices.Contains(splitNames(s), x) {
			return false
		}
	}
	return true
}

func splitNames(s string) []string {
	var out []string
	cur := ""
	for _, r := range s {
		if r == ' ' || r == ',' || r == '(' || r == ')' {
			if cur != "" {
				out = append(out, cur)
			}
			cur = ""
			continue
		}
		cur += string(r)
	}
	return append(out, cur)
}

// naiveScore is the textbook score, computed independently in float64.
func naiveScore(name string, p []float32) float64 {
	q := make([]float64, len(p))
	for k, v := range p {
		q[k] = float64(v)
	}
	return textbookScore(name, q)
}

// textbookScore is the textbook score of float64 probabilities q.
func textbookScore(name string, q []float64) float64 {
	s := slices.Clone(q)
	sort.Sort(sort.Reverse(sort.Float64Slice(s)))
	switch name {
	case "least-confidence":
		return 1 - s[0]
	case "margin":
		return 1 - (s[0] - s[1])
	case "entropy":
		var h float64
		for _, v := range q {
			if v > 0 {
				h -= v * math.Log(v)
			}
		}
		return h
	}
	panic(name)
}

// TestScoreStrategiesMatchSort checks the picks against a plain sort by
// the textbook score, equal scores in the documented seeded tie order. The
// pool has ties at the top (uniform rows), in the middle (copies of one
// row) and at the bottom (one-hot rows).
func TestScoreStrategiesMatchSort(t *testing.T) {
	pool, lab, proxy := testPool(3, 3000, 4, 5, 400)
	proxy.probs = slices.Clone(proxy.probs)
	for i := range pool.Rows {
		row := proxy.probs[i*5 : (i+1)*5]
		switch i % 25 {
		case 3: // uniform: the largest score of every strategy
			for k := range row {
				row[k] = 0.2
			}
		case 7: // a copy of row 1
			copy(row, proxy.probs[5:10])
		case 11: // one-hot: score 0
			clear(row)
			row[i%5] = 1
		}
	}
	for _, tc := range []struct {
		name string
		seed uint64
	}{{"least-confidence", 0}, {"margin", 0}, {"entropy", 0}, {"least-confidence", 8}, {"margin", 8}, {"entropy", 8}} {
		name := tc.name
		t.Run(fmt.Sprintf("%s/seed%d", name, tc.seed), func(t *testing.T) {
			type row struct {
				i int
				s float64
			}
			var rows []row
			for i := range pool.Rows {
				if !lab[i] {
					rows = append(rows, row{i, naiveScore(name, proxy.probs[i*5:(i+1)*5])})
				}
			}
			req := Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 300, Workers: 3, Seed: tc.seed}
			tie := req.tieSeed()
			sort.Slice(rows, func(a, b int) bool {
				if rows[a].s != rows[b].s {
					return rows[a].s > rows[b].s
				}
				return tieRank(tie, rows[a].i) < tieRank(tie, rows[b].i)
			})
			s, _ := NewStrategy(name, StrategyOptions{})
			picks, err := s.Select(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			for k, p := range picks {
				if p.Index != rows[k].i {
					t.Fatalf("rank %d: got row %d (score %v), want row %d (score %v)", k, p.Index, p.Score, rows[k].i, rows[k].s)
				}
				if math.Abs(p.Score-rows[k].s) > 1e-12 {
					t.Fatalf("rank %d score %v want %v", k, p.Score, rows[k].s)
				}
			}
		})
	}
}

// TestScoreStrategiesTiedPool is the walkthrough's pool: 60 rows sorted by
// class as a folder dataset is, 10 of them labeled, and a proxy whose every
// row ties (saturated one-hot or uniform probabilities), so every score
// ties; and the same at 3,000 rows, which spans several parallel blocks.
// The picks must follow the seed, not the dataset order.
func TestScoreStrategiesTiedPool(t *testing.T) {
	for _, n := range []int{60, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { testTiedPool(t, n) })
	}
}

// testTiedPool runs TestScoreStrategiesTiedPool on an n-row pool.
func testTiedPool(t *testing.T, n int) {
	const c, budget = 6, 10
	pool := features.NewMatrix(n, 2)
	lab := make([]bool, n)
	for i := 0; i < n; i += n / 10 {
		lab[i] = true // 10 labels
	}
	var firstUnlabeled []int
	for i := 0; len(firstUnlabeled) < budget; i++ {
		if !lab[i] {
			firstUnlabeled = append(firstUnlabeled, i)
		}
	}
	saturated := &tableProxy{c: c, e: 1, probs: make([]float32, n*c), emb: make([]float32, n)}
	uniform := &tableProxy{c: c, e: 1, probs: make([]float32, n*c), emb: make([]float32, n)}
	for i := range n {
		saturated.probs[i*c+i*c/n] = 1 // class of the folder row i sits in
		for k := range c {
			uniform.probs[i*c+k] = 1.0 / c
		}
	}
	seeds := []uint64{1, 2, 3, 4, 5}
	for _, name := range []string{"least-confidence", "margin", "entropy"} {
		for _, px := range []struct {
			name  string
			proxy *tableProxy
		}{{"saturated", saturated}, {"uniform", uniform}} {
			t.Run(name+"/"+px.name, func(t *testing.T) {
				s, err := NewStrategy(name, StrategyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				sel := func(seed uint64, workers int) []int {
					picks, err := s.Select(context.Background(), Request{Pool: pool, Labeled: lab, Proxy: px.proxy,
						Budget: budget, Seed: seed, Workers: workers})
					if err != nil {
						t.Fatal(err)
					}
					idx := make([]int, len(picks))
					for k, p := range picks {
						idx[k] = p.Index
					}
					return idx
				}
				var bySeed [][]int
				inOrder := 0
				for _, seed := range seeds {
					a := sel(seed, 1)
					if len(a) != budget {
						t.Fatalf("seed %d: %d picks, want %d", seed, len(a), budget)
					}
					if b := sel(seed, 4); !slices.Equal(a, b) {
						t.Errorf("seed %d: Workers 1 gives %v, Workers 4 %v", seed, a, b)
					}
					if b := sel(seed, 1); !slices.Equal(a, b) {
						t.Errorf("seed %d: two runs give %v and %v", seed, a, b)
					}
					if slices.Equal(slices.Sorted(slices.Values(a)), firstUnlabeled) {
						inOrder++
					}
					for k, prev := range bySeed {
						if slices.Equal(a, prev) {
							t.Errorf("seeds %d and %d give the same picks %v", seeds[k], seed, a)
						}
					}
					bySeed = append(bySeed, a)
				}
				if inOrder == len(seeds) {
					t.Errorf("every seed picks the first %d unlabeled rows in dataset order %v", budget, firstUnlabeled)
				}
			})
		}
	}
}

// With a huge beta, power sampling is top-k; with beta = 1 the first pick's
// frequencies follow score/Σscore (Gumbel-max).
func TestPowerSampling(t *testing.T) {
	pool, lab, proxy := testPool(4, 400, 3, 3, 20)
	for _, base := range []string{"margin", "entropy"} {
		det, _ := NewStrategy(base, StrategyOptions{})
		pw, _ := NewStrategy(base+"-power", StrategyOptions{Beta: 1e6})
		req := Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 30, Seed: 9}
		a, err := det.Select(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pw.Select(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for k := range a {
			if a[k].Index != b[k].Index {
				t.Fatalf("%s-power beta=1e6 rank %d: %d vs %d", base, k, b[k].Index, a[k].Index)
			}
		}
	}
	// Frequencies on a 4-row pool with known scores.
	m := features.NewMatrix(4, 1)
	// least probable second class gives margin scores 1-(a-b).
	tp := &tableProxy{c: 2, e: 1, probs: []float32{0.9, 0.1, 0.7, 0.3, 0.6, 0.4, 0.55, 0.45}, emb: make([]float32, 4)}
	scores := []float64{0.2, 0.6, 0.8, 0.9}
	var total float64
	for _, s := range scores {
		total += s
	}
	const trials = 20000
	count := make([]int, 4)
	s, _ := NewStrategy("margin-power", StrategyOptions{})
	for seed := range uint64(trials) {
		p, err := s.Select(context.Background(), Request{Pool: m, Labeled: make([]bool, 4), Proxy: tp, Budget: 1, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		count[p[0].Index]++
	}
	for i, c := range count {
		want := scores[i] / total
		got := float64(c) / trials
		sd := math.Sqrt(want * (1 - want) / trials)
		if math.Abs(got-want) > 5*sd {
			t.Errorf("row %d frequency %.4f, want %.4f ± %.4f", i, got, want, 5*sd)
		}
	}
}

func TestRandomUniform(t *testing.T) {
	m := features.NewMatrix(5, 1)
	lab := []bool{false, true, false, false, false}
	s, _ := NewStrategy("random", StrategyOptions{})
	count := make([]int, 5)
	const trials = 8000
	for seed := range uint64(trials) {
		p, err := s.Select(context.Background(), Request{Pool: m, Labeled: lab, Budget: 2, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range p {
			count[q.Index]++
		}
	}
	if count[1] != 0 {
		t.Fatal("labeled row picked")
	}
	for _, i := range []int{0, 2, 3, 4} {
		got := float64(count[i]) / trials // each row in a 2-of-4 subset with probability 1/2
		if math.Abs(got-0.5) > 5*math.Sqrt(0.25/trials) {
			t.Errorf("row %d picked with frequency %.4f, want 0.5", i, got)
		}
	}
}

// refOrder is the documented pick order, by a plain sort: key descending,
// then tieRank(seed, i) ascending, then index; NaN keys as -Inf.
func refOrder(keys []float64, ok func(int) bool, seed uint64) []int {
	var idx []int
	for i := range keys {
		if ok(i) {
			idx = append(idx, i)
		}
	}
	key := func(i int) float64 {
		if math.IsNaN(keys[i]) {
			return math.Inf(-1)
		}
		return keys[i]
	}
	sort.Slice(idx, func(a, b int) bool {
		i, j := idx[a], idx[b]
		if key(i) != key(j) {
			return key(i) > key(j)
		}
		if tieRank(seed, i) != tieRank(seed, j) {
			return tieRank(seed, i) < tieRank(seed, j)
		}
		return i < j
	})
	return idx
}

func TestTopK(t *testing.T) {
	all := func(int) bool { return true }
	rng := rand.New(rand.NewPCG(7, 7))
	coarse := make([]float64, 500) // few distinct values: many ties
	for i := range coarse {
		coarse[i] = float64(rng.IntN(6))
	}
	tests := []struct {
		name string
		keys []float64
		k    int
		ok   func(int) bool
	}{
		{"ties and NaN, k=3", []float64{3, math.NaN(), 5, 5, 1, 7, 3}, 3, all},
		{"ties and NaN, k=5", []float64{3, math.NaN(), 5, 5, 1, 7, 3}, 5, all},
		{"NaN ties -Inf, k=all", []float64{3, math.NaN(), 5, 5, math.Inf(-1), 7, 3}, 7, all},
		{"masked", []float64{3, math.NaN(), 5, 5, 1, 7, 3}, 2, func(i int) bool { return i != 5 }},
		{"k=0", []float64{3, 5}, 0, all},
		{"all equal", make([]float64, 200), 20, all},
		{"coarse keys", coarse, 120, func(i int) bool { return i%7 != 0 }},
	}
	for _, tc := range tests {
		for _, seed := range []uint64{0, 1, 2, 99} {
			want := refOrder(tc.keys, tc.ok, seed)[:tc.k]
			if got := topK(tc.keys, tc.k, tc.ok, seed); !slices.Equal(got, want) {
				t.Errorf("%s, seed %d: topK = %v, want %v", tc.name, seed, got, want)
			}
		}
	}
	// Distinct keys never consult the tie order; ties depend on the seed.
	if got := topK([]float64{3, 9, 1, 7}, 4, all, 5); !slices.Equal(got, []int{1, 3, 0, 2}) {
		t.Errorf("distinct keys: %v, want [1 3 0 2]", got)
	}
	zero := make([]float64, 200)
	if a, b := topK(zero, 20, all, 1), topK(zero, 20, all, 2); slices.Equal(a, b) {
		t.Errorf("all-equal keys: seeds 1 and 2 give the same picks %v", a)
	}
	if a := topK(zero, 20, all, 1); slices.Equal(a, refIdentity(20)) {
		t.Errorf("all-equal keys: picks in index order %v", a)
	}
}

// refIdentity returns 0..n-1.
func refIdentity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
