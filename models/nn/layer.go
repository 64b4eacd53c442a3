package nn

import (
	"fmt"
	"math"
	"runtime"
)

// Matrix is a dense row-major float64 batch with one row per sample.
// Data has length Rows*Cols.
type Matrix struct {
	Rows, Cols int
	Data       []float64
}

// NewMatrix returns a zeroed rows×cols Matrix. It panics on a negative
// shape, a programmer error.
func NewMatrix(rows, cols int) *Matrix {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("nn: negative matrix shape %dx%d", rows, cols))
	}
	return &Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// Clone returns a deep copy of m.
func (m *Matrix) Clone() *Matrix {
	return &Matrix{Rows: m.Rows, Cols: m.Cols, Data: append([]float64(nil), m.Data...)}
}

// Param is one trainable tensor: its values, the gradient accumulated by
// Backward, and the optimizer's momentum buffer. Value and Grad have the
// same length; Shape records how Value is laid out (row-major).
type Param struct {
	Name     string
	Shape    []int
	Value    []float64
	Grad     []float64
	Velocity []float64
	// Decay says whether weight decay applies (true for weights and biases
	// of Dense layers, false for normalisation parameters).
	Decay bool
}

func newParam(name string, decay bool, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return &Param{
		Name: name, Shape: shape, Decay: decay,
		Value: make([]float64, n), Grad: make([]float64, n), Velocity: make([]float64, n),
	}
}

// ZeroGrad sets the gradient to zero.
func (p *Param) ZeroGrad() { clear(p.Grad) }

// Layer is one differentiable step of a network.
//
// Forward maps a batch to a batch; train selects training behaviour (batch
// statistics in BatchNorm1d) and makes the layer keep what Backward needs.
// Backward takes the loss gradient with respect to the last training
// Forward's output, adds the parameter gradients to Params' Grad, and
// returns the gradient with respect to that Forward's input. Neither method
// modifies its argument.
type Layer interface {
	Forward(x *Matrix, train bool) *Matrix
	Backward(grad *Matrix) *Matrix
	Params() []*Param
}

// Dense is a fully connected layer y = x·Wᵀ + b with W of shape Out×In
// (the layout of PyTorch's Linear and ONNX Gemm with transB=1).
type Dense struct {
	In, Out int
	W, B    *Param
	x       *Matrix
}

// NewDense returns a Dense layer with zero weights and biases.
func NewDense(name string, in, out int) *Dense {
	return &Dense{In: in, Out: out, W: newParam(name+".W", true, out, in), B: newParam(name+".b", true, out)}
}

// Forward implements Layer.
func (d *Dense) Forward(x *Matrix, train bool) *Matrix {
	if x.Cols != d.In {
		panic(fmt.Sprintf("nn: dense input has %d columns, want %d", x.Cols, d.In))
	}
	y := d.apply(x, runtime.GOMAXPROCS(0))
	if train {
		d.x = x
	}
	return y
}

// apply returns x·Wᵀ + b computed on at most workers goroutines.
func (d *Dense) apply(x *Matrix, workers int) *Matrix {
	y := NewMatrix(x.Rows, d.Out)
	for i := 0; i < x.Rows; i++ {
		copy(y.Data[i*d.Out:(i+1)*d.Out], d.B.Value)
	}
	gemmWorkers(workers, x.Rows, d.Out, d.In, rowMajor(x.Data, d.In), transposed(d.W.Value, d.In), y.Data, d.Out, true)
	return y
}

// Backward implements Layer.
func (d *Dense) Backward(g *Matrix) *Matrix {
	d.BackwardParams(g)
	// dx = g·W.
	dx := NewMatrix(g.Rows, d.In)
	gemm(g.Rows, d.In, d.Out, rowMajor(g.Data, d.Out), rowMajor(d.W.Value, d.In), dx.Data, d.In, false)
	return dx
}

// BackwardParams is Backward without the input gradient, for a layer whose
// input is data (nothing below it to train): it only adds
// gᵀ·x to W's gradient and the column sums of g to b's.
func (d *Dense) BackwardParams(g *Matrix) {
	if d.x == nil {
		panic("nn: dense backward without a training forward")
	}
	gemm(d.Out, d.In, g.Rows, transposed(g.Data, d.Out), rowMajor(d.x.Data, d.In), d.W.Grad, d.In, true)
	for i := 0; i < g.Rows; i++ {
		row := g.Data[i*d.Out : (i+1)*d.Out]
		for j, v := range row {
			d.B.Grad[j] += v
		}
	}
}

