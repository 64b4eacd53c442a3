package selector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/asvp-dev/asvp/models/nn"
)

// kcenterStrategy is core-set greedy k-center (Sener & Savarese 2018): the
// labeled rows are the initial centers, and each pick is the unlabeled row
// farthest (Euclidean) from its nearest center. With no labeled rows the
// first center is a seeded uniform random row.
//
// It is evaluated lazily, with the same picks as the eager algorithm that
// updates every row's distance after every pick. The pool is cut into fixed
// blocks; each block remembers how many centers (of the list labeled rows,
// then picks) it has applied and the largest nearest-center distance of its
// unpicked rows, which is an upper bound once more centers exist. A pick
// takes the block with the largest bound; when that block is behind, it
// applies its pending centers in one product (nn.MatMul on widened rows)
// and goes back in the queue, until the top block is current. Blocks far
// from every new center are rarely touched, so most picks read a few
// blocks instead of the whole pool; no n×n matrix is ever built.
type kcenterStrategy struct{}

func (kcenterStrategy) Name() string { return "kcenter" }

// Select implements Strategy. A pick's Score is its distance to the nearest
// center at the time it was picked (0 for a random first center).
func (kcenterStrategy) Select(ctx context.Context, req Request) ([]Pick, error) {
	picks, _, err := kcenterGreedy(ctx, &req)
	return picks, err
}

const (
	// centerChunk is the number of centers one product covers.
	centerChunk = 512
	// centerCacheBytes bounds the float64 copy kept of the first centers
	// (32 MB: 8,192 centers at d = 512); later ones are widened on use.
	centerCacheBytes = 32 << 20
	// kcenterSeedCenters is the number of labeled centers every block
	// applies up front; the rest are applied lazily, only to blocks whose
	// bound still competes for a pick.
	kcenterSeedCenters = 128
)

// poolSqNorms returns the squared norm of every pool row, in parallel.
func poolSqNorms(ctx context.Context, data []float32, n, d, workers int) ([]float64, error) {
	out := make([]float64, n)
	err := selParallel(ctx, n, selBlockRows, workers, func(_, lo, hi int) {
		rowSqNorms(data[lo*d:hi*d], d, out[lo:hi])
	})
	return out, err
}

// blockCenterSqDists fills dst (rows×k) with squared Euclidean distances
// between the rows of block x (rows×d, squared norms xn) and centers (k×d,
// squared norms cn), as ||x||² + ||c||² - 2<x,c> clamped at 0, with a
// float32 product.
func blockCenterSqDists(x []float32, rows, d int, xn []float64, centers []float32, k int, cn []float64, dst []float32) {
	sgemmABt(x, rows, centers, k, d, dst)
	for r := range rows {
		row := dst[r*k : (r+1)*k]
		for j, dot := range row {
			row[j] = float32(max(xn[r]+cn[j]-2*float64(dot), 0))
		}
	}
}

// blockBest is a block's farthest unpicked row (idx -1, val -1 for none).
type blockBest struct {
	idx int
	val float32
}

// kcState is the state of lazy greedy k-center over fixed row blocks.
type kcState struct {
	data    []float32
	n, d    int
	br      int       // rows per block
	norms   []float64 // squared row norms
	minD    []float32 // squared distance to the nearest applied center
	taken   []bool
	centers []int     // labeled rows, then picks
	cn      []float64 // squared norms of centers
	cw      []float64 // widened copy of the first centers
	cached  int       // number of centers in cw
	upto    []int     // per block: centers applied
	best    []blockBest
}

// kcScratch is one goroutine's buffers for kcState.apply.
type kcScratch struct{ x, dots, cb []float64 }

func (k *kcState) newScratch() *kcScratch {
	return &kcScratch{
		x:    make([]float64, k.br*k.d),
		dots: make([]float64, k.br*centerChunk),
		cb:   make([]float64, centerChunk*k.d),
	}
}

