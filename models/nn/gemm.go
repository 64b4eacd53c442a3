package nn

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// This file holds the matrix product behind Dense (and so behind training,
// Predict and Embed). It is a packed, register-blocked GEMM in the style of
// GotoBLAS/BLIS: B is packed once into panels of gemmNR columns, each task
// packs a panel of gemmMR rows of A, and a micro-kernel computes one
// gemmMR×gemmNR tile of C. On amd64 with AVX2 and FMA the micro-kernel is
// assembly (gemm_amd64.s); elsewhere it is gemmKernelGo.
//
// Determinism: every element of C is one accumulator that starts at zero
// and takes the fused multiply-add acc = fma(A[i,p], B[p,j], acc) for p = 0,
// 1, ..., k-1 in that order, and only then is stored (or added to C). The
// assembly kernel and gemmKernelGo do exactly this, so both give the same
// bits; and since no element's sum is split, the result does not depend on
// the tiling, on how tiles are spread over goroutines, on GOMAXPROCS, or on
// the other rows of the batch.

const (
	gemmMR = 6 // rows of a micro-kernel tile
	gemmNR = 8 // columns of a micro-kernel tile
	// gemmChunk is the number of B panels one task walks with one packed
	// A panel: 16 panels of 8 columns at k = 576 is 590 KB of B, which
	// stays in a core's L2 cache.
	gemmChunk = 16
	// gemmSerialWork is the number of multiply-adds below which a product
	// runs on the calling goroutine alone.
	gemmSerialWork = 1 << 17
)

// strided is a read-only view of a matrix whose element (i, j) is
// data[i*rs + j*cs]. It lets one GEMM serve x·Wᵀ, gᵀ·x and g·W without
// copying transposes.
type strided struct {
	data   []float64
	rs, cs int
}

func (v strided) at(i, j int) float64 { return v.data[i*v.rs+j*v.cs] }

// rowMajor views a rows×cols row-major slice.
func rowMajor(data []float64, cols int) strided { return strided{data: data, rs: cols, cs: 1} }

// transposed views the transpose of a rows×cols row-major slice: element
// (i, j) of the view is data[j*cols + i].
func transposed(data []float64, cols int) strided { return strided{data: data, rs: 1, cs: cols} }

// gemm computes C = A·B (accumulate false) or C = C + A·B (accumulate
// true), with A m×k, B k×n and C m×n row-major with row stride ldc. Each
// element of A·B is summed with fused multiply-adds in order of the inner
// index (see the file comment). A and B are not modified and must not
// overlap C.
func gemm(m, n, k int, a, b strided, c []float64, ldc int, accumulate bool) {
	gemmWorkers(runtime.GOMAXPROCS(0), m, n, k, a, b, c, ldc, accumulate)
}

