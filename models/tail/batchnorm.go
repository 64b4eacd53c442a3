package tail

import (
	"fmt"
	"math"
)

// DefaultBatchNormEpsilon is the ε of inserted BatchNorms: Keras's default,
// the value the backbone's own (folded) BatchNorms were trained with.
const DefaultBatchNormEpsilon = 1e-3

// BatchNormOptions tune InsertBatchNorm. The zero value gives the defaults.
type BatchNormOptions struct {
	// Epsilon is the BatchNorms' ε; 0 means DefaultBatchNormEpsilon.
	Epsilon float64
	// BatchSize is the number of samples per forward pass while the
	// statistics are gathered (it does not change them); 0 means 256.
	BatchSize int
}

// BatchNormReport says what InsertBatchNorm did.
type BatchNormReport struct {
	Inserted int // BatchNorms inserted, one per convolution without one
	Channels int // channels they normalise, in total
	Samples  int // calibration samples the statistics come from
	// NearConstant counts the channels whose calibration variance is below
	// ε: BatchNorm passes them through in training (see InsertBatchNorm).
	NearConstant int
}

// InsertBatchNorm puts a BatchNorm after every convolution that is not
// already followed by one, calibrated on rows unlabelled samples (x and
// frozen as for Forward) so that in eval mode the network computes what it
// computed before, up to float32 rounding.
//
// Why: the backbone's BatchNorms were folded into its convolutions for
// inference. Trained as it is, that network diverges under plain SGD at
// the learning rates fine-tuning needs (the pilot measured a loss of 1e12
// in the first epoch at tail lr 0.01), because nothing holds each
// channel's scale while the weights move. A BatchNorm in train mode does:
// it renormalises every channel's batch statistics back to the calibrated
// ones, which makes each channel's output invariant to the scale of its
// kernel and stops the runaway growth.
//
// Calibration: for each convolution output channel, μ and σ² are the mean
// and (population) variance over all samples and positions of the
// calibration set, computed with the network as it is. The BatchNorm gets
// running mean μ, running variance σ², scale γ = √(σ²+ε) and shift β = μ:
// in eval mode y ↦ γ(y-μ)/√(σ²+ε) + β = y. In train mode on a batch with
// statistics (μ_b, σ_b²) it gives γ(y-μ_b)/√(σ_b²+ε) + μ, the same as eval
// when the batch looks like the calibration set. A channel that is (nearly)
// constant on the calibration set (σ² ≪ ε) needs no clamping in this form:
// its train-mode gain √(σ²+ε)/√(σ_b²+ε) stays near 1, so it is passed
// through rather than amplified, and γ ≥ √ε keeps its kernel trainable.
// Such channels are counted in the report.
func (n *Net) InsertBatchNorm(x []float32, frozen [][]float32, rows int, opts BatchNormOptions) (BatchNormReport, error) {
	g := n.g
	eps := opts.Epsilon
	if eps == 0 {
		eps = DefaultBatchNormEpsilon
	}
	if !(eps > 0) {
		return BatchNormReport{}, fmt.Errorf("tail: batchnorm epsilon %g must be positive", eps)
	}
	bs := opts.BatchSize
	if bs <= 0 {
		bs = 256
	}
	if rows <= 0 {
		return BatchNormReport{}, fmt.Errorf("tail: batchnorm calibration needs samples, got %d", rows)
	}
	// The convolutions to follow with a BatchNorm.
	var convs []int
	for i, o := range g.ops {
		c, ok := o.(*convOp[float32])
		if !ok || followedByBN(g, c.out) {
			continue
		}
		convs = append(convs, i)
	}
	rep := BatchNormReport{Samples: rows}
	if len(convs) == 0 {
		return rep, nil
	}
	stats := make([]channelStats, len(convs))
	for k, i := range convs {
		c := g.ops[i].(*convOp[float32])
		stats[k] = newChannelStats(c.cout)
	}
	inShapes := append([][]int{g.slots[g.input].dims}, n.FrozenShapes()...)
	all := append([][]float32{x}, frozen...)
	for k, d := range all {
		if len(d) != rows*prod(inShapes[k]) {
			return rep, fmt.Errorf("tail: batchnorm calibration input %d has %d values, want %d", k, len(d), rows*prod(inShapes[k]))
		}
	}
	for lo := 0; lo < rows; lo += bs {
		hi := min(lo+bs, rows)
		var fz [][]float32
		for k, f := range frozen {
			fz = append(fz, f[lo*prod(inShapes[k+1]):hi*prod(inShapes[k+1])])
		}
		per := prod(inShapes[0])
		// One pass per batch: the statistics read the convolutions' outputs.
		if _, err := g.forward(x[lo*per:hi*per], fz, hi-lo, false, hi-lo); err != nil {
			return rep, err
		}
		for k, i := range convs {
			c := g.ops[i].(*convOp[float32])
			stats[k].add(g.vals[c.out], g.workers)
		}
	}
	// Insert, from the last convolution backwards so indices stay valid.
	for k := len(convs) - 1; k >= 0; k-- {
		i := convs[k]
		c := g.ops[i].(*convOp[float32])
		mean, variance := stats[k].result()
		raw := g.addSlot(c.name+"/conv", g.slots[c.out].dims, true)
		scale := newParam[float32](c.name+"/bn.scale", false, c.cout)
		shift := newParam[float32](c.name+"/bn.shift", false, c.cout)
		rm := &buffer[float32]{name: c.name + "/bn.mean", value: make([]float32, c.cout)}
		rv := &buffer[float32]{name: c.name + "/bn.var", value: make([]float32, c.cout)}
		for ch := range c.cout {
			scale.value[ch] = float32(math.Sqrt(variance[ch] + eps))
			shift.value[ch] = float32(mean[ch])
			rm.value[ch] = float32(mean[ch])
			rv.value[ch] = float32(variance[ch])
			if variance[ch] < eps {
				rep.NearConstant++
			}
		}
		b := newBN(c.name+"/bn", raw, c.out, c.cout, scale, shift, rm, rv, eps)
		b.inserted = true
		c.out = raw
		g.ops = append(g.ops[:i+1], append([]op[float32]{b}, g.ops[i+1:]...)...)
		rep.Inserted++
		rep.Channels += c.cout
	}
	g.planned = false // ops and slots changed: plan and reallocate
	return rep, nil
}

