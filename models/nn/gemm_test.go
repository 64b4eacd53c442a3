package nn

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// gemmLoop is the textbook triple loop over the same strided views,
// summing in plain float64 (no fused multiply-add).
func gemmLoop(m, n, k int, a, b strided, c []float64, ldc int, accumulate bool) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += a.at(i, p) * b.at(p, j)
			}
			if accumulate {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}

// gemmFMA is the exact arithmetic gemm promises: one accumulator per
// element, fma in order of the inner index, then store or add.
func gemmFMA(m, n, k int, a, b strided, c []float64, ldc int, accumulate bool) {
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s = math.FMA(a.at(i, p), b.at(p, j), s)
			}
			if accumulate {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tests := []struct {
		name       string
		m, n, k    int
		ta, tb     bool // view A / B as the transpose of a stored matrix
		accumulate bool
	}{
		{"empty k", 5, 7, 0, false, false, false},
		{"empty k accumulate", 5, 7, 0, false, false, true},
		{"one", 1, 1, 1, false, false, false},
		{"edges", 7, 9, 5, false, false, false},
		{"x·Wt", 64, 256, 576, false, true, true},
		{"gt·x", 10, 576, 64, true, false, true},
		{"g·W", 64, 576, 256, false, false, false},
		{"odd tiles", 131, 77, 33, true, true, false},
		{"tall", 300, 13, 70, false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			view := func(rows, cols int, tr bool) strided {
				if tr { // stored cols×rows
					return transposed(randMatrix(rng, cols, rows).Data, rows)
				}
				return rowMajor(randMatrix(rng, rows, cols).Data, cols)
			}
			a, b := view(tc.m, tc.k, tc.ta), view(tc.k, tc.n, tc.tb)
			const ldcPad = 3
			ldc := tc.n + ldcPad
			c0 := randMatrix(rng, tc.m, ldc).Data
			aCopy, bCopy := append([]float64(nil), a.data...), append([]float64(nil), b.data...)

			got := append([]float64(nil), c0...)
			gemm(tc.m, tc.n, tc.k, a, b, got, ldc, tc.accumulate)
			loop := append([]float64(nil), c0...)
			gemmLoop(tc.m, tc.n, tc.k, a, b, loop, ldc, tc.accumulate)
			exact := append([]float64(nil), c0...)
			gemmFMA(tc.m, tc.n, tc.k, a, b, exact, ldc, tc.accumulate)
			for i := range tc.m {
				for j := range ldc {
					g := got[i*ldc+j]
					if j >= tc.n {
						if g != c0[i*ldc+j] {
							t.Fatalf("c[%d,%d] beyond n changed", i, j)
						}
						continue
					}
					if g != exact[i*ldc+j] {
						t.Fatalf("c[%d,%d] = %v, fma reference %v (bits differ)", i, j, g, exact[i*ldc+j])
					}
					if math.Abs(g-loop[i*ldc+j]) > 1e-9*math.Max(1, math.Abs(loop[i*ldc+j])) {
						t.Fatalf("c[%d,%d] = %v, loop %v", i, j, g, loop[i*ldc+j])
					}
				}
			}
			for i := range aCopy {
				if a.data[i] != aCopy[i] {
					t.Fatal("gemm modified A")
				}
			}
			for i := range bCopy {
				if b.data[i] != bCopy[i] {
					t.Fatal("gemm modified B")
				}
			}
		})
	}
}

// TestGemmKernels checks the assembly micro-kernel against the Go one bit
// for bit (where the assembly one exists).
func TestGemmKernels(t *testing.T) {
	if !haveGemmAsm {
		t.Log("no assembly kernel on this machine; gemmKernelGo is the only kernel")
		return
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, k := range []int{0, 1, 2, 7, 64, 576} {
		for _, acc := range []bool{false, true} {
			ap := randMatrix(rng, k, gemmMR).Data
			bp := randMatrix(rng, k, gemmNR).Data
			const ldc = gemmNR + 5
			c0 := randMatrix(rng, gemmMR, ldc).Data
			cg := append([]float64(nil), c0...)
			ca := append([]float64(nil), c0...)
			gemmKernelGo(k, ap, bp, cg, ldc, acc)
			var a0, b0 *float64
			if k > 0 {
				a0, b0 = &ap[0], &bp[0]
			}
			gemmKernelAsm(k, a0, b0, &ca[0], ldc, acc)
			for i := range cg {
				if math.Float64bits(cg[i]) != math.Float64bits(ca[i]) {
					t.Fatalf("k=%d accumulate=%v: c[%d] asm %v, go %v", k, acc, i, ca[i], cg[i])
				}
			}
		}
	}
}

// TestGemmProcs checks that the product does not depend on GOMAXPROCS.
func TestGemmProcs(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const m, n, k = 200, 300, 150
	a := rowMajor(randMatrix(rng, m, k).Data, k)
	b := transposed(randMatrix(rng, n, k).Data, k)
	run := func(procs int) []float64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		c := make([]float64, m*n)
		gemm(m, n, k, a, b, c, n, false)
		return c
	}
	one, four := run(1), run(4)
	for i := range one {
		if math.Float64bits(one[i]) != math.Float64bits(four[i]) {
			t.Fatalf("c[%d]: %v at GOMAXPROCS 1, %v at 4", i, one[i], four[i])
		}
	}
}

// TestInferenceDeterminism checks that Predict and Embed give the same bits
// at GOMAXPROCS 1 and 4, and that a row's output does not depend on the
// rows around it (one row alone versus inside several blocks).
func TestInferenceDeterminism(t *testing.T) {
	const rows, dim, c = 3*blockRows + 17, 40, 3
	x, y := blobs(rows, dim, c, 2, 21)
	r := DefaultRecipe(MethodFT)
	r.Epochs, r.Hidden = 2, 24
	net, _, err := Train(r, x[:200*dim], 200, dim, y[:200], c)
	if err != nil {
		t.Fatal(err)
	}
	run := func(procs int, x []float32, rows int) ([]float32, []float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		emb := make([]float32, len(x))
		net.Embed(x, rows, emb)
		return net.Predict(x, rows), emb
	}
	p1, e1 := run(1, x, rows)
	p4, e4 := run(4, x, rows)
	same := func(what string, a, b []float32) {
		t.Helper()
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s[%d]: %v vs %v", what, i, a[i], b[i])
			}
		}
	}
	same("predict procs 1 vs 4", p1, p4)
	same("embed procs 1 vs 4", e1, e4)
	for _, i := range []int{0, blockRows - 1, blockRows, rows - 1} {
		p, e := run(2, x[i*dim:(i+1)*dim], 1)
		same("predict alone vs batch", p, p1[i*c:(i+1)*c])
		same("embed alone vs batch", e, e1[i*dim:(i+1)*dim])
	}
	// Embed may write over its input.
	inPlace := append([]float32(nil), x...)
	net.Embed(inPlace, rows, inPlace)
	same("embed in place", inPlace, e1)
}
