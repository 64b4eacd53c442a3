package nn

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// matMul32Ref is the exact arithmetic MatMul32 promises, as a plain loop
// over the stored matrices: one float32 accumulator per element, fma32 in
// order of the inner index, then store or add.
func matMul32Ref(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, accumulate bool) {
	for i := range m {
		for j := range n {
			var acc float32
			for p := range k {
				acc = fma32(at32(a, lda, transA, i, p), at32(b, ldb, transB, p, j), acc)
			}
			if accumulate {
				c[i*ldc+j] += acc
			} else {
				c[i*ldc+j] = acc
			}
		}
	}
}

// at32 is element (i, j) of op(X) for X stored row-major with stride ld.
func at32(x []float32, ld int, trans bool, i, j int) float32 {
	if trans {
		return x[j*ld+i]
	}
	return x[i*ld+j]
}

// rand32 returns n standard normal float32 values.
func rand32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// operands32 makes random A, B and C for op(A) m×k, op(B) k×n, C m×n, each
// stored with its rows padded by pad elements.
func operands32(rng *rand.Rand, transA, transB bool, m, n, k, pad int) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	lda, ldb, ldc = ca+pad, cb+pad, n+pad
	return rand32(rng, ra*lda), lda, rand32(rng, rb*ldb), ldb, rand32(rng, m*ldc), ldc
}

func bitsEqual32(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v (%#08x), want %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// withGoKernel runs f with the portable micro-kernel forced.
func withGoKernel(f func()) {
	defer func(old bool) { useGemm32Asm = old }(useGemm32Asm)
	useGemm32Asm = false
	f()
}

var matMul32Shapes = []struct{ m, n, k int }{
	{1, 1, 1}, {1, 7, 17}, {7, 1, 5}, {7, 17, 1}, {6, 16, 4}, {17, 33, 64},
	{64, 97, 7}, {97, 64, 129}, {13, 10, 576}, {130, 49, 97}, {200, 160, 96},
}

// TestMatMul32 checks MatMul32 against a float64-accumulated loop within a
// float32 error bound, and bit for bit against the fma loop it promises,
// for shapes that are not multiples of the tile, all four transposes,
// storing and accumulating, and strides wider than the rows.
func TestMatMul32(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, sh := range matMul32Shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, acc := range []bool{false, true} {
				for _, pad := range []int{0, 3} {
					name := fmt.Sprintf("m%d n%d k%d tA%v tB%v acc%v pad%d", sh.m, sh.n, sh.k, tr[0], tr[1], acc, pad)
					checkMatMul32(t, rng, name, tr[0], tr[1], sh.m, sh.n, sh.k, pad, acc)
				}
			}
		}
	}
}

func checkMatMul32(t *testing.T, rng *rand.Rand, name string, ta, tb bool, m, n, k, pad int, acc bool) {
	t.Helper()
	a, lda, b, ldb, c0, ldc := operands32(rng, ta, tb, m, n, k, pad)
	aCopy, bCopy := append([]float32(nil), a...), append([]float32(nil), b...)
	got := append([]float32(nil), c0...)
	MatMul32(ta, tb, m, n, k, a, lda, b, ldb, got, ldc, acc)
	want := append([]float32(nil), c0...)
	matMul32Ref(ta, tb, m, n, k, a, lda, b, ldb, want, ldc, acc)
	const eps = 0x1p-24 // float32 unit roundoff
	for i := range m {
		for j := range ldc {
			g := got[i*ldc+j]
			if j >= n {
				if math.Float32bits(g) != math.Float32bits(c0[i*ldc+j]) {
					t.Fatalf("%s: c[%d,%d] beyond n changed", name, i, j)
				}
				continue
			}
			// Float64 loop and the error bound of k float32 fmas plus the
			// final add: |err| <= (k+1)·eps·(Σ|a||b| + |c0|), roughly.
			var s, mag float64
			for p := range k {
				x, y := float64(at32(a, lda, ta, i, p)), float64(at32(b, ldb, tb, p, j))
				s += x * y
				mag += math.Abs(x * y)
			}
			if acc {
				s += float64(c0[i*ldc+j])
				mag += math.Abs(float64(c0[i*ldc+j]))
			}
			if d := math.Abs(float64(g) - s); d > float64(k+2)*eps*mag {
				t.Fatalf("%s: c[%d,%d] = %v, float64 loop %v (|diff| %g > bound %g)", name, i, j, g, s, d, float64(k+2)*eps*mag)
			}
			if w := want[i*ldc+j]; math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("%s: c[%d,%d] = %v, fma loop %v (bits differ)", name, i, j, g, w)
			}
		}
	}
	bitsEqual32(t, name+": A modified", a, aCopy)
	bitsEqual32(t, name+": B modified", b, bCopy)
}

