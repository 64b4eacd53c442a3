package tail

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFloat32MatchesFloat64 runs each gradient-check spec through the
// public float32 Net (Forward and Backward) and the float64 graph with the
// same weights, and compares outputs and parameter gradients: this covers
// the layout conversions at the boundary and the float32 products.
func TestFloat32MatchesFloat64(t *testing.T) {
	for name, s := range gradSpecs() {
		t.Run(name, func(t *testing.T) {
			const n = 4
			rng := rand.New(rand.NewPCG(3, 3))
			tl := s.tail(rng)
			net, err := New(tl, s.input, s.frozenShapes())
			if err != nil {
				t.Fatal(err)
			}
			g64, err := build[float64](tl, s.input, s.frozenShapes())
			if err != nil {
				t.Fatal(err)
			}
			x := randVec(rng, n*prod(s.input))
			var frozen [][]float32
			if s.frozen != nil {
				frozen = [][]float32{randVec(rng, n*prod(s.frozen))}
			}
			for _, train := range []bool{false, true} {
				out, err := net.Forward(x, frozen, n, train)
				if err != nil {
					t.Fatal(err)
				}
				g64.alloc(n, train)
				if err := g64.checkInputs(x, frozen, n); err != nil {
					t.Fatal(err)
				}
				g64.setInputs(x, frozen, n, 0, n)
				g64.run()
				for k, o := range g64.outputs {
					sl := g64.slots[o]
					want := make([]float32, n*sl.size())
					fromChannelMajor(want, g64.vals[o], n, sl.channels(), sl.spatial(), 1)
					if e := maxRelDiff(out[k], want); e > 1e-5 {
						t.Errorf("train %v: output %s differs by %.2g (relative to its largest value)", train, sl.name, e)
					}
				}
			}
			// Backward of a random projection of the outputs.
			net.ZeroGrad()
			for _, p := range g64.params() {
				clear(p.grad)
			}
			var grads [][]float32
			g64.zeroSlotGrads()
			for _, o := range g64.outputs {
				sl := g64.slots[o]
				gr := randVec(rng, n*sl.size())
				grads = append(grads, gr)
				addChannelMajor(g64.grads[o], gr, n, sl.channels(), sl.spatial(), 1)
			}
			g64.back()
			if err := net.Backward(grads); err != nil {
				t.Fatal(err)
			}
			ps64 := g64.params()
			for i, p := range net.Params() {
				want := make([]float32, len(ps64[i].grad))
				for j, v := range ps64[i].grad {
					want[j] = float32(v)
				}
				if e := maxRelDiff(p.Grad, want); e > 1e-4 {
					t.Errorf("gradient of %s differs by %.2g", p.Name, e)
				}
			}
		})
	}
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// maxRelDiff is max |a - b| over max(max |b|, 1): relative for the
// O(1) tensors of the tests, absolute for tensors that are (nearly) zero,
// such as the gradient of a bias in front of a train-mode BatchNorm.
func maxRelDiff(a, b []float32) float64 {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d / math.Max(m, 1)
}

// TestWorkersDoNotChangeBits checks that forward outputs and gradients are
// the same bits with 1 and 3 workers on a batch large enough for the
// products to be split.
func TestWorkersDoNotChangeBits(t *testing.T) {
	s := gradSpecs()["inverted residual block"]
	s.input = []int{4, 12, 12}
	rng := rand.New(rand.NewPCG(5, 5))
	tl := s.tail(rng)
	const n = 300
	x := randVec(rng, n*prod(s.input))
	frozen := [][]float32{randVec(rng, n*prod(s.frozen))}
	var runs [][][]float32
	for _, w := range []int{1, 3} {
		net, err := New(tl, s.input, s.frozenShapes())
		if err != nil {
			t.Fatal(err)
		}
		net.SetWorkers(w)
		out, err := net.Forward(x, frozen, n, true)
		if err != nil {
			t.Fatal(err)
		}
		grads := make([][]float32, len(out))
		for k := range out {
			grads[k] = slices.Clone(out[k]) // d(½‖out‖²)
		}
		if err := net.Backward(grads); err != nil {
			t.Fatal(err)
		}
		all := out
		for _, p := range net.Params() {
			all = append(all, p.Grad)
		}
		for _, b := range net.Buffers() {
			all = append(all, b.Value)
		}
		runs = append(runs, all)
	}
	for i := range runs[0] {
		if !slices.Equal(runs[0][i], runs[1][i]) {
			t.Errorf("tensor %d differs between 1 and 3 workers", i)
		}
	}
}

// TestEvalRowIndependent checks that in eval mode a sample's outputs do
// not depend on its batch-mates.
func TestEvalRowIndependent(t *testing.T) {
	s := gradSpecs()["inverted residual block"]
	rng := rand.New(rand.NewPCG(9, 9))
	net, err := New(s.tail(rng), s.input, s.frozenShapes())
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	x := randVec(rng, n*prod(s.input))
	f := randVec(rng, n*prod(s.frozen))
	all, err := net.Forward(x, [][]float32{f}, n, false)
	if err != nil {
		t.Fatal(err)
	}
	per := prod(s.input)
	one, err := net.Forward(x[2*per:3*per], [][]float32{f[2*prod(s.frozen) : 3*prod(s.frozen)]}, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	for k, d := range net.OutputDims() {
		if !slices.Equal(all[k][2*d:3*d], one[k]) {
			t.Errorf("output %d of sample 2 changes with its batch-mates", k)
		}
	}
}

func TestNewRejects(t *testing.T) {
	s := gradSpecs()["conv 3x3 pads 1"]
	rng := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		name  string
		input []int
	}{
		{"wrong channels", []int{4, 5, 4}},
		{"rank 2", []int{3, 5}},
		{"kernel larger than input", []int{3, 0, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(s.tail(rng), tc.input, nil); err == nil {
				t.Errorf("New accepted input shape %v", tc.input)
			}
		})
	}
}

// runBlock runs a training Forward and Backward of the inverted residual
// block on n samples of a 4×12×12 input with w workers, and an eval
// Forward, and returns the outputs, parameter gradients and buffers.
func runBlock(t *testing.T, n, w int) [][]float32 {
	t.Helper()
	s := gradSpecs()["inverted residual block"]
	s.input = []int{4, 12, 12}
	rng := rand.New(rand.NewPCG(5, 5))
	tl := s.tail(rng)
	x := randVec(rng, n*prod(s.input))
	frozen := [][]float32{randVec(rng, n*prod(s.frozen))}
	net, err := New(tl, s.input, s.frozenShapes())
	if err != nil {
		t.Fatal(err)
	}
	net.SetWorkers(w)
	eval, err := net.Forward(x, frozen, n, false)
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.Forward(x, frozen, n, true)
	if err != nil {
		t.Fatal(err)
	}
	grads := make([][]float32, len(out))
	for k := range out {
		grads[k] = slices.Clone(out[k])
	}
	if err := net.Backward(grads); err != nil {
		t.Fatal(err)
	}
	all := append(eval, out...)
	for _, p := range net.Params() {
		all = append(all, p.Grad)
	}
	for _, b := range net.Buffers() {
		all = append(all, b.Value)
	}
	return all
}

// TestVecKernelsDoNotChangeBits checks that the whole network computes
// the same bits with the assembly kernels and with the Go loops alone, on
// a batch whose size is not a multiple of the kernels' blocks.
func TestVecKernelsDoNotChangeBits(t *testing.T) {
	a, g := bothPaths(t, func() [][]float32 { return runBlock(t, 37, 2) })
	for i := range a {
		if !sameBits(a[i], g[i]) {
			t.Errorf("tensor %d differs between the assembly kernels and the Go loops", i)
		}
	}
}

// TestEvalChunksDoNotChangeBits checks that an eval-mode Forward of more
// samples than evalRows, run evalRows at a time, gives the bits of one
// pass over all of them.
func TestEvalChunksDoNotChangeBits(t *testing.T) {
	s := gradSpecs()["inverted residual block"]
	rng := rand.New(rand.NewPCG(6, 6))
	net, err := New(s.tail(rng), s.input, s.frozenShapes())
	if err != nil {
		t.Fatal(err)
	}
	n := 2*evalRows + 21
	x := randVec(rng, n*prod(s.input))
	frozen := [][]float32{randVec(rng, n*prod(s.frozen))}
	chunked, err := net.Forward(x, frozen, n, false)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := net.g.forward(x, frozen, n, false, n)
	if err != nil {
		t.Fatal(err)
	}
	for k := range whole {
		if !slices.Equal(chunked[k], whole[k]) {
			t.Errorf("output %d differs when the batch is cut in chunks of %d", k, evalRows)
		}
	}
	// Spread over workers or not, an eval pass leaves nothing to Backward.
	for _, w := range []int{1, 3} {
		net.SetWorkers(w)
		if _, err := net.Forward(x, frozen, n, true); err != nil {
			t.Fatal(err)
		}
		if _, err := net.Forward(x, frozen, n, false); err != nil {
			t.Fatal(err)
		}
		if err := net.Backward(make([][]float32, len(whole))); err == nil {
			t.Errorf("%d workers: Backward after an eval Forward did not fail", w)
		}
	}
}
