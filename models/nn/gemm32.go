package nn

import (
	"math"
	"runtime"
	"sync"
)

// This file holds MatMul32's engine, the float32 twin of gemm.go: a packed,
// register-blocked GEMM in the style of GotoBLAS/BLIS. B is packed once
// into panels of gemm32NR columns (k×NR each); B's panels are cut into
// chunks that fit a core's L2 cache, and one task computes a panel of
// gemm32MR rows of C against one chunk: it packs that row panel of A (k×MR)
// and runs the micro-kernel, which computes one MR×NR tile of C, over the
// chunk's B panels. Tasks are handed out chunk by chunk, so the workers
// share the B chunk that is hot in their caches. On amd64 with AVX2 and
// FMA the micro-kernel is assembly (gemm32_amd64.s); elsewhere it is
// gemm32KernelGo.
//
// Determinism: every element of C is one float32 accumulator that starts
// at zero and takes acc = fma(A[i,p], B[p,j], acc), rounded once to
// float32, for p = 0, 1, ..., k-1 in that order, and only then is stored
// (or added to C). The assembly kernel (VFMADD231PS) and gemm32KernelGo
// (fma32, which emulates a correctly rounded float32 fma through float64
// with round-to-odd) do exactly this, so both give the same bits; and since
// no element's sum is split, the result does not depend on the tiling, on
// how tiles are spread over goroutines, on GOMAXPROCS, or on the other rows
// of A. (NaN payloads are the one thing the two kernels may disagree on.)

const (
	gemm32MR = 6  // rows of a micro-kernel tile
	gemm32NR = 16 // columns of a micro-kernel tile: two AVX registers
	// gemm32ChunkBytes bounds the packed B one task walks with one
	// packed A panel, so that B stays in a core's L2 cache while the
	// worker runs row panel after row panel against it.
	gemm32ChunkBytes = 384 << 10
	// gemm32SerialWork is the number of multiply-adds below which a
	// product runs on the calling goroutine alone.
	gemm32SerialWork = 1 << 18
)

// useGemm32Asm selects the assembly micro-kernel. It is haveGemm32Asm;
// tests turn it off to run the Go kernel on the same machine.
var useGemm32Asm = haveGemm32Asm

// strided32 is a read-only view of a float32 matrix whose element (i, j) is
// data[i*rs + j*cs], so that one GEMM serves all four transposes.
type strided32 struct {
	data   []float32
	rs, cs int
}

// gemm32 computes C = A·B (accumulate false) or C = C + A·B (accumulate
// true) for A m×k, B k×n and C m×n row-major with row stride ldc, as the
// file comment describes, on up to GOMAXPROCS goroutines.
func gemm32(m, n, k int, a, b strided32, c []float32, ldc int, accumulate bool) {
	gemm32Workers(runtime.GOMAXPROCS(0), m, n, k, a, b, c, ldc, accumulate)
}

// gemm32Chunk is the number of B panels in a chunk for inner size k.
func gemm32Chunk(k int) int {
	return max(1, gemm32ChunkBytes/(4*gemm32NR*k))
}