// TestMatMul32Empty checks k = 0 (C = 0, or C unchanged when accumulating)
// and m = 0 or n = 0 (nothing touched).
func TestMatMul32Empty(t *testing.T) {
	c := []float32{1, 2, 3, 4, 5, 6}
	MatMul32(false, false, 2, 2, 0, nil, 0, nil, 2, c, 3, true)
	bitsEqual32(t, "k=0 accumulate", c, []float32{1, 2, 3, 4, 5, 6})
	MatMul32(true, true, 2, 2, 0, nil, 2, nil, 0, c, 3, false)
	bitsEqual32(t, "k=0 store", c, []float32{0, 0, 3, 0, 0, 6})
	MatMul32(false, false, 0, 2, 3, nil, 3, make([]float32, 6), 2, nil, 2, false)
	MatMul32(false, false, 2, 0, 3, make([]float32, 6), 3, nil, 0, c, 3, false)
	bitsEqual32(t, "n=0", c, []float32{0, 0, 3, 0, 0, 6})
}

// TestMatMul32Workers checks that the product has the same bits on 1, 2, 3
// and 8 workers and at GOMAXPROCS 1, 2, 3 and 8, for all four transposes,
// and that a row of C computed alone equals the same row computed inside a
// batch.
func TestMatMul32Workers(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	// Big enough to be split over workers, B split into several chunks
	// (k = 2304 gives one 16-column panel per chunk), ragged edges.
	for _, sh := range []struct{ m, n, k int }{{301, 200, 150}, {97, 100, 2304}} {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			ta, tb := tr[0], tr[1]
			m, n, k := sh.m, sh.n, sh.k
			if _, chunk, _ := gemm32Blocking(1, m, n, k); chunk*gemm32NR >= n && k > 1000 {
				t.Fatalf("k=%d: B fits one chunk, the test would not split it", k)
			}
			a, lda, b, ldb, _, ldc := operands32(rng, ta, tb, m, n, k, 1)
			view := func(x []float32, ld int, tr bool) strided32 {
				if tr {
					return strided32{data: x, rs: 1, cs: ld}
				}
				return strided32{data: x, rs: ld, cs: 1}
			}
			av, bv := view(a, lda, ta), view(b, ldb, tb)
			var first []float32
			for _, w := range []int{1, 2, 3, 8} {
				c := make([]float32, m*ldc)
				gemm32Workers(w, m, n, k, av, bv, c, ldc, false)
				if first == nil {
					first = c
					continue
				}
				bitsEqual32(t, fmt.Sprintf("%dx%dx%d tA%v tB%v: %d workers vs 1", m, n, k, ta, tb, w), c, first)
			}
			for _, procs := range []int{1, 2, 3, 8} {
				c := make([]float32, m*ldc)
				func() {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					MatMul32(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, false)
				}()
				bitsEqual32(t, fmt.Sprintf("%dx%dx%d tA%v tB%v: GOMAXPROCS %d vs 1 worker", m, n, k, ta, tb, procs), c, first)
			}
			// Row i alone: op(A) restricted to row i is a 1×k matrix whose
			// elements are a[i*lda + p] (stored m×k) or a[p*lda + i]
			// (stored k×m, so the view starts at column i).
			for _, i := range []int{0, 5, 6, m / 2, m - 1} {
				row := make([]float32, n)
				if ta {
					MatMul32(true, tb, 1, n, k, a[i:], lda, b, ldb, row, n, false)
				} else {
					MatMul32(false, tb, 1, n, k, a[i*lda:], lda, b, ldb, row, n, false)
				}
				bitsEqual32(t, fmt.Sprintf("%dx%dx%d tA%v tB%v: row %d alone vs batch", m, n, k, ta, tb, i), row, first[i*ldc:i*ldc+n])
			}
		}
	}
}

