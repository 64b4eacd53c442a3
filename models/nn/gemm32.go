package nn

import (
	"math"
	"runtime"
	"sync"
)

// This file holds MatMul32's engine, the float32 twin of gemm.go: a packed,
// register-blocked GEMM in the style of GotoBLAS/BLIS, without splitting
// the inner dimension.
//
//   - B is packed once, whole, into panels of gemm32NR columns (k×NR
//     each), cut into chunks of about gemm32ChunkBytes.
//   - A is packed into row panels of gemm32MR rows (k×MR each), grouped
//     by up to gemm32Group panels, about gemm32GroupBytes, so that a group
//     and a chunk fit a core's L2 cache together. A worker packs the group
//     it needs into its own scratch, where it stays in cache. A transposed
//     A is packed a stored row segment (the group's columns) at a time.
//     On amd64 both packers of A are assembly too.
//   - A task is one group against a slice of B's panels (all of them,
//     unless there are too few groups to keep the workers busy), chunk by
//     chunk: for each row panel of the group, for each B panel of the
//     chunk, the micro-kernel computes one MR×NR tile of C over the whole
//     of k.
//
// On amd64 with AVX2 and FMA the micro-kernel is assembly
// (gemm32_amd64.s); elsewhere it is gemm32KernelGo.
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
	// gemm32ChunkBytes bounds a chunk of packed B, and gemm32GroupBytes
	// a group of packed A (gemm32Group row panels at most): together
	// three quarters of a 1 MiB L2 cache (AMD Zen 4). Larger groups mean
	// fewer, longer reads per row of a transposed A: on the weight
	// gradient 960x160x2304 (TN) 384 KiB groups ran at 91 GFLOP/s on one
	// core in a quiet run where 256 KiB ones ran at 84 (no better than
	// even in a noisy one); the other shapes did not move beyond the
	// noise.
	gemm32ChunkBytes = 384 << 10
	gemm32GroupBytes = 384 << 10
	gemm32Group      = 8
	// gemm32SerialWork is the number of multiply-adds below which a
	// product runs on the calling goroutine alone.
	gemm32SerialWork = 1 << 20
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

// gemm32Blocking returns how gemm32 cuts a product of the given shape on
// workers goroutines: row panels per group, B panels per chunk, and the
// number of slices the B panels are cut into, each slice a task of its own
// for every group (1 unless there are too few groups to keep the workers
// busy). None of them changes the result, only the speed.
func gemm32Blocking(workers, m, n, k int) (group, chunk, slices int) {
	rowPanels := (m + gemm32MR - 1) / gemm32MR
	nPanels := (n + gemm32NR - 1) / gemm32NR
	group = max(1, min(gemm32Group, gemm32GroupBytes/(4*gemm32MR*k), rowPanels))
	chunk = max(1, min(gemm32ChunkBytes/(4*gemm32NR*k), nPanels))
	// Chunks of even size: 10 panels as 5+5, not 8+2.
	nChunks := (nPanels + chunk - 1) / chunk
	chunk = (nPanels + nChunks - 1) / nChunks
	slices = 1
	if workers <= 1 {
		return group, chunk, slices
	}
	// Give every worker a few tasks: cut B into slices when there are
	// few groups, then the groups smaller if that was not enough.
	want := 3 * workers
	groups := (rowPanels + group - 1) / group
	if groups < want {
		slices = min(nPanels, (want+groups-1)/groups)
	}
	if groups*slices < want {
		groups = min(rowPanels, (want+slices-1)/slices)
		group = (rowPanels + groups - 1) / groups
	}
	return group, chunk, slices
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
	if m*n*k < gemm32SerialWork {
		workers = 1
	}
	const mr, nr = gemm32MR, gemm32NR
	rowPanels := (m + mr - 1) / mr
	nPanels := (n + nr - 1) / nr
	group, chunk, slices := gemm32Blocking(workers, m, n, k)
	groups := (rowPanels + group - 1) / group
	perSlice := (nPanels + slices - 1) / slices
	tasks := groups * slices
	workers = max(1, min(workers, tasks))

	asm := useGemm32Asm
	// Pack B whole, panel by panel, spread over the workers.
	bp := getBuf32(nPanels * k * nr)
	defer putBuf32(bp)
	parallelFor(workers, nPanels, func(jp int) { packB32(b, k, n, jp, bp[jp*k*nr:(jp+1)*k*nr]) })

	// A task is one group against one slice of B, chunk by chunk. Each
	// task owns a disjoint block of C, so the order in which the workers
	// take tasks does not matter.
	var (
		mu       sync.Mutex
		scratchs []*gemm32Scratch
	)
	defer func() {
		for _, sc := range scratchs {
			if sc.ap != nil {
				putBuf32(sc.ap)
			}
		}
	}()
	newScratch := func() any {
		sc := &gemm32Scratch{packed: -1}
		mu.Lock()
		scratchs = append(scratchs, sc)
		mu.Unlock()
		return sc
	}
	parallelForWorker(workers, tasks, newScratch, func(s any, t int) {
		sc := s.(*gemm32Scratch)
		g, sl := t/slices, t%slices
		ip0, ip1 := g*group, min((g+1)*group, rowPanels)
		// The worker packs the group's A into its own scratch, where it
		// stays in cache for the whole task (and the next, if that is
		// the same group's).
		if sc.packed != g {
			if sc.ap == nil {
				sc.ap = getBuf32(group * k * mr)
			}
			packA32Group(a, k, m, ip0, ip1, sc.ap[:(ip1-ip0)*k*mr], asm)
			sc.packed = g
		}
		jp1 := min((sl+1)*perSlice, nPanels)
		for jc := sl * perSlice; jc < jp1; jc += chunk {
			for ip := ip0; ip < ip1; ip++ {
				i0 := ip * mr
				rows := min(mr, m-i0)
				panelA := sc.ap[(ip-ip0)*k*mr : (ip-ip0+1)*k*mr]
				for jp := jc; jp < min(jc+chunk, jp1); jp++ {
					gemm32Tile(sc, k, panelA, bp[jp*k*nr:(jp+1)*k*nr], c, ldc, i0, jp*nr, rows, min(nr, n-jp*nr), accumulate, asm)
				}
			}
		}
	})
}