// gemm32Workers is gemm32 on at most workers goroutines (the calling one
// alone when workers <= 1). The result does not depend on workers.
func gemm32Workers(workers, m, n, k int, a, b strided32, c []float32, ldc int, accumulate bool) {
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
	nPanels := (n + gemm32NR - 1) / gemm32NR
	bp := getBuf32(nPanels * k * gemm32NR)
	defer putBuf32(bp)
	chunk := gemm32Chunk(k)
	nChunks := (nPanels + chunk - 1) / chunk
	rowPanels := (m + gemm32MR - 1) / gemm32MR
	tasks := rowPanels * nChunks

	if m*n*k < gemm32SerialWork {
		workers = 1
	}
	workers = max(1, min(workers, tasks))
	parallelFor(workers, nPanels, func(jp int) {
		packB32(b, k, n, jp, bp[jp*k*gemm32NR:(jp+1)*k*gemm32NR])
	})
	asm := useGemm32Asm
	// Each task owns a disjoint block of C, so the order in which the
	// workers take tasks does not matter.
	parallelForWorker(workers, tasks, func() any { return newGemm32Scratch(k) }, func(s any, t int) {
		sc := s.(*gemm32Scratch)
		ch, ip := t/rowPanels, t%rowPanels
		i0 := ip * gemm32MR
		rows := min(gemm32MR, m-i0)
		if sc.packed != ip {
			packA32(a, k, m, ip, sc.ap)
			sc.packed = ip
		}
		for jp := ch * chunk; jp < min((ch+1)*chunk, nPanels); jp++ {
			j0 := jp * gemm32NR
			cols := min(gemm32NR, n-j0)
			panel := bp[jp*k*gemm32NR : (jp+1)*k*gemm32NR]
			if rows == gemm32MR && cols == gemm32NR {
				if asm {
					gemm32KernelAsm(k, &sc.ap[0], &panel[0], &c[i0*ldc+j0], ldc, accumulate)
				} else {
					gemm32KernelGo(k, sc.ap, panel, c[i0*ldc+j0:], ldc, accumulate)
				}
				continue
			}
			// An edge tile: compute the whole tile into scratch, then
			// store or add the part inside C.
			if asm {
				gemm32KernelAsm(k, &sc.ap[0], &panel[0], &sc.tile[0], gemm32NR, false)
			} else {
				gemm32KernelGo(k, sc.ap, panel, sc.tile[:], gemm32NR, false)
			}
			for r := range rows {
				dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
				src := sc.tile[r*gemm32NR : r*gemm32NR+cols]
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

type gemm32Scratch struct {
	ap     []float32 // packed A panel, k×gemm32MR
	packed int       // row panel held in ap, -1 for none
	tile   [gemm32MR * gemm32NR]float32
}

func newGemm32Scratch(k int) *gemm32Scratch {
	return &gemm32Scratch{ap: make([]float32, k*gemm32MR), packed: -1}
}

// packA32 writes rows [ip·MR, ip·MR+MR) of A to ap as ap[p*MR + r] =
// A(i0+r, p), with zeros for rows past m.
func packA32(a strided32, k, m, ip int, ap []float32) {
	const mr = gemm32MR
	i0 := ip * mr
	rows := min(mr, m-i0)
	if rows < mr {
		clear(ap)
	}
	if a.rs == 1 && rows == mr { // A stored transposed: rows are adjacent
		for p := range k {
			*(*[mr]float32)(ap[p*mr:]) = *(*[mr]float32)(a.data[i0+p*a.cs:])
		}
		return
	}
	for r := range rows {
		base := (i0 + r) * a.rs
		if a.cs == 1 {
			src := a.data[base : base+k]
			for p, v := range src {
				ap[p*mr+r] = v
			}
			continue
		}
		for p := range k {
			ap[p*mr+r] = a.data[base+p*a.cs]
		}
	}
}

// packB32 writes columns [jp·NR, jp·NR+NR) of B to bp as bp[p*NR + q] =
// B(p, j0+q), with zeros for columns past n.
func packB32(b strided32, k, n, jp int, bp []float32) {
	const nr = gemm32NR
	j0 := jp * nr
	cols := min(nr, n-j0)
	if cols < nr {
		clear(bp)
	}
	if b.cs == 1 {
		if cols == nr {
			for p := range k {
				*(*[nr]float32)(bp[p*nr:]) = *(*[nr]float32)(b.data[p*b.rs+j0:])
			}
			return
		}
		for p := range k {
			copy(bp[p*nr:p*nr+cols], b.data[p*b.rs+j0:p*b.rs+j0+cols])
		}
		return
	}
	for q := range cols {
		base := (j0 + q) * b.cs
		for p := range k {
			bp[p*nr+q] = b.data[base+p*b.rs]
		}
	}
}

// gemm32KernelGo is the portable micro-kernel: one MR×NR tile from packed
// panels ap (k×MR) and bp (k×NR), stored or added to c with row stride
// ldc. It is the reference the assembly kernel must match bit for bit.
func gemm32KernelGo(k int, ap, bp, c []float32, ldc int, accumulate bool) {
	var acc [gemm32MR * gemm32NR]float32
	ap, bp = ap[:k*gemm32MR], bp[:k*gemm32NR]
	for p := range k {
		a := ap[p*gemm32MR : p*gemm32MR+gemm32MR]
		b := (*[gemm32NR]float32)(bp[p*gemm32NR:])
		for r, av := range a {
			row := (*[gemm32NR]float32)(acc[r*gemm32NR:])
			for q, bv := range b {
				row[q] = fma32(av, bv, row[q])
			}
		}
	}
	for r := range gemm32MR {
		dst := c[r*ldc : r*ldc+gemm32NR]
		for q, v := range acc[r*gemm32NR : r*gemm32NR+gemm32NR] {
			if accumulate {
				dst[q] += v
			} else {
				dst[q] = v
			}
		}
	}
}

// fma32 returns x*y + acc correctly rounded to float32, as the hardware's
// float32 fused multiply-add does. The product of two float32 values is
// exact in float64, but rounding the float64 sum to nearest and then to
// float32 can round twice the wrong way: when the float64 sum lands exactly
// on a midpoint between two float32 values, ties-to-even may pick the side
// opposite to the exact sum (x = 1+2⁻²³, y = 2⁻²⁴-2⁻⁴⁷, acc = 1+2⁻²³ is
// one such case). So the float64 sum is rounded to odd instead (its error,
// found exactly with TwoSum, sets the last bit), after which the one
// rounding to float32 is correct (Boldo and Melquiond, "Emulation of FMA
// and correctly rounded sums: proved algorithms using rounding to odd").
func fma32(x, y, acc float32) float32 {
	p := float64(float64(x) * float64(y)) // exact
	a := float64(acc)
	s := p + a
	// TwoSum: e = (p + a) - s exactly.
	bv := s - p
	e := (p - (s - bv)) + (a - bv)
	if e > 0 || e < 0 { // inexact (and not NaN: s is then ±Inf or NaN)
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			// The exact sum lies strictly between s and its neighbour
			// towards e; of the two, take the odd one.
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}

// buf32Pool recycles the packing buffers of gemm32 (B packed whole).
// Buffers are fully overwritten before use.
var buf32Pool sync.Pool

func getBuf32(n int) []float32 {
	if p, ok := buf32Pool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func putBuf32(b []float32) { buf32Pool.Put(&b) }