// TestMatMul32GoKernel runs whole products on the portable kernel and
// checks them bit for bit against the same products on the assembly one
// (and against the fma loop everywhere).
func TestMatMul32GoKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	shapes := []struct{ m, n, k int }{{7, 17, 1}, {64, 97, 7}, {97, 64, 129}, {130, 49, 97}, {61, 40, 576}}
	for _, sh := range shapes {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, acc := range []bool{false, true} {
				ta, tb := tr[0], tr[1]
				name := fmt.Sprintf("m%d n%d k%d tA%v tB%v acc%v", sh.m, sh.n, sh.k, ta, tb, acc)
				a, lda, b, ldb, c0, ldc := operands32(rng, ta, tb, sh.m, sh.n, sh.k, 2)
				fast := append([]float32(nil), c0...)
				MatMul32(ta, tb, sh.m, sh.n, sh.k, a, lda, b, ldb, fast, ldc, acc)
				slow := append([]float32(nil), c0...)
				withGoKernel(func() { MatMul32(ta, tb, sh.m, sh.n, sh.k, a, lda, b, ldb, slow, ldc, acc) })
				bitsEqual32(t, name+": Go kernel vs default", slow, fast)
				checkMatMul32(t, rng, name, ta, tb, sh.m, sh.n, sh.k, 2, acc)
				withGoKernel(func() { checkMatMul32(t, rng, name+" (Go kernel)", ta, tb, sh.m, sh.n, sh.k, 2, acc) })
			}
		}
	}
}

// hardCase32 returns x, y and acc for which rounding x*y+acc to float64 and
// then to float32 differs from rounding it once, or nearly so: x*y is a
// product of significands 2²³+a and 2²⁴-2a±1, within about 2⁻²⁹ of a power
// of two, scaled to half an ulp of acc, so the float64 sum sits on (or very
// near) a float32 midpoint.
func hardCase32(rng *rand.Rand) (x, y, acc float32) {
	a := rng.IntN(256) + 1
	ex := rng.IntN(60) - 30
	x = float32(math.Ldexp(float64(1<<23+a), -23))
	y = float32(math.Ldexp(float64(1<<24-2*a+rng.IntN(3)-1), ex-48))
	acc = float32(math.Ldexp(float64(1<<23+rng.IntN(1<<23)), ex-23))
	if rng.IntN(2) == 0 {
		y = -y
	}
	if rng.IntN(2) == 0 {
		acc = -acc
	}
	if rng.IntN(4) == 0 { // results near float32's subnormals
		x, acc = float32(math.Ldexp(float64(x), -100)), float32(math.Ldexp(float64(acc), -100))
	}
	return x, y, acc
}

// fma32Exact is x*y + acc rounded once to float32, through big.Float.
func fma32Exact(x, y, acc float32) float32 {
	const prec = 1000 // holds any float32 x*y + acc exactly
	z := new(big.Float).SetPrec(prec).SetFloat64(float64(x))
	z.Mul(z, new(big.Float).SetPrec(prec).SetFloat64(float64(y)))
	z.Add(z, new(big.Float).SetPrec(prec).SetFloat64(float64(acc)))
	if z.Sign() == 0 {
		return float32(float64(x)*float64(y) + float64(acc)) // sign of an exact zero
	}
	f, _ := z.Float32()
	return f
}

// fma32Double is the tempting emulation that rounds twice.
func fma32Double(x, y, acc float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(acc)))
}

