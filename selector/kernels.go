package selector

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asvp-dev/asvp/models/nn"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// selBlockRows is the fixed number of pool rows one parallel work item covers.
// The partition of the pool never depends on the worker count, so every
// per-block reduction (maximum, sum) is combined in the same order whatever
// Workers is, and results are identical for Workers=1 and Workers=N.
const selBlockRows = 1024

// selWorkers returns the worker count to use: w when positive, else GOMAXPROCS.
func selWorkers(w int) int {
	if w > 0 {
		return w
	}
	return runtime.GOMAXPROCS(0)
}

// selParallel calls fn(block, lo, hi) for every block of blockRows rows of
// [0,n), on up to workers goroutines; see selParallelW.
func selParallel(ctx context.Context, n, blockRows, workers int, fn func(block, lo, hi int)) error {
	return selParallelW(ctx, n, blockRows, workers, func(_, block, lo, hi int) { fn(block, lo, hi) })
}

// selPoolWorkers returns how many goroutines selParallelW starts for n rows,
// so callers can size per-worker scratch buffers.
func selPoolWorkers(n, blockRows, workers int) int {
	return max(1, min(selWorkers(workers), selNumBlocks(n, blockRows)))
}

// selParallelW calls fn(worker, block, lo, hi) for every block of blockRows
// rows of [0,n), on selPoolWorkers goroutines numbered from 0. Blocks are
// handed out in order; the context is checked before each block, and its
// error is returned when it was cancelled. Reusing per-worker scratch
// matters: with a 2 GB pool live, GOGC=100 lets up to 2 GB of per-block
// garbage pile up before a collection.
func selParallelW(ctx context.Context, n, blockRows, workers int, fn func(worker, block, lo, hi int)) error {
	if n <= 0 {
		return ctx.Err()
	}
	nb := selNumBlocks(n, blockRows)
	workers = selPoolWorkers(n, blockRows, workers)
	var next atomic.Int64
	var stop atomic.Bool
	run := func(w int) {
		for !stop.Load() {
			b := int(next.Add(1) - 1)
			if b >= nb {
				return
			}
			if ctx.Err() != nil {
				stop.Store(true)
				return
			}
			lo := b * blockRows
			fn(w, b, lo, min(lo+blockRows, n))
		}
	}
	if workers <= 1 {
		run(0)
		return ctx.Err()
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { run(w) })
	}
	wg.Wait()
	return ctx.Err()
}

// scratch32 returns per-worker float32 buffers of length size each.
func scratch32(workers, size int) [][]float32 {
	s := make([][]float32, workers)
	for i := range s {
		s[i] = make([]float32, size)
	}
	return s
}

// selNumBlocks returns the number of blockRows blocks covering n rows.
func selNumBlocks(n, blockRows int) int { return (n + blockRows - 1) / blockRows }

// rowSqNorms writes the squared Euclidean norm of every row of data (rows of
// length d) into dst, accumulating in float64.
func rowSqNorms(data []float32, d int, dst []float64) {
	for i := range dst {
		row := data[i*d : (i+1)*d]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		dst[i] = s
	}
}

// gemvRows computes out[r] = <A_r, x> for the rows of the row-major block a
// (rows of length d): one streaming pass over the block with an SSE dot
// kernel (gonum's float32 BLAS).
func gemvRows(a []float32, rows, d int, x, out []float32) {
	if rows == 0 {
		return
	}
	blas32.Gemv(blas.NoTrans, 1,
		blas32.General{Rows: rows, Cols: d, Stride: d, Data: a[:rows*d]},
		blas32.Vector{N: d, Inc: 1, Data: x}, 0,
		blas32.Vector{N: rows, Inc: 1, Data: out[:rows]})
}

// gemmABt computes c = a * bᵀ where a is m×k float32 and b64 is the n×k
// float64 copy of the right-hand side, both row-major, into the m×n
// row-major float32 c. The product runs in float64 with nn.MatMul (every
// element summed in order of the inner index, so the result depends on
// neither blocking nor GOMAXPROCS); a64 (m×k) and c64 (m×n) are scratch.
func gemmABt(a []float32, m int, b64 []float64, n, k int, c []float32, a64, c64 []float64) {
	if m == 0 || n == 0 {
		return
	}
	toF64(a64[:m*k], a[:m*k])
	nn.MatMul(false, true, m, n, k, a64, k, b64, k, c64, n, false)
	for i, v := range c64[:m*n] {
		c[i] = float32(v)
	}
}

