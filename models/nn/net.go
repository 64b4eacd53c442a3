package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
)

// SoftmaxCrossEntropy returns the mean cross-entropy of softmax(logits)
// against the labels y, and its gradient with respect to logits. With
// smoothing s in [0, 1), the target puts 1-s+s/C on the true class and
// s/C on every other class (PyTorch's label_smoothing).
func SoftmaxCrossEntropy(logits *Matrix, y []int, smoothing float64) (float64, *Matrix) {
	n, c := logits.Rows, logits.Cols
	if len(y) != n {
		panic(fmt.Sprintf("nn: %d labels for %d rows", len(y), n))
	}
	grad := NewMatrix(n, c)
	if n == 0 {
		return 0, grad
	}
	var loss float64
	p := make([]float64, c)
	off := smoothing / float64(c)
	for i := range n {
		row := logits.Data[i*c : (i+1)*c]
		logSum := logSumExp(row, p)
		g := grad.Data[i*c : (i+1)*c]
		for k := range c {
			t := off
			if k == y[i] {
				t += 1 - smoothing
			}
			loss -= t * (row[k] - logSum)
			g[k] = (p[k] - t) / float64(n)
		}
	}
	return loss / float64(n), grad
}

// logSumExp returns log Σ exp(row) and writes softmax(row) to p.
func logSumExp(row, p []float64) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, v)
	}
	var s float64
	for k, v := range row {
		p[k] = math.Exp(v - m)
		s += p[k]
	}
	for k := range p {
		p[k] /= s
	}
	return m + math.Log(s)
}

// Adapter is a residual MLP block out = x + W2·ReLU(W1·x + b1) + b2.
// W2 and b2 start at zero, so at initialisation out == x exactly.
type Adapter struct {
	FC1, FC2 *Dense
	block    *Residual
}

// NewAdapter returns an Adapter of width dim with the given hidden width.
// W1 and b1 are drawn like PyTorch's Linear (uniform in ±1/√dim); W2 and
// b2 are zero.
func NewAdapter(dim, hidden int, rng *rand.Rand) *Adapter {
	a := &Adapter{FC1: NewDense("adapter.fc1", dim, hidden), FC2: NewDense("adapter.fc2", hidden, dim)}
	uniformInit(a.FC1, rng)
	a.block = NewResidual(a.FC1, &ReLU{}, a.FC2)
	return a
}

// Forward implements Layer.
func (a *Adapter) Forward(x *Matrix, train bool) *Matrix { return a.block.Forward(x, train) }

// Backward implements Layer.
func (a *Adapter) Backward(g *Matrix) *Matrix { return a.block.Backward(g) }

// Params implements Layer.
func (a *Adapter) Params() []*Param { return a.block.Params() }

// Branch returns W2·ReLU(W1·x + b1) + b2, the adapter's change to x.
func (a *Adapter) Branch(x *Matrix) *Matrix { return a.block.Branch(x, false) }

// branchSerial is Branch on the calling goroutine alone, for callers that
// already spread row blocks over goroutines. It gives the same bits.
func (a *Adapter) branchSerial(x *Matrix) *Matrix {
	h := a.FC1.apply(x, 1)
	for i, v := range h.Data {
		if !(v > 0) {
			h.Data[i] = 0
		}
	}
	return a.FC2.apply(h, 1)
}

// backwardParams is Backward without the input gradient, which training
// never needs because the adapter's input is data: it only accumulates
// the parameter gradients, the same ones Backward would.
func (a *Adapter) backwardParams(g *Matrix) {
	g = a.FC2.Backward(g)
	g = a.block.Inner.Layers[1].Backward(g) // the ReLU
	a.FC1.BackwardParams(g)
}

func uniformInit(d *Dense, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(d.In))
	for i := range d.W.Value {
		d.W.Value[i] = (2*rng.Float64() - 1) * bound
	}
	for i := range d.B.Value {
		d.B.Value[i] = (2*rng.Float64() - 1) * bound
	}
}

