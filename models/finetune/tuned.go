package finetune

import (
	"math"
	"sync"

	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/models/tail"
)

// Tuned is a fine-tuned tail and its linear head. Its methods are safe for
// concurrent use.
type Tuned struct {
	net     *tail.Net
	output  int
	classes int
	// Mean and Std standardise the features before the head (copied from
	// the Pretrained: the statistics of the pretrained features).
	Mean, Std []float64
	// Head maps standardised features to class logits.
	Head *nn.Dense
	// Recipe is the recipe the tail and head were trained with.
	Recipe Recipe

	mu sync.Mutex // one forward pass at a time
}

// Dim returns the number of features the head reads.
func (t *Tuned) Dim() int { return len(t.Mean) }

// Classes returns the number of classes of the head.
func (t *Tuned) Classes() int { return t.classes }

// Output returns the index of the tail output that the head reads (the
// features), in the order of Net().OutputNames().
func (t *Tuned) Output() int { return t.output }

// Net returns the tuned tail. It is the Tuned's own: do not train it.
func (t *Tuned) Net() *tail.Net { return t.net }

// Features returns the tuned tail's output features of the samples
// (rows × Dim, row-major), in the space of the backbone's features: the
// re-aligned features an ASVP feature update stores. A sample's features
// do not depend on the others.
func (t *Tuned) Features(a Activations) ([]float32, error) {
	if err := a.check(t.net.InputShape(), t.net.FrozenShapes()); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return features(t.net, t.output, a)
}

// Predict returns the class probabilities of the samples (rows × Classes,
// row-major).
func (t *Tuned) Predict(a Activations) ([]float32, error) {
	f, err := t.Features(a)
	if err != nil {
		return nil, err
	}
	return t.PredictFeatures(f, a.Rows), nil
}

// PredictFeatures returns the class probabilities of rows samples from
// their (unstandardised) features, as Features returns them.
func (t *Tuned) PredictFeatures(f []float32, rows int) []float32 {
	logits := t.Head.Forward(t.standardize(f, rows), false)
	out := make([]float32, rows*t.classes)
	for i := range rows {
		row := logits.Data[i*t.classes : (i+1)*t.classes]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - m)
		}
		for k, v := range row {
			out[i*t.classes+k] = float32(math.Exp(v-m) / s)
		}
	}
	return out
}

// standardize returns (f - Mean) / Std as a float64 matrix.
func (t *Tuned) standardize(f []float32, rows int) *nn.Matrix {
	dim := len(t.Mean)
	z := nn.NewMatrix(rows, dim)
	for i := range rows {
		for j, v := range f[i*dim : (i+1)*dim] {
			z.Data[i*dim+j] = (float64(v) - t.Mean[j]) / t.Std[j]
		}
	}
	return z
}