// sgemmABt computes c = a * bᵀ in float32 (gonum's Sgemm) where a is m×k
// and b is n×k, both row-major, and c is m×n row-major. Only
// blockCenterSqDists (TypiClust's k-means) still uses it.
func sgemmABt(a []float32, m int, b []float32, n, k int, c []float32) {
	if m == 0 || n == 0 {
		return
	}
	blas32.Gemm(blas.NoTrans, blas.Trans, 1,
		blas32.General{Rows: m, Cols: k, Stride: k, Data: a[:m*k]},
		blas32.General{Rows: n, Cols: k, Stride: k, Data: b[:n*k]}, 0,
		blas32.General{Rows: m, Cols: n, Stride: n, Data: c[:m*n]})
}

// toF64 widens src into dst (same length).
func toF64(dst []float64, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float64(v)
	}
}

// widen returns a float64 copy of src.
func widen(src []float32) []float64 {
	dst := make([]float64, len(src))
	toF64(dst, src)
	return dst
}

// f64Pool recycles float64 scratch buffers of one or more sizes for code
// that must be safe for concurrent use (Proxy.Forward).
type f64Pool struct{ p sync.Pool }

// get returns a buffer of at least n elements.
func (fp *f64Pool) get(n int) *[]float64 {
	if b, ok := fp.p.Get().(*[]float64); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float64, n)
	return &b
}

func (fp *f64Pool) put(b *[]float64) { fp.p.Put(b) }

// seededUniforms returns n draws from U(0,1), exclusive of both ends, from
// a PCG stream seeded with (seed, stream). Draw i belongs to pool row i, so
// the values never depend on how rows are split among workers.
func seededUniforms(seed, stream uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, stream))
	u := make([]float64, n)
	for i := range u {
		v := rng.Float64()
		for v == 0 {
			v = rng.Float64()
		}
		u[i] = v
	}
	return u
}

// tieRank returns the rank key that orders row i among rows with an equal
// selection key: a splitmix64 hash of (seed, i), one-to-one in i for a fixed
// seed (an odd-multiple step through a bijection). Ties then fall in a seeded
// pseudo-random order that is a function of the row alone, so it does not
// depend on the worker count or on how rows are split into blocks, and it
// costs a few multiplications instead of a pool-sized array of draws.
func tieRank(seed uint64, i int) uint64 {
	return mix64(mix64(seed) + (uint64(i)+1)*0x9e3779b97f4a7c15)
}

// mix64 is the splitmix64 output function (Steele, Lea, Flood 2014), a
// bijection of uint64 with good avalanche.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// topK returns the indices of the k largest keys among rows where ok(i) is
// true, ordered by key descending. Equal keys are ordered by tieRank(seed,
// i) ascending, a seeded random order (tieRank is one-to-one in i for a
// fixed seed, so the index never decides). NaN keys rank as -Inf, below
// every number, and tie with -Inf keys.
func topK(keys []float64, k int, ok func(i int) bool, seed uint64) []int {
	h := make(selHeap, 0, k)
	for i, v := range keys {
		if !ok(i) {
			continue
		}
		if math.IsNaN(v) {
			v = math.Inf(-1)
		}
		if len(h) == k && (k == 0 || v < h[0].key) {
			continue // cannot enter: skip the hash
		}
		e := heapItem{key: v, tie: tieRank(seed, i), idx: i}
		if len(h) < k {
			h.push(e)
		} else if e.better(h[0]) {
			h[0] = e
			h.down(0)
		}
	}
	out := make([]int, len(h))
	for j := len(h) - 1; j >= 0; j-- {
		out[j] = h[0].idx
		h.pop()
	}
	return out
}

type heapItem struct {
	key float64
	tie uint64
	idx int
}

// better reports whether a ranks before b: larger key, then smaller tie
// rank, then smaller index.
func (a heapItem) better(b heapItem) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	if a.tie != b.tie {
		return a.tie < b.tie
	}
	return a.idx < b.idx
}

// selHeap is a min-heap by rank: its root is the worst item kept.
type selHeap []heapItem

func (h *selHeap) push(e heapItem) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[p].better(s[i]) {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *selHeap) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	if n > 0 {
		h.down(0)
	}
}

func (h selHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && h[l].better(h[r]) {
			w = r
		}
		if !h[i].better(h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// contextBackground returns a context that is never cancelled, for internal
// loops that have no caller context.
func contextBackground() context.Context { return context.Background() }

// progressCounter reports progress from parallel blocks, serialising calls
// to the callback.
type progressCounter struct {
	mu   sync.Mutex
	done int
}

func (p *progressCounter) add(req *Request, k, total int) {
	if req.Progress == nil {
		return
	}
	p.mu.Lock()
	p.done += k
	req.Progress(p.done, total)
	p.mu.Unlock()
}
