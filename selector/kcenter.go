package selector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// kcenterStrategy is core-set greedy k-center (Sener & Savarese 2018): the
// labeled rows are the initial centers, and each pick is the unlabeled row
// farthest (Euclidean) from its nearest center. It keeps one O(n)
// min-distance vector and streams the pool once per pick; no n×n matrix.
// With no labeled rows the first center is a seeded uniform random row.
type kcenterStrategy struct{}

func (kcenterStrategy) Name() string { return "kcenter" }

// Select implements Strategy. A pick's Score is its distance to the nearest
// center at the time it was picked (0 for a random first center).
func (kcenterStrategy) Select(ctx context.Context, req Request) ([]Pick, error) {
	picks, _, err := kcenterGreedy(ctx, &req)
	return picks, err
}

// centerChunk is the number of centers whose distances one work item
// computes at once when many centers are known up front.
const centerChunk = 512

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
// squared norms cn), as ||x||² + ||c||² - 2<x,c> clamped at 0.
func blockCenterSqDists(x []float32, rows, d int, xn []float64, centers []float32, k int, cn []float64, dst []float32) {
	gemmABt(x, rows, centers, k, d, dst)
	for r := range rows {
		row := dst[r*k : (r+1)*k]
		for j, dot := range row {
			row[j] = float32(max(xn[r]+cn[j]-2*float64(dot), 0))
		}
	}
}

// minSqDistToRows lowers minD[i] to the squared distance from pool row i to
// the nearest of the pool rows listed in centers.
func minSqDistToRows(ctx context.Context, data []float32, n, d int, norms []float64, centers []int, minD []float32, workers int) error {
	scr := scratch32(selPoolWorkers(n, selBlockRows, workers), selBlockRows*min(centerChunk, len(centers)))
	for c0 := 0; c0 < len(centers); c0 += centerChunk {
		chunk := centers[c0:min(c0+centerChunk, len(centers))]
		k := len(chunk)
		cb := make([]float32, k*d)
		cn := make([]float64, k)
		for j, ci := range chunk {
			copy(cb[j*d:(j+1)*d], data[ci*d:(ci+1)*d])
			cn[j] = norms[ci]
		}
		err := selParallelW(ctx, n, selBlockRows, workers, func(w, _, lo, hi int) {
			tmp := scr[w][:(hi-lo)*k]
			blockCenterSqDists(data[lo*d:hi*d], hi-lo, d, norms[lo:hi], cb, k, cn, tmp)
			for r := range hi - lo {
				m := minD[lo+r]
				for _, v := range tmp[r*k : (r+1)*k] {
					m = min(m, v)
				}
				minD[lo+r] = m
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// blockBest is a block's farthest eligible row.
type blockBest struct {
	idx int
	val float32
}

// kcenterGreedy runs greedy k-center and also returns the final covering
// radius: the largest distance from any pool row to its nearest center
// (labeled rows and picks).
func kcenterGreedy(ctx context.Context, req *Request) ([]Pick, float64, error) {
	if _, err := req.validate(false); err != nil {
		return nil, 0, err
	}
	n, d := req.Pool.Rows, req.Pool.Cols
	data := req.Pool.Data
	norms, err := poolSqNorms(ctx, data, n, d, req.Workers)
	if err != nil {
		return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
	}
	minD := make([]float32, n)
	taken := make([]bool, n)
	var labeled []int
	for i, l := range req.Labeled {
		minD[i] = float32(math.Inf(1))
		if l {
			labeled = append(labeled, i)
			taken[i] = true
		}
	}
	if err := minSqDistToRows(ctx, data, n, d, norms, labeled, minD, req.Workers); err != nil {
		return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
	}
	for _, i := range labeled {
		minD[i] = 0
	}
	nb := selNumBlocks(n, selBlockRows)
	best := make([]blockBest, nb)
	reduce := func() int {
		bi, bv := -1, float32(-1)
		for _, b := range best {
			if b.idx >= 0 && b.val > bv {
				bi, bv = b.idx, b.val
			}
		}
		return bi
	}
	// First pick: the farthest row from the labeled set, or a seeded random
	// row when nothing is labeled.
	var next int
	var firstScore float64
	if len(labeled) == 0 {
		next = rand.New(rand.NewPCG(req.Seed, 0x6b63656e)).IntN(n)
	} else {
		next = -1
		for i, v := range minD {
			if !taken[i] && (next < 0 || v > minD[next]) {
				next = i
			}
		}
		firstScore = math.Sqrt(float64(minD[next]))
	}
	picks := make([]Pick, 0, req.Budget)
	center := make([]float32, d)
	scr := scratch32(selPoolWorkers(n, selBlockRows, req.Workers), selBlockRows)
	for t := 0; t < req.Budget; t++ {
		score := firstScore
		if t > 0 {
			next = reduce()
			score = math.Sqrt(float64(minD[next]))
		}
		picks = append(picks, Pick{Index: next, ID: rowID(req.Pool, next), Score: score})
		taken[next] = true
		minD[next] = 0
		copy(center, data[next*d:(next+1)*d])
		cn := norms[next]
		err := selParallelW(ctx, n, selBlockRows, req.Workers, func(w, b, lo, hi int) {
			dots := scr[w][:hi-lo]
			gemvRows(data[lo*d:hi*d], hi-lo, d, center, dots)
			bb := blockBest{idx: -1, val: -1}
			for r, dot := range dots {
				i := lo + r
				if taken[i] {
					continue
				}
				v := min(minD[i], float32(max(norms[i]+cn-2*float64(dot), 0)))
				minD[i] = v
				if v > bb.val {
					bb = blockBest{idx: i, val: v}
				}
			}
			best[b] = bb
		})
		if err != nil {
			return nil, 0, fmt.Errorf("selector: kcenter: %w", err)
		}
		req.progress(t+1, req.Budget)
	}
	var radius float32
	for _, v := range minD {
		radius = max(radius, v)
	}
	return picks, math.Sqrt(float64(radius)), nil
}