// gemm32Tile computes the rows×cols tile of C at (i0, j0) from a packed
// panel of A and one of B: straight into C when it is a whole MR×NR tile,
// else into scratch first, and then stores or adds it.
func gemm32Tile(sc *gemm32Scratch, k int, panelA, panelB, c []float32, ldc, i0, j0, rows, cols int, accumulate, asm bool) {
	const mr, nr = gemm32MR, gemm32NR
	if rows == mr && cols == nr {
		if asm {
			gemm32KernelAsm(k, &panelA[0], &panelB[0], &c[i0*ldc+j0], ldc, accumulate)
		} else {
			gemm32KernelGo(k, panelA, panelB, c[i0*ldc+j0:], ldc, accumulate)
		}
		return
	}
	tile := sc.tile[:]
	if asm {
		gemm32KernelAsm(k, &panelA[0], &panelB[0], &tile[0], nr, false)
	} else {
		gemm32KernelGo(k, panelA, panelB, tile, nr, false)
	}
	for r := range rows {
		dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+cols]
		src := tile[r*nr : r*nr+cols]
		if accumulate {
			for q, v := range src {
				dst[q] += v
			}
		} else {
			copy(dst, src)
		}
	}
}

// gemm32Scratch is a worker's own memory: its packed group of A and an
// edge tile.
type gemm32Scratch struct {
	ap     []float32
	packed int // group held in ap, -1 for none
	tile   [gemm32MR * gemm32NR]float32
}

// packA32Group packs row panels [ip0, ip1) of A into ap, panel after
// panel, each as packA32 lays it out, with the assembly packers when asm.
func packA32Group(a strided32, k, m, ip0, ip1 int, ap []float32, asm bool) {
	const mr = gemm32MR
	if a.rs == 1 && ip1*mr <= m {
		// A stored transposed: row p of the stored matrix holds element
		// p of every row of the group, side by side. Read it once, left
		// to right, into all the group's panels; reading it one panel
		// (24 bytes) at a time would cost a cache miss per row and panel.
		i0, np, step := ip0*mr, ip1-ip0, k*mr
		if asm {
			_ = a.data[i0+(k-1)*a.cs+np*mr-1]
			_ = ap[np*step-1]
			packA32TAsm(&a.data[i0], a.cs, &ap[0], k, np)
			return
		}
		for p := range k {
			s := a.data[i0+p*a.cs:][:np*mr]
			off := p * mr
			for j := range np {
				*(*[4]float32)(ap[off:]) = *(*[4]float32)(s[j*mr:])
				*(*[2]float32)(ap[off+4:]) = *(*[2]float32)(s[j*mr+4:])
				off += step
			}
		}
		return
	}
	for ip := ip0; ip < ip1; ip++ {
		packA32(a, k, m, ip, ap[(ip-ip0)*k*mr:(ip-ip0+1)*k*mr], asm)
	}
}