// TestFMA32 checks fma32 against a once-rounded fma computed exactly, on
// random operands (subnormals included) and on hard cases where rounding
// through float64 to nearest goes wrong, and checks that the hard cases
// really are hard for that emulation.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	x, y, acc := float32(1+0x1p-23), float32(0x1p-24-0x1p-47), float32(1+0x1p-23)
	if got, want := fma32(x, y, acc), float32(1+0x1p-23); got != want {
		t.Fatalf("fma32(1+2⁻²³, 2⁻²⁴-2⁻⁴⁷, 1+2⁻²³) = %v, want %v", got, want)
	}
	if fma32Double(x, y, acc) == fma32(x, y, acc) {
		t.Fatal("the double-rounding example no longer double-rounds; the test lost its point")
	}
	doubleWrong := 0
	for i := range 200000 {
		var x, y, acc float32
		if i%2 == 0 {
			x, y, acc = hardCase32(rng)
		} else {
			x, y, acc = math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32()), math.Float32frombits(rng.Uint32())
			if isInfNaN32(x) || isInfNaN32(y) || isInfNaN32(acc) {
				continue
			}
		}
		want := fma32Exact(x, y, acc)
		if got := fma32(x, y, acc); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, exact %g", x, y, acc, got, want)
		}
		if math.Float32bits(fma32Double(x, y, acc)) != math.Float32bits(want) {
			doubleWrong++
		}
	}
	if doubleWrong == 0 {
		t.Fatal("no case where rounding through float64 goes wrong; the hard cases are not hard")
	}
	t.Logf("rounding through float64 to nearest was wrong in %d of 200000 cases; fma32 in none", doubleWrong)
}

func isInfNaN32(v float32) bool { return math.IsInf(float64(v), 0) || v != v }

// TestGemm32Kernels checks the assembly micro-kernel against the Go one bit
// for bit (where the assembly one exists), on normal data and on panels of
// hard cases, where a Go kernel that rounded through float64 to nearest
// would disagree.
func TestGemm32Kernels(t *testing.T) {
	if !haveGemm32Asm {
		t.Log("no assembly kernel on this machine; gemm32KernelGo is the only kernel")
		return
	}
	const mr, nr = gemm32MR, gemm32NR
	rng := rand.New(rand.NewPCG(39, 40))
	naiveDiffers := 0
	for _, hard := range []bool{false, true} {
		for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 64, 577} {
			for _, acc := range []bool{false, true} {
				ap, bp := rand32(rng, k*mr), rand32(rng, k*nr)
				if hard && k >= 2 {
					// Step 0 sets accumulator (r, q) to acc_r (a = acc_r,
					// b = 1); step 1 adds x·y_q, a product within about
					// 2⁻²⁹ of half an ulp of acc_r (see hardCase32).
					a := rng.IntN(256) + 1
					x := float32(math.Ldexp(float64(1<<23+a), -23))
					ex := rng.IntN(60) - 30
					for r := range mr {
						ap[r] = float32(math.Ldexp(float64(1<<23+rng.IntN(1<<23)), ex-23))
						if rng.IntN(2) == 0 {
							ap[r] = -ap[r]
						}
						ap[mr+r] = x
					}
					for q := range nr {
						bp[q] = 1
						bp[nr+q] = float32(math.Ldexp(float64(1<<24-2*a+rng.IntN(3)-1), ex-48))
						if rng.IntN(2) == 0 {
							bp[nr+q] = -bp[nr+q]
						}
					}
				}
				const ldc = nr + 5
				c0 := rand32(rng, mr*ldc)
				cg := append([]float32(nil), c0...)
				ca := append([]float32(nil), c0...)
				gemm32KernelGo(k, ap, bp, cg, ldc, acc)
				var a0, b0 *float32
				if k > 0 {
					a0, b0 = &ap[0], &bp[0]
				}
				gemm32KernelAsm(k, a0, b0, &ca[0], ldc, acc)
				bitsEqual32(t, fmt.Sprintf("hard=%v k=%d accumulate=%v: asm vs go", hard, k, acc), ca, cg)
				if hard && k == 2 && !acc {
					for r := range mr {
						for q := range nr {
							if fma32Double(ap[mr+r], bp[nr+q], ap[r]) != ca[r*ldc+q] {
								naiveDiffers++
							}
						}
					}
				}
			}
		}
	}
	if naiveDiffers == 0 {
		t.Fatal("no hard case in the kernel test tripped double rounding; the test lost its point")
	}
	t.Logf("%d of %d hard accumulators would double-round through float64", naiveDiffers, 2*gemm32MR*gemm32NR)
}

