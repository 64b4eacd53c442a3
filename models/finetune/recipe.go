package finetune

import (
	"errors"
	"fmt"
	"math"
)

// Training methods accepted by Recipe.Method.
const (
	MethodLP   = "lp"   // linear probe: a fresh head on the pretrained features, tail frozen
	MethodFT   = "ft"   // fine-tune: tail and a fresh head together
	MethodLPFT = "lpft" // linear probe, then fine-tune from the probed head with smaller rates
)

// ErrInvalidRecipe is returned when a Recipe has an unknown method or a
// field out of range.
var ErrInvalidRecipe = errors.New("finetune: invalid recipe")

// Recipe says how to train.
//
// Stages: "lp" trains the head only, at LPHeadLR. "ft" trains tail (at
// TailLR) and a fresh head (at HeadLR) together. "lpft" runs the "lp"
// stage, then an "ft" stage from the probed head at LPFTTailLR and
// LPFTHeadLR, smaller rates so that the probe is refined rather than
// overwritten and the pretrained features are distorted less (Kumar et
// al. 2022). Every stage starts with zero momentum and its own cosine
// schedule, decayed per step to zero.
//
// Epochs: a stage runs Epochs epochs when it is positive; otherwise
// EpochsFor(labelled rows): SampleEpochs / rows rounded, clamped to
// [MinEpochs, MaxEpochs], so that the number of optimizer steps, and the
// cost, stays about constant whatever the labelled set's size.
//
// Optimisation is SGD with Nesterov momentum (PyTorch's form), weight
// decay on convolution and head weights and biases (not on BatchNorm
// scales and shifts); minibatches are drawn without replacement in a
// seeded order, the last one may be smaller. Workers is the number of
// goroutines the tail uses (0: GOMAXPROCS); it does not change the result.
type Recipe struct {
	Method                 string
	Epochs                 int // per stage; 0 means EpochsFor(rows)
	SampleEpochs           int // rows × epochs a stage aims at when Epochs is 0
	MinEpochs, MaxEpochs   int
	BatchSize              int
	LPHeadLR               float64 // head learning rate of the linear-probe stage
	HeadLR, TailLR         float64 // learning rates of the fine-tuning stage of "ft"
	LPFTHeadLR, LPFTTailLR float64 // learning rates of the fine-tuning stage of "lpft"
	Momentum               float64
	WeightDecay            float64
	Seed                   uint64 // head initialisation and batch order
	Workers                int
}

// DefaultRecipe returns the recipe used when the caller has no opinion, for
// method "lp", "ft" or "lpft": batch 64, 30 epochs at 1,000 labels (30,000
// samples × epochs per stage, clamped to 10-100 epochs), momentum 0.9,
// weight decay 1e-4 (as the PyTorch pilot), LP head lr 0.05, FT head lr
// 0.05 and tail lr 0.01 (the rate that made the folded tail diverge in the
// pilot and that trains once BatchNorm is back), LP-FT's fine-tuning stage
// at head lr 0.01 and tail lr 0.003.
func DefaultRecipe(method string) Recipe {
	return Recipe{
		Method: method, SampleEpochs: 30000, MinEpochs: 10, MaxEpochs: 100, BatchSize: 64,
		LPHeadLR: 0.05, HeadLR: 0.05, TailLR: 0.01, LPFTHeadLR: 0.01, LPFTTailLR: 0.003,
		Momentum: 0.9, WeightDecay: 1e-4, Seed: 1,
	}
}

// EpochsFor returns the number of epochs a stage runs on rows labelled
// samples.
func (r Recipe) EpochsFor(rows int) int {
	if r.Epochs > 0 {
		return r.Epochs
	}
	if rows <= 0 {
		return r.MinEpochs
	}
	e := int(math.Round(float64(r.SampleEpochs) / float64(rows)))
	return min(max(e, r.MinEpochs), r.MaxEpochs)
}

// Validate returns an error wrapping ErrInvalidRecipe for a recipe Train
// cannot run: an unknown method, or a field out of range.
func (r Recipe) Validate() error {
	switch r.Method {
	case MethodLP, MethodFT, MethodLPFT:
	default:
		return fmt.Errorf("%w: unknown method %q (want lp, ft or lpft)", ErrInvalidRecipe, r.Method)
	}
	switch {
	case r.Epochs < 0:
		return fmt.Errorf("%w: epochs %d is negative", ErrInvalidRecipe, r.Epochs)
	case r.Epochs == 0 && (r.SampleEpochs <= 0 || r.MinEpochs <= 0 || r.MaxEpochs < r.MinEpochs):
		return fmt.Errorf("%w: epochs 0 needs positive sample epochs %d and 0 < min %d <= max %d",
			ErrInvalidRecipe, r.SampleEpochs, r.MinEpochs, r.MaxEpochs)
	case r.BatchSize <= 0:
		return fmt.Errorf("%w: batch size %d must be positive", ErrInvalidRecipe, r.BatchSize)
	case !(r.Momentum >= 0 && r.Momentum < 1):
		return fmt.Errorf("%w: momentum %g not in [0, 1)", ErrInvalidRecipe, r.Momentum)
	case r.Workers < 0:
		return fmt.Errorf("%w: workers %d is negative", ErrInvalidRecipe, r.Workers)
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"lp head lr", r.LPHeadLR}, {"head lr", r.HeadLR}, {"tail lr", r.TailLR},
		{"lpft head lr", r.LPFTHeadLR}, {"lpft tail lr", r.LPFTTailLR}, {"weight decay", r.WeightDecay}} {
		if !(v.v >= 0) || math.IsInf(v.v, 0) {
			return fmt.Errorf("%w: %s %g must be finite and non-negative", ErrInvalidRecipe, v.name, v.v)
		}
	}
	return nil
}
