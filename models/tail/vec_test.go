package tail

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// vecInput returns n float32 values: mostly normal ones, with zeros of
// both signs, values exactly at the clip bounds 0 and 0.6 (and at the
// bounds after the affine maps of the tests), and a NaN now and then.
func vecInput(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		switch rng.IntN(20) {
		case 0:
			v[i] = 0
		case 1:
			v[i] = float32(math.Copysign(0, -1))
		case 2:
			v[i] = 0.6
		case 3:
			v[i] = -1 // 2·(-1) + 2 = 0: a bound after an affine map
		case 4:
			if rng.IntN(4) == 0 {
				v[i] = float32(math.NaN())
			} else {
				v[i] = 1e-30
			}
		default:
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// bothPaths runs f with the assembly kernels and then with the Go loops
// only, and returns what each returned.
func bothPaths[R any](t *testing.T, f func() R) (asm, gol R) {
	t.Helper()
	if !useVecAsm {
		t.Skip("no assembly kernels here")
	}
	asm = f()
	setVecAsm(false)
	defer setVecAsm(true)
	return asm, f()
}

// TestVecKernelsMatchGo checks that every assembly kernel gives the bits
// of its Go loop, for lengths around the block sizes and for the values
// that need care (signed zeros, clip bounds, NaN).
func TestVecKernelsMatchGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	lengths := []int{1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 48, 56, 63, 64, 65, 100, 576, 2304 + 5}
	for _, n := range lengths {
		x, z, w := vecInput(rng, n), vecInput(rng, n), vecInput(rng, n)
		// Kernel scalars: ordinary values and exact bounds.
		sc, sh, lo, hi := float32(2), float32(2), float32(0), float32(0.6)
		check := func(name string, f func() []float32) {
			t.Helper()
			a, g := bothPaths(t, f)
			if !sameBits(a, g) {
				t.Errorf("n=%d: %s: assembly and Go differ:\n%v\n%v", n, name, a, g)
			}
		}
		check("dwPlane", func() []float32 {
			rg := rand.New(rand.NewPCG(uint64(n), 1))
			plane := vecInput(rg, 9*n)
			// Four positions: 4 taps, 1 tap, none, 2 taps.
			start := []int{0, 4, 5, 5, 7}
			offs := []int{0, 2 * n, 5 * n, 8 * n, 3 * n, 0, 8 * n}
			ws := vecInput(rg, len(offs))
			y := vecInput(rg, 4*n)
			y2 := slices.Clone(y)
			y3 := slices.Clone(y)
			dwPlane(y, plane, n, start, offs, ws, 8*n, 0.25, false, nil)
			dwPlane(y2, plane, n, start, offs, ws, 8*n, 0, true, nil)
			dwPlane(y3, plane, n, start, offs, ws, 8*n, -0.25, false, &[4]float32{2, 0.5, 0, 0.6})
			return slices.Concat(y, y2, y3)
		})
		check("dwGrads", func() []float32 {
			rg := rand.New(rand.NewPCG(uint64(n), 2))
			a, b := vecInput(rg, 9*n), vecInput(rg, 4*n)
			acc := vecInput(rg, 3*sumLanes)
			// Three taps: 3 pairs, none, 1 pair.
			dwGrads(acc, a, b, n, []int{0, 3, 3, 4}, []int{0, 0, 3 * n, n, 8 * n, 3 * n, 4 * n, 2 * n}, 8*n, 3*n)
			return acc
		})
		check("sum", func() []float32 {
			var acc [sumLanes]float32
			sumInto(&acc, x)
			sumInto(&acc, z)
			return append(acc[:], sum(w))
		})
		check("sum64", func() []float32 {
			var r []float32
			for _, beta := range []float32{0, 0.75} {
				s, q := sum64(x, beta), sqDev64(z, beta, 0.3)
				r = append(r, float32(s), float32(s-float64(float32(s))), float32(q), float32(q-float64(float32(q))))
			}
			return r
		})
		for _, in := range []bnIn[float32]{{}, {beta: -0.5, on: true}, {beta: 0, on: true}} {
			check("bnNorm", func() []float32 {
				xh, out := make([]float32, n), make([]float32, n)
				bnNorm(xh, out, x, in, 0.1, 1.5, sc, sh, lo, hi)
				xh2, out2 := make([]float32, n), make([]float32, n)
				bnNorm(xh2, out2, z, in, 0, 1, 1, 0, -inf[float32](), inf[float32]())
				return slices.Concat(xh, out, xh2, out2)
			})
			check("affineClamp", func() []float32 {
				out, out2 := make([]float32, n), make([]float32, n)
				affineClamp(out, x, in, sc, sh, lo, hi)
				affineClamp(out2, z, in, 1, 0, -inf[float32](), inf[float32]())
				return append(out, out2...)
			})
		}
		for _, masked := range []bool{false, true} {
			check("bnGrad", func() []float32 {
				sg, sgx := bnGradSums(x, z, sc, sh, lo, hi, masked)
				d1, d2 := slices.Clone(w), slices.Clone(w)
				bnGradInput(d1, x, z, 0.7, 0.01, -0.02, sc, sh, lo, hi, masked, false)
				bnGradInput(d2, x, z, 0.7, 0.01, -0.02, sc, sh, lo, hi, masked, true)
				return slices.Concat([]float32{float32(sg), float32(sgx)}, d1, d2)
			})
		}
	}
}