// addCenter appends pool row i to the centers.
func (k *kcState) addCenter(i int) {
	d := k.d
	if k.cached == len(k.centers) && (k.cached+1)*d <= cap(k.cw) {
		k.cw = k.cw[:(k.cached+1)*d]
		toF64(k.cw[k.cached*d:], k.data[i*d:(i+1)*d])
		k.cached++
	}
	k.centers = append(k.centers, i)
	k.cn = append(k.cn, k.norms[i])
}

// apply brings block b up to center to: it lowers the distances of the
// block's unpicked rows with centers [upto[b], to) and recomputes its best.
// Every (row, center) distance is ||x||² + ||c||² - 2<x,c> with <x,c> a
// float64 nn.MatMul element, which does not depend on the other rows or
// centers of the product, so the result does not depend on when or in
// which batches the centers are applied.
func (k *kcState) apply(s *kcScratch, b, to int) {
	d := k.d
	lo, hi := b*k.br, min((b+1)*k.br, k.n)
	rows := hi - lo
	if from := k.upto[b]; from < to {
		x := s.x[:rows*d]
		toF64(x, k.data[lo*d:hi*d])
		for c0 := from; c0 < to; c0 += centerChunk {
			c1 := min(c0+centerChunk, to)
			kc := c1 - c0
			cb := s.cb[:kc*d]
			if c1 <= k.cached {
				cb = k.cw[c0*d : c1*d]
			} else {
				for j, ci := range k.centers[c0:c1] {
					toF64(cb[j*d:(j+1)*d], k.data[ci*d:(ci+1)*d])
				}
			}
			dots := s.dots[:rows*kc]
			nn.MatMul(false, true, rows, kc, d, x, d, cb, d, dots, kc, false)
			cn := k.cn[c0:c1]
			for r := range rows {
				i := lo + r
				if k.taken[i] {
					continue
				}
				xn, m := k.norms[i], k.minD[i]
				for j, dot := range dots[r*kc : (r+1)*kc] {
					m = min(m, float32(max(xn+cn[j]-2*dot, 0)))
				}
				k.minD[i] = m
			}
		}
		k.upto[b] = to
	}
	bb := blockBest{idx: -1, val: -1}
	for i := lo; i < hi; i++ {
		if !k.taken[i] && k.minD[i] > bb.val {
			bb = blockBest{idx: i, val: k.minD[i]}
		}
	}
	k.best[b] = bb
}

// blockQueue is a max-heap of block numbers by (best value descending,
// block ascending), so its top holds the lowest-index row among the
// largest values, as a left-to-right scan would pick.
type blockQueue struct {
	b    []int
	best []blockBest
}

func (q *blockQueue) less(i, j int) bool {
	a, c := q.best[q.b[i]], q.best[q.b[j]]
	if a.val != c.val {
		return a.val > c.val
	}
	return q.b[i] < q.b[j]
}

func (q *blockQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.b[i], q.b[p] = q.b[p], q.b[i]
		i = p
	}
}

func (q *blockQueue) down(i int) {
	n := len(q.b)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && q.less(r, l) {
			w = r
		}
		if !q.less(w, i) {
			return
		}
		q.b[i], q.b[w] = q.b[w], q.b[i]
		i = w
	}
}

func (q *blockQueue) push(b int) {
	q.b = append(q.b, b)
	q.up(len(q.b) - 1)
}

func (q *blockQueue) pop() int {
	top := q.b[0]
	last := len(q.b) - 1
	q.b[0] = q.b[last]
	q.b = q.b[:last]
	if last > 0 {
		q.down(0)
	}
	return top
}

// kcenterGreedy runs greedy k-center and also returns the final covering
// radius: the largest distance from any pool row to its nearest center
// (labeled rows and picks).
func kcenterGreedy(ctx context.Context, req *Request) ([]Pick, float64, error) {
	return kcenterGreedyBlocks(ctx, req, selBlockRows, max(centerChunk, centerCacheBytes/(8*max(1, req.Pool.Cols))))
}