// Params implements Layer.
func (d *Dense) Params() []*Param { return []*Param{d.W, d.B} }

// ReLU is the rectifier max(0, x).
type ReLU struct{ x *Matrix }

// Forward implements Layer.
func (r *ReLU) Forward(x *Matrix, train bool) *Matrix {
	y := NewMatrix(x.Rows, x.Cols)
	for i, v := range x.Data {
		if v > 0 {
			y.Data[i] = v
		}
	}
	if train {
		r.x = x
	}
	return y
}

// Backward implements Layer.
func (r *ReLU) Backward(g *Matrix) *Matrix {
	dx := NewMatrix(g.Rows, g.Cols)
	for i, v := range g.Data {
		if r.x.Data[i] > 0 {
			dx.Data[i] = v
		}
	}
	return dx
}

// Params implements Layer; ReLU has none.
func (r *ReLU) Params() []*Param { return nil }

// GELU is the Gaussian error linear unit x·Φ(x), exact (erf) form.
type GELU struct{ x *Matrix }

// Forward implements Layer.
func (l *GELU) Forward(x *Matrix, train bool) *Matrix {
	y := NewMatrix(x.Rows, x.Cols)
	for i, v := range x.Data {
		y.Data[i] = v * 0.5 * (1 + math.Erf(v/math.Sqrt2))
	}
	if train {
		l.x = x
	}
	return y
}

// Backward implements Layer.
func (l *GELU) Backward(g *Matrix) *Matrix {
	dx := NewMatrix(g.Rows, g.Cols)
	for i, v := range g.Data {
		x := l.x.Data[i]
		cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
		pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
		dx.Data[i] = v * (cdf + x*pdf)
	}
	return dx
}

// Params implements Layer; GELU has none.
func (l *GELU) Params() []*Param { return nil }

// BatchNorm1d normalises each column with the batch statistics in training
// and with running statistics in evaluation, then scales by Gamma and
// shifts by Beta. Running statistics follow PyTorch: momentum-weighted,
// with the unbiased batch variance.
type BatchNorm1d struct {
	Dim         int
	Eps         float64
	Momentum    float64
	Gamma, Beta *Param
	RunMean     []float64
	RunVar      []float64

	xhat   *Matrix
	invStd []float64
}

// NewBatchNorm1d returns a BatchNorm1d with Gamma 1, Beta 0, running mean 0
// and running variance 1, eps 1e-5 and momentum 0.1 (PyTorch's defaults).
func NewBatchNorm1d(name string, dim int) *BatchNorm1d {
	bn := &BatchNorm1d{
		Dim: dim, Eps: 1e-5, Momentum: 0.1,
		Gamma: newParam(name+".gamma", false, dim), Beta: newParam(name+".beta", false, dim),
		RunMean: make([]float64, dim), RunVar: make([]float64, dim),
	}
	for j := range dim {
		bn.Gamma.Value[j] = 1
		bn.RunVar[j] = 1
	}
	return bn
}

// Forward implements Layer.
func (bn *BatchNorm1d) Forward(x *Matrix, train bool) *Matrix {
	if x.Cols != bn.Dim {
		panic(fmt.Sprintf("nn: batchnorm input has %d columns, want %d", x.Cols, bn.Dim))
	}
	n, d := x.Rows, x.Cols
	y := NewMatrix(n, d)
	mean := make([]float64, d)
	vr := make([]float64, d)
	if train && n > 0 {
		for i := range n {
			for j, v := range x.Data[i*d : (i+1)*d] {
				mean[j] += v
			}
		}
		for j := range mean {
			mean[j] /= float64(n)
		}
		for i := range n {
			for j, v := range x.Data[i*d : (i+1)*d] {
				dv := v - mean[j]
				vr[j] += dv * dv
			}
		}
		for j := range vr {
			unbiased := vr[j]
			if n > 1 {
				unbiased /= float64(n - 1)
			}
			vr[j] /= float64(n)
			bn.RunMean[j] = (1-bn.Momentum)*bn.RunMean[j] + bn.Momentum*mean[j]
			bn.RunVar[j] = (1-bn.Momentum)*bn.RunVar[j] + bn.Momentum*unbiased
		}
	} else {
		copy(mean, bn.RunMean)
		copy(vr, bn.RunVar)
	}
	inv := make([]float64, d)
	for j := range inv {
		inv[j] = 1 / math.Sqrt(vr[j]+bn.Eps)
	}
	xhat := NewMatrix(n, d)
	for i := range n {
		for j := range d {
			h := (x.Data[i*d+j] - mean[j]) * inv[j]
			xhat.Data[i*d+j] = h
			y.Data[i*d+j] = bn.Gamma.Value[j]*h + bn.Beta.Value[j]
		}
	}
	if train {
		bn.xhat, bn.invStd = xhat, inv
	}
	return y
}