// packA32 writes rows [ip·MR, ip·MR+MR) of A to ap as ap[p*MR + r] =
// A(i0+r, p), with zeros for rows past m, with the assembly packer when
// asm and it applies.
func packA32(a strided32, k, m, ip int, ap []float32, asm bool) {
	const mr = gemm32MR
	i0 := ip * mr
	rows := min(mr, m-i0)
	ap = ap[:k*mr]
	if rows < mr {
		clear(ap)
	}
	switch {
	case rows == mr && a.cs == 1 && asm:
		_ = a.data[(i0+mr-1)*a.rs+k-1]
		packA32NAsm(&a.data[i0*a.rs], a.rs, &ap[0], k)
	case rows == mr && a.cs == 1: // rows of A are contiguous
		r0 := a.data[i0*a.rs:][:k]
		r1 := a.data[(i0+1)*a.rs:][:len(r0)]
		r2 := a.data[(i0+2)*a.rs:][:len(r0)]
		r3 := a.data[(i0+3)*a.rs:][:len(r0)]
		r4 := a.data[(i0+4)*a.rs:][:len(r0)]
		r5 := a.data[(i0+5)*a.rs:][:len(r0)]
		for p := range r0 {
			d := ap[p*mr : p*mr+mr : p*mr+mr]
			d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		}
	case rows == mr && a.rs == 1: // A stored transposed: a panel's rows are adjacent
		for p := range k {
			s := a.data[i0+p*a.cs:][:mr]
			d := ap[p*mr : p*mr+mr : p*mr+mr]
			d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
		}
	default:
		for r := range rows {
			base := (i0 + r) * a.rs
			for p := range k {
				ap[p*mr+r] = a.data[base+p*a.cs]
			}
		}
	}
}

// packB32 writes columns [jp·NR, jp·NR+NR) of B to bp as bp[p*NR + q] =
// B(p, j0+q), with zeros for columns past n.
func packB32(b strided32, k, n, jp int, bp []float32) {
	const nr = gemm32NR
	j0 := jp * nr
	cols := min(nr, n-j0)
	bp = bp[:k*nr]
	if cols < nr {
		clear(bp)
	}
	if b.cs == 1 { // rows of B are contiguous
		for p := range k {
			copy(bp[p*nr:p*nr+cols], b.data[p*b.rs+j0:p*b.rs+j0+cols])
		}
		return
	}
	for q := range cols {
		base := (j0 + q) * b.cs
		if b.rs == 1 { // B stored transposed: its columns are contiguous
			for p, v := range b.data[base : base+k] {
				bp[p*nr+q] = v
			}
			continue
		}
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
			x := float64(av)
			for q, bv := range b {
				// fma32(av, bv, row[q]), by hand: it is too big for the
				// inliner, and a call per multiply-add costs a third.
				p, c := x*float64(bv), float64(row[q])
				s := p + c
				bb := s - p
				e := (p - (s - bb)) + (c - bb)
				// Branch-free, as an exact sum is common and unpredictable:
				// odd is 1 when e != 0 and s is finite, else 0.
				u, eb := math.Float64bits(s), math.Float64bits(e)
				odd := ((eb<<1 | -(eb << 1)) >> 63) &^ ((u>>52&0x7ff + 1) >> 11)
				u = (u - odd&((u^eb)>>63)) | odd
				row[q] = float32(math.Float64frombits(u))
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
	// p is exact, so a compiler fusing p + a into one fma changes nothing.
	p, a := float64(x)*float64(y), float64(acc)
	s := p + a
	// TwoSum: e = (p + a) - s exactly.
	bv := s - p
	e := (p - (s - bv)) + (a - bv)
	if e != 0 && e == e { // inexact (e is NaN when s is ±Inf or NaN)
		// The exact sum lies strictly between s and its neighbour
		// towards e. Truncate (step s one ulp towards zero when e points
		// that way) and set the last bit: that is the odd one of the two.
		u := math.Float64bits(s)
		s = math.Float64frombits((u - (u^math.Float64bits(e))>>63) | 1)
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