// kcenterGreedyBlocks is kcenterGreedy with blocks of blockRows rows,
// keeping a float64 copy of the first cacheCenters centers.
func kcenterGreedyBlocks(ctx context.Context, req *Request, blockRows, cacheCenters int) ([]Pick, float64, error) {
	if _, err := req.validate(false); err != nil {
		return nil, 0, err
	}
	n, d := req.Pool.Rows, req.Pool.Cols
	norms, err := poolSqNorms(ctx, req.Pool.Data, n, d, req.Workers)
	if err != nil {
		return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
	}
	nb := selNumBlocks(n, blockRows)
	k := &kcState{
		data: req.Pool.Data, n: n, d: d, br: blockRows, norms: norms,
		minD: make([]float32, n), taken: make([]bool, n),
		upto: make([]int, nb), best: make([]blockBest, nb),
	}
	var labeled []int
	for i, l := range req.Labeled {
		k.minD[i] = float32(math.Inf(1))
		if l {
			labeled = append(labeled, i)
			k.taken[i] = true
			k.minD[i] = 0
		}
	}
	k.cw = make([]float64, 0, min(len(labeled)+req.Budget, cacheCenters)*d)
	for _, i := range labeled {
		k.addCenter(i)
	}
	// Every block applies the first labeled centers, in parallel.
	workers := selPoolWorkers(n, blockRows, req.Workers)
	scr := make([]*kcScratch, workers)
	for w := range scr {
		scr[w] = k.newScratch()
	}
	seed := min(len(labeled), kcenterSeedCenters)
	err = selParallelW(ctx, n, blockRows, req.Workers, func(w, b, _, _ int) { k.apply(scr[w], b, seed) })
	if err != nil {
		return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
	}
	q := &blockQueue{b: make([]int, 0, nb), best: k.best}
	for b := range nb {
		q.push(b)
	}
	// settle makes the top block current and returns its best: the
	// farthest unpicked row from all centers. Stale blocks at the top are
	// brought up to date up to workers at a time, in parallel; updating a
	// block that then loses costs only time.
	batch := make([]int, 0, workers)
	settle := func() (blockBest, error) {
		for {
			if err := ctx.Err(); err != nil {
				return blockBest{}, err
			}
			to := len(k.centers)
			batch = batch[:0]
			for len(batch) < workers && len(q.b) > 0 && k.upto[q.b[0]] < to {
				batch = append(batch, q.pop())
			}
			if len(batch) == 0 {
				return k.best[q.b[0]], nil
			}
			// A block at most doubles its applied centers per step, so one
			// whose bound falls out of contention early skips the rest.
			step := func(b int) int { return min(to, max(k.upto[b]+kcenterSeedCenters, 2*k.upto[b])) }
			if len(batch) == 1 {
				k.apply(scr[0], batch[0], step(batch[0]))
			} else {
				var wg sync.WaitGroup
				for w, b := range batch {
					wg.Go(func() { k.apply(scr[w], b, step(b)) })
				}
				wg.Wait()
			}
			for _, b := range batch {
				q.push(b)
			}
		}
	}
	picks := make([]Pick, 0, req.Budget)
	for t := 0; t < req.Budget; t++ {
		var next int
		var score float64
		if t == 0 && len(labeled) == 0 {
			next = rand.New(rand.NewPCG(req.Seed, 0x6b63656e)).IntN(n)
		} else {
			bb, err := settle()
			if err != nil {
				return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
			}
			next, score = bb.idx, math.Sqrt(float64(bb.val))
		}
		picks = append(picks, Pick{Index: next, ID: rowID(req.Pool, next), Score: score})
		k.taken[next] = true
		k.minD[next] = 0
		k.addCenter(next)
		req.progress(t+1, req.Budget)
	}
	bb, err := settle()
	if err != nil {
		return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
	}
	return picks, math.Sqrt(float64(max(bb.val, 0))), nil
}