// Backward implements Layer (training-mode gradient through the batch
// statistics).
func (bn *BatchNorm1d) Backward(g *Matrix) *Matrix {
	n, d := g.Rows, g.Cols
	dx := NewMatrix(n, d)
	if n == 0 {
		return dx
	}
	sumG := make([]float64, d)
	sumGH := make([]float64, d)
	for i := range n {
		for j := range d {
			gv := g.Data[i*d+j]
			sumG[j] += gv
			sumGH[j] += gv * bn.xhat.Data[i*d+j]
		}
	}
	for j := range d {
		bn.Beta.Grad[j] += sumG[j]
		bn.Gamma.Grad[j] += sumGH[j]
	}
	// dx = invStd/n · (n·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)) with dx̂ = γ·g, in this
	// order of operations (the proxies' training was written so first).
	fn := float64(n)
	s1, s2 := make([]float64, d), make([]float64, d)
	for j := range d {
		s1[j] = bn.Gamma.Value[j] * sumG[j]
		s2[j] = bn.Gamma.Value[j] * sumGH[j]
	}
	for i := range n {
		for j := range d {
			dx.Data[i*d+j] = bn.invStd[j] / fn * (fn*bn.Gamma.Value[j]*g.Data[i*d+j] - s1[j] - bn.xhat.Data[i*d+j]*s2[j])
		}
	}
	return dx
}

// Params implements Layer.
func (bn *BatchNorm1d) Params() []*Param { return []*Param{bn.Gamma, bn.Beta} }

// Sequential applies its layers in order.
type Sequential struct{ Layers []Layer }

// Forward implements Layer.
func (s *Sequential) Forward(x *Matrix, train bool) *Matrix {
	for _, l := range s.Layers {
		x = l.Forward(x, train)
	}
	return x
}

// Backward implements Layer.
func (s *Sequential) Backward(g *Matrix) *Matrix {
	for i := len(s.Layers) - 1; i >= 0; i-- {
		g = s.Layers[i].Backward(g)
	}
	return g
}

// Params implements Layer.
func (s *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Residual adds its input to the output of its inner layers:
// y = x + Inner(x). Inner must preserve the number of columns.
type Residual struct{ Inner Sequential }

// NewResidual returns a Residual block around the given layers.
func NewResidual(layers ...Layer) *Residual { return &Residual{Inner: Sequential{Layers: layers}} }

// Branch returns Inner(x), the residual branch alone.
func (r *Residual) Branch(x *Matrix, train bool) *Matrix { return r.Inner.Forward(x, train) }

// Forward implements Layer.
func (r *Residual) Forward(x *Matrix, train bool) *Matrix {
	y := r.Inner.Forward(x, train)
	if y.Cols != x.Cols || y.Rows != x.Rows {
		panic(fmt.Sprintf("nn: residual branch maps %dx%d to %dx%d", x.Rows, x.Cols, y.Rows, y.Cols))
	}
	for i, v := range x.Data {
		y.Data[i] += v
	}
	return y
}

// Backward implements Layer.
func (r *Residual) Backward(g *Matrix) *Matrix {
	dx := r.Inner.Backward(g)
	for i, v := range g.Data {
		dx.Data[i] += v
	}
	return dx
}

// Params implements Layer.
func (r *Residual) Params() []*Param { return r.Inner.Params() }