// TestMatMul32Panics checks that bad shapes panic before any work starts.
func TestMatMul32Panics(t *testing.T) {
	buf := func(n int) []float32 { return make([]float32, n) }
	tests := []struct {
		name           string
		transA, transB bool
		m, n, k        int
		a              []float32
		lda            int
		b              []float32
		ldb            int
		c              []float32
		ldc            int
	}{
		{"negative m", false, false, -1, 2, 2, buf(4), 2, buf(4), 2, buf(4), 2},
		{"negative k", false, false, 2, 2, -1, buf(4), 2, buf(4), 2, buf(4), 2},
		{"ldc < n", false, false, 2, 3, 2, buf(4), 2, buf(6), 3, buf(6), 2},
		{"lda < k", false, false, 2, 2, 3, buf(6), 2, buf(6), 2, buf(4), 2},
		{"lda < m transposed", true, false, 3, 2, 2, buf(6), 2, buf(4), 2, buf(6), 2},
		{"ldb < k transposed", false, true, 2, 2, 3, buf(6), 3, buf(6), 2, buf(4), 2},
		{"short a", false, false, 2, 2, 2, buf(3), 2, buf(4), 2, buf(4), 2},
		{"short b", false, true, 2, 2, 2, buf(4), 2, buf(3), 2, buf(4), 2},
		{"short c", false, false, 7, 17, 5, buf(35), 5, buf(85), 17, buf(6*17 + 16), 17},
		{"short c, big", false, false, 60, 64, 64, buf(60 * 64), 64, buf(64 * 64), 64, buf(60*64 - 1), 64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if s, ok := r.(string); !ok || !strings.Contains(s, "MatMul32 bad shape") {
					t.Fatalf("panic %v, want a bad-shape message", r)
				}
			}()
			MatMul32(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.a, tc.lda, tc.b, tc.ldb, tc.c, tc.ldc, false)
		})
	}
}

// TestGemm32Pack checks the assembly packers of A against the Go ones,
// element for element, for every k up to 40 and a few larger (the
// row-major packer works eight steps at a time with overlapping stores),
// and that neither writes past its panels.
func TestGemm32Pack(t *testing.T) {
	if !haveGemm32Asm {
		t.Log("no assembly packers on this machine")
		return
	}
	const mr = gemm32MR
	rng := rand.New(rand.NewPCG(41, 42))
	ks := []int{96, 97, 576, 961}
	for k := 1; k <= 40; k++ {
		ks = append(ks, k)
	}
	for _, k := range ks {
		for _, tr := range []bool{false, true} {
			const m, pad, slack = 3*mr + 2, 5, 11 // three full panels, one edge
			var a strided32
			if tr {
				a = strided32{data: rand32(rng, k*(m+pad)), rs: 1, cs: m + pad}
			} else {
				a = strided32{data: rand32(rng, m*(k+pad)), rs: k + pad, cs: 1}
			}
			panels := (m + mr - 1) / mr
			goAP := make([]float32, panels*k*mr+slack)
			asmAP := make([]float32, panels*k*mr+slack)
			for i := range goAP {
				goAP[i], asmAP[i] = -7, -7
			}
			// Full panels as one group, then the edge panel alone.
			packA32Group(a, k, m, 0, 3, goAP[:3*k*mr], false)
			packA32Group(a, k, m, 3, 4, goAP[3*k*mr:4*k*mr], false)
			packA32Group(a, k, m, 0, 3, asmAP[:3*k*mr], true)
			packA32Group(a, k, m, 3, 4, asmAP[3*k*mr:4*k*mr], true)
			bitsEqual32(t, fmt.Sprintf("k=%d transposed=%v: asm vs go packing", k, tr), asmAP, goAP)
			for i, v := range asmAP[panels*k*mr:] {
				if v != -7 {
					t.Fatalf("k=%d transposed=%v: packing wrote %d past the panels", k, tr, i)
				}
			}
			// Each full panel alone, into a buffer with a guard after it.
			for ip := range 3 {
				one := make([]float32, k*mr+slack)
				for i := range one {
					one[i] = -7
				}
				packA32(a, k, m, ip, one[:k*mr], true)
				bitsEqual32(t, fmt.Sprintf("k=%d transposed=%v: panel %d alone", k, tr, ip), one[:k*mr], goAP[ip*k*mr:(ip+1)*k*mr])
				for i, v := range one[k*mr:] {
					if v != -7 {
						t.Fatalf("k=%d transposed=%v: packing panel %d wrote %d past it", k, tr, ip, i)
					}
				}
			}
			for ip := range panels {
				for p := range k {
					for r := range mr {
						want := float32(0)
						if i := ip*mr + r; i < m {
							want = a.data[i*a.rs+p*a.cs]
						}
						if got := goAP[ip*k*mr+p*mr+r]; got != want {
							t.Fatalf("k=%d transposed=%v: panel %d [p=%d r=%d] = %v, want %v", k, tr, ip, p, r, got, want)
						}
					}
				}
			}
		}
	}
}

