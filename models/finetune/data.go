package finetune

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidData is returned when activations, labels or shapes disagree.
var ErrInvalidData = errors.New("finetune: invalid data")

// Activations are the cached inputs of a tail for Rows samples: X holds
// the cut activation of each sample (NCHW, row-major), Frozen one
// row-major batch per frozen input of the tail, in the tail's order.
type Activations struct {
	X      []float32
	Frozen [][]float32
	Rows   int
}

// check returns an error when the slices do not hold Rows samples of the
// shapes given, or an activation is not finite.
func (a Activations) check(input []int, frozen [][]int) error {
	if a.Rows <= 0 {
		return fmt.Errorf("%w: %d rows", ErrInvalidData, a.Rows)
	}
	if len(a.X) != a.Rows*prod(input) {
		return fmt.Errorf("%w: %d activation values for %d samples of %v", ErrInvalidData, len(a.X), a.Rows, input)
	}
	if len(a.Frozen) != len(frozen) {
		return fmt.Errorf("%w: %d frozen inputs, the tail has %d", ErrInvalidData, len(a.Frozen), len(frozen))
	}
	for k, f := range a.Frozen {
		if len(f) != a.Rows*prod(frozen[k]) {
			return fmt.Errorf("%w: frozen input %d has %d values for %d samples of %v", ErrInvalidData, k, len(f), a.Rows, frozen[k])
		}
	}
	for i, v := range a.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: non-finite activation in sample %d", ErrInvalidData, i/prod(input))
		}
	}
	return nil
}

// Select returns the activations of the samples at idx, in that order
// (copies).
func (a Activations) Select(idx []int) Activations {
	out := Activations{Rows: len(idx)}
	out.X = gather(a.X, a.Rows, idx)
	for _, f := range a.Frozen {
		out.Frozen = append(out.Frozen, gather(f, a.Rows, idx))
	}
	return out
}

// Range returns the activations of samples [lo, hi) (sharing memory).
func (a Activations) Range(lo, hi int) Activations {
	out := Activations{Rows: hi - lo}
	per := len(a.X) / a.Rows
	out.X = a.X[lo*per : hi*per]
	for _, f := range a.Frozen {
		p := len(f) / a.Rows
		out.Frozen = append(out.Frozen, f[lo*p:hi*p])
	}
	return out
}

// gather copies rows idx of a row-major batch of rows rows.
func gather(v []float32, rows int, idx []int) []float32 {
	per := len(v) / rows
	out := make([]float32, 0, len(idx)*per)
	for _, i := range idx {
		out = append(out, v[i*per:(i+1)*per]...)
	}
	return out
}

func prod(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}