// Net is a trainable network on frozen features: standardisation
// z = (x - Mean) / Std, the Adapter, and a linear Head on the adapter's
// output. Use Train to build one, or Load.
type Net struct {
	Dim, Hidden, Classes int
	// Mean and Std standardise the inputs; they come from the training set.
	Mean, Std []float64
	Adapter   *Adapter
	Head      *Dense
	// Recipe is the recipe the net was trained with (zero for a new net).
	Recipe Recipe
}

// NewNet returns an untrained Net with identity standardisation, an
// identity Adapter and a randomly initialised Head. It panics on a
// non-positive shape, a programmer error.
func NewNet(dim, hidden, classes int, seed uint64) *Net {
	if dim <= 0 || hidden <= 0 || classes <= 0 {
		panic(fmt.Sprintf("nn: invalid net shape dim=%d hidden=%d classes=%d", dim, hidden, classes))
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e6e2e6e6574)) // stream "nn.net"
	n := &Net{
		Dim: dim, Hidden: hidden, Classes: classes,
		Mean: make([]float64, dim), Std: make([]float64, dim),
		Adapter: NewAdapter(dim, hidden, rng),
		Head:    NewDense("head", dim, classes),
	}
	for j := range n.Std {
		n.Std[j] = 1
	}
	uniformInit(n.Head, rng)
	return n
}

// blockRows is the number of rows Predict and Embed push through the
// network at once. Blocks go to GOMAXPROCS goroutines, each running its
// block serially; this keeps memory flat on large pools and parallelises
// the element-wise work as well as the products. Each output row depends
// only on its input row, so the block size and the number of goroutines
// do not change any bit of the result.
const blockRows = 256

// forBlocks calls f(lo, hi) for consecutive row blocks [lo, hi) covering
// [0, rows), on up to GOMAXPROCS goroutines.
func forBlocks(rows int, f func(lo, hi int)) {
	blocks := (rows + blockRows - 1) / blockRows
	parallelFor(runtime.GOMAXPROCS(0), blocks, func(b int) {
		lo := b * blockRows
		f(lo, min(lo+blockRows, rows))
	})
}

func (n *Net) checkInput(x []float32, rows int) {
	if rows < 0 || len(x) != rows*n.Dim {
		panic(fmt.Sprintf("nn: input of length %d is not %d rows of %d", len(x), rows, n.Dim))
	}
}

// standardize writes (x - Mean) / Std for rows [lo, hi) of x.
func (n *Net) standardize(x []float32, lo, hi int) *Matrix {
	d := n.Dim
	z := NewMatrix(hi-lo, d)
	for i := lo; i < hi; i++ {
		src := x[i*d : (i+1)*d]
		dst := z.Data[(i-lo)*d : (i-lo+1)*d]
		for j, v := range src {
			dst[j] = (float64(v) - n.Mean[j]) / n.Std[j]
		}
	}
	return z
}

// Predict returns the class probabilities (rows×Classes, row-major) of
// rows samples in x (rows×Dim, row-major), in evaluation mode. It panics
// when len(x) != rows*Dim, a programmer error.
func (n *Net) Predict(x []float32, rows int) []float32 {
	n.checkInput(x, rows)
	c := n.Classes
	probs := make([]float32, rows*c)
	forBlocks(rows, func(lo, hi int) {
		logits := n.logits(x, lo, hi)
		p := make([]float64, c)
		for i := range hi - lo {
			logSumExp(logits.Data[i*c:(i+1)*c], p)
			for k, v := range p {
				probs[(lo+i)*c+k] = float32(v)
			}
		}
	})
	return probs
}

// Accuracy returns the share of the rows samples in x whose most probable
// class (the first, on a tie) is y's; 0 for no rows. It panics when the
// lengths do not match, a programmer error.
func (n *Net) Accuracy(x []float32, rows int, y []int) float64 {
	if rows == 0 {
		return 0
	}
	if len(y) != rows {
		panic(fmt.Sprintf("nn: accuracy of %d rows with %d labels", rows, len(y)))
	}
	probs := n.Predict(x, rows)
	c := n.Classes
	right := 0
	for i := range rows {
		row := probs[i*c : (i+1)*c]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		if best == y[i] {
			right++
		}
	}
	return float64(right) / float64(rows)
}