// TestGemm32KernelsSpecial runs both micro-kernels and the fma32 loop on
// panels sprinkled with infinities, zeros of both signs, subnormals and
// values whose products overflow float32, and checks they agree, any NaN
// matching any NaN (the kernels may make NaNs with different payloads).
func TestGemm32KernelsSpecial(t *testing.T) {
	const mr, nr = gemm32MR, gemm32NR
	special := []float32{
		float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
		math.SmallestNonzeroFloat32, -3 * math.SmallestNonzeroFloat32, 0x1p-130, -0x1.8p-127,
		math.MaxFloat32, -math.MaxFloat32, 0x1p100, -0x1p90, 1, -1,
	}
	rng := rand.New(rand.NewPCG(43, 44))
	same := func(x, y float32) bool {
		return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y)
	}
	for trial := range 200 {
		k := 1 + rng.IntN(9)
		ap, bp := rand32(rng, k*mr), rand32(rng, k*nr)
		for _, v := range [][]float32{ap, bp} {
			for i := range v {
				switch rng.IntN(4) {
				case 0:
					v[i] = special[rng.IntN(len(special))]
				case 1:
					v[i] *= 0x1p-140 // products deep in the subnormals
				}
			}
		}
		ref := make([]float32, mr*nr)
		for r := range mr {
			for q := range nr {
				var acc float32
				for p := range k {
					acc = fma32(ap[p*mr+r], bp[p*nr+q], acc)
				}
				ref[r*nr+q] = acc
			}
		}
		cg := make([]float32, mr*nr)
		gemm32KernelGo(k, ap, bp, cg, nr, false)
		for i := range ref {
			if !same(cg[i], ref[i]) {
				t.Fatalf("trial %d k=%d: go kernel c[%d] = %v (%#08x), fma32 loop %v (%#08x)", trial, k, i, cg[i], math.Float32bits(cg[i]), ref[i], math.Float32bits(ref[i]))
			}
		}
		if haveGemm32Asm {
			ca := make([]float32, mr*nr)
			gemm32KernelAsm(k, &ap[0], &bp[0], &ca[0], nr, false)
			for i := range ref {
				if !same(ca[i], ref[i]) {
					t.Fatalf("trial %d k=%d: asm kernel c[%d] = %v (%#08x), fma32 loop %v (%#08x)", trial, k, i, ca[i], math.Float32bits(ca[i]), ref[i], math.Float32bits(ref[i]))
				}
			}
		}
	}
}