// gemmWorkers is gemm on at most workers goroutines (the calling one
// alone when workers <= 1). The result does not depend on workers.
func gemmWorkers(workers, m, n, k int, a, b strided, c []float64, ldc int, accumulate bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !accumulate {
			for i := range m {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	nPanels := (n + gemmNR - 1) / gemmNR
	bp := getBuf(nPanels * k * gemmNR)
	defer putBuf(bp)
	nChunks := (nPanels + gemmChunk - 1) / gemmChunk
	rowPanels := (m + gemmMR - 1) / gemmMR
	tasks := rowPanels * nChunks

	if m*n*k < gemmSerialWork {
		workers = 1
	}
	workers = max(1, min(workers, tasks))
	// Pack B, one panel at a time; panels are spread over the workers.
	parallelFor(workers, nPanels, func(jp int) { packB(b, k, n, jp, bp[jp*k*gemmNR:(jp+1)*k*gemmNR]) })
	// Each task owns a disjoint block of C, so the order in which the
	// workers take tasks does not matter.
	parallelForWorker(workers, tasks, func() any { return newGemmScratch(k) }, func(s any, t int) {
		sc := s.(*gemmScratch)
		ip, chunk := t/nChunks, t%nChunks
		i0 := ip * gemmMR
		rows := min(gemmMR, m-i0)
		if sc.packed != ip {
			packA(a, k, m, ip, sc.ap)
			sc.packed = ip
		}
		for jp := chunk * gemmChunk; jp < min((chunk+1)*gemmChunk, nPanels); jp++ {
			j0 := jp * gemmNR
			cols := min(gemmNR, n-j0)
			panel := bp[jp*k*gemmNR : (jp+1)*k*gemmNR]
			if rows == gemmMR && cols == gemmNR && haveGemmAsm {
				gemmKernelAsm(k, &sc.ap[0], &panel[0], &c[i0*ldc+j0], ldc, accumulate)
				continue
			}
			gemmKernel(k, sc.ap, panel, sc.tile[:], gemmNR, false)
			for r := range rows {
				dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
				src := sc.tile[r*gemmNR : r*gemmNR+cols]
				if accumulate {
					for q, v := range src {
						dst[q] += v
					}
				} else {
					copy(dst, src)
				}
			}
		}
	})
}

type gemmScratch struct {
	ap     []float64 // packed A panel, k×gemmMR
	packed int       // row panel held in ap, -1 for none
	tile   [gemmMR * gemmNR]float64
}

func newGemmScratch(k int) *gemmScratch {
	return &gemmScratch{ap: make([]float64, k*gemmMR), packed: -1}
}

// packA writes rows [ip·MR, ip·MR+MR) of A to ap as ap[p*MR + r] = A(i0+r, p),
// with zeros for rows past m.
func packA(a strided, k, m, ip int, ap []float64) {
	i0 := ip * gemmMR
	rows := min(gemmMR, m-i0)
	if rows < gemmMR {
		clear(ap)
	}
	for r := range rows {
		base := (i0 + r) * a.rs
		if a.cs == 1 {
			src := a.data[base : base+k]
			for p, v := range src {
				ap[p*gemmMR+r] = v
			}
			continue
		}
		for p := range k {
			ap[p*gemmMR+r] = a.data[base+p*a.cs]
		}
	}
}

// packB writes columns [jp·NR, jp·NR+NR) of B to bp as bp[p*NR + q] =
// B(p, j0+q), with zeros for columns past n.
func packB(b strided, k, n, jp int, bp []float64) {
	j0 := jp * gemmNR
	cols := min(gemmNR, n-j0)
	if cols < gemmNR {
		clear(bp)
	}
	if b.cs == 1 {
		if cols == gemmNR {
			for p := range k {
				*(*[gemmNR]float64)(bp[p*gemmNR:]) = *(*[gemmNR]float64)(b.data[p*b.rs+j0:])
			}
			return
		}
		for p := range k {
			copy(bp[p*gemmNR:p*gemmNR+cols], b.data[p*b.rs+j0:p*b.rs+j0+cols])
		}
		return
	}
	for q := range cols {
		base := (j0 + q) * b.cs
		for p := range k {
			bp[p*gemmNR+q] = b.data[base+p*b.rs]
		}
	}
}

// gemmKernel computes one MR×NR tile from packed panels into c (row stride
// ldc), storing or adding, with the assembly kernel when available.
func gemmKernel(k int, ap, bp, c []float64, ldc int, accumulate bool) {
	if haveGemmAsm {
		gemmKernelAsm(k, &ap[0], &bp[0], &c[0], ldc, accumulate)
		return
	}
	gemmKernelGo(k, ap, bp, c, ldc, accumulate)
}

// gemmKernelGo is the portable micro-kernel and the reference the assembly
// kernel must match bit for bit.
func gemmKernelGo(k int, ap, bp, c []float64, ldc int, accumulate bool) {
	var acc [gemmMR * gemmNR]float64
	for p := range k {
		a := ap[p*gemmMR : p*gemmMR+gemmMR]
		b := bp[p*gemmNR : p*gemmNR+gemmNR]
		for r, av := range a {
			row := acc[r*gemmNR : r*gemmNR+gemmNR]
			for q, bv := range b {
				row[q] = math.FMA(av, bv, row[q])
			}
		}
	}
	for r := range gemmMR {
		dst := c[r*ldc : r*ldc+gemmNR]
		for q, v := range acc[r*gemmNR : r*gemmNR+gemmNR] {
			if accumulate {
				dst[q] += v
			} else {
				dst[q] = v
			}
		}
	}
}

// parallelFor runs f(0), ..., f(n-1) on up to workers goroutines.
func parallelFor(workers, n int, f func(int)) {
	parallelForWorker(workers, n, func() any { return nil }, func(_ any, i int) { f(i) })
}

// parallelForWorker runs f(s, i) for i in [0, n) on up to workers
// goroutines, each with its own state s from newState. Indices are handed
// out in increasing order; f must write only what index i owns.
func parallelForWorker(workers, n int, newState func() any, f func(any, int)) {
	if workers <= 1 || n <= 1 {
		s := newState()
		for i := range n {
			f(s, i)
		}
		return
	}
	workers = min(workers, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s := newState()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(s, i)
			}
		})
	}
	wg.Wait()
}

// bufPool recycles the packing buffers of gemm, which are large (B packed
// whole) and needed on every training step. Buffers are fully overwritten
// before use, so what a recycled buffer held never shows.
var bufPool sync.Pool

func getBuf(n int) []float64 {
	if p, ok := bufPool.Get().(*[]float64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float64, n)
}

func putBuf(b []float64) { bufPool.Put(&b) }