// followedByBN says whether the only reader of slot s is a BatchNorm.
func followedByBN[T float](g *graph[T], s int) bool {
	readers := 0
	bn := false
	for _, o := range g.ops {
		for _, in := range opInputs(o) {
			if in == s {
				readers++
				_, bn = o.(*bnOp[T])
			}
		}
	}
	return readers == 1 && bn
}

// opInputs lists the slots an op reads.
func opInputs[T float](o op[T]) []int {
	switch v := o.(type) {
	case *convOp[T]:
		return []int{v.in}
	case *bnOp[T]:
		return []int{v.in}
	case *clipOp[T]:
		return []int{v.in}
	case *addOp[T]:
		if v.b < 0 {
			return []int{v.a}
		}
		return []int{v.a, v.b}
	case *poolOp[T]:
		return []int{v.in}
	case *flattenOp[T]:
		return []int{v.in}
	case *concatOp[T]:
		return v.ins
	case *gemmOp[T]:
		return []int{v.in}
	}
	panic(fmt.Sprintf("tail: unknown op %T", o))
}

// channelStats accumulates per-channel mean and variance over batches,
// in float64, combining batches with Chan et al.'s formula in batch order.
type channelStats struct {
	count    float64
	mean, m2 []float64
}

func newChannelStats(c int) channelStats {
	return channelStats{mean: make([]float64, c), m2: make([]float64, c)}
}

// add folds in one channel-major batch.
func (s *channelStats) add(v []float32, workers int) {
	c := len(s.mean)
	m := len(v) / c
	parallelFor(workers, c, func(ch int) {
		row := v[ch*m : (ch+1)*m]
		var sum float64
		for _, x := range row {
			sum += float64(x)
		}
		bm := sum / float64(m)
		var b2 float64
		for _, x := range row {
			d := float64(x) - bm
			b2 += d * d
		}
		n := s.count + float64(m)
		delta := bm - s.mean[ch]
		s.mean[ch] += delta * float64(m) / n
		s.m2[ch] += b2 + delta*delta*s.count*float64(m)/n
	})
	s.count += float64(m)
}

// result returns the means and population variances.
func (s *channelStats) result() (mean, variance []float64) {
	variance = make([]float64, len(s.m2))
	for i, v := range s.m2 {
		variance[i] = v / s.count
	}
	return s.mean, variance
}