// Logits writes the head's outputs (rows×Classes, row-major), before the
// softmax, of rows samples in x into dst, in evaluation mode and float64:
// uncertainty computed from them does not saturate where float32
// probabilities round to 0 and 1. It panics when the lengths do not match,
// a programmer error.
func (n *Net) Logits(x []float32, rows int, dst []float64) {
	n.checkInput(x, rows)
	c := n.Classes
	if len(dst) != rows*c {
		panic(fmt.Sprintf("nn: logits dst has length %d, want %d", len(dst), rows*c))
	}
	forBlocks(rows, func(lo, hi int) {
		copy(dst[lo*c:hi*c], n.logits(x, lo, hi).Data)
	})
}

// logits is the forward pass of rows [lo,hi) of x up to the head's output.
func (n *Net) logits(x []float32, lo, hi int) *Matrix {
	z := n.standardize(x, lo, hi)
	a := n.Adapter.branchSerial(z)
	for i, v := range z.Data {
		a.Data[i] += v // the residual: z + branch, as Adapter.Forward
	}
	return n.Head.apply(a, 1)
}

// Embed writes the aligned features of rows samples in x to dst (both
// rows×Dim, row-major): the adapter's output mapped back to the input's
// scale, x + Std ⊙ Branch((x - Mean) / Std). Because the branch is zero at
// initialisation, an untrained net's Embed returns x exactly. It panics
// when the lengths do not match, a programmer error. dst may alias x.
func (n *Net) Embed(x []float32, rows int, dst []float32) {
	n.checkInput(x, rows)
	if len(dst) != len(x) {
		panic(fmt.Sprintf("nn: embed dst has length %d, want %d", len(dst), len(x)))
	}
	d := n.Dim
	forBlocks(rows, func(lo, hi int) {
		b := n.Adapter.branchSerial(n.standardize(x, lo, hi))
		for i := lo; i < hi; i++ {
			src, out := x[i*d:(i+1)*d], dst[i*d:(i+1)*d]
			br := b.Data[(i-lo)*d : (i-lo+1)*d]
			for j, s := range n.Std {
				out[j] = src[j] + float32(s*br[j])
			}
		}
	})
}

// Weights is a float32 copy of a Net's parameters in the layout an ONNX
// exporter needs. Matrices are row-major with shape out×in (ONNX Gemm
// with transB=1). With z = (x - Mean) / Std:
//
//	branch = W2·ReLU(W1·z + B1) + B2
//	Embed(x) = x + Std ⊙ branch
//	logits = HeadW·(z + branch) + HeadB
type Weights struct {
	Dim, Hidden, Classes int
	Mean, Std            []float32 // Dim
	W1                   []float32 // Hidden×Dim
	B1                   []float32 // Hidden
	W2                   []float32 // Dim×Hidden
	B2                   []float32 // Dim
	HeadW                []float32 // Classes×Dim
	HeadB                []float32 // Classes
}

// Weights returns a copy of the net's parameters as float32.
func (n *Net) Weights() Weights {
	return Weights{
		Dim: n.Dim, Hidden: n.Hidden, Classes: n.Classes,
		Mean: to32(n.Mean), Std: to32(n.Std),
		W1: to32(n.Adapter.FC1.W.Value), B1: to32(n.Adapter.FC1.B.Value),
		W2: to32(n.Adapter.FC2.W.Value), B2: to32(n.Adapter.FC2.B.Value),
		HeadW: to32(n.Head.W.Value), HeadB: to32(n.Head.B.Value),
	}
}

func to32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// params lists every parameter of the net in a fixed order: standardisation
// is not a Param, so this is adapter then head.
func (n *Net) params() []*Param { return append(n.Adapter.Params(), n.Head.Params()...) }
