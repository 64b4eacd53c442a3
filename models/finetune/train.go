package finetune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/models/tail"
)

// StageStats records one training stage.
type StageStats struct {
	Name           string    // "lp" or "ft"
	Epochs         int       // epochs run
	Steps          int       // optimizer steps taken
	HeadLR, TailLR float64   // peak learning rates (TailLR 0 for "lp")
	EpochLoss      []float64 // mean training loss of each epoch
}

// Stats records what Train did.
type Stats struct {
	Method   string
	Stages   []StageStats
	TrainAcc float64 // accuracy on the labelled set after training, eval mode
	Elapsed  time.Duration
}

// FinalLoss returns the mean loss of the last epoch of the last stage, or
// NaN when nothing was trained.
func (s Stats) FinalLoss() float64 {
	if len(s.Stages) == 0 || len(s.Stages[len(s.Stages)-1].EpochLoss) == 0 {
		return math.NaN()
	}
	l := s.Stages[len(s.Stages)-1].EpochLoss
	return l[len(l)-1]
}

// Train fits a tail and a fresh linear head to the labelled samples a
// (labels y in [0, classes)) following the recipe, starting from the
// pretrained weights. pre, a and y are not modified. The same recipe and
// data give the same weights bit for bit.
func Train(pre *Pretrained, r Recipe, a Activations, y []int, classes int) (*Tuned, Stats, error) {
	start := time.Now()
	if err := r.Validate(); err != nil {
		return nil, Stats{}, err
	}
	if err := a.check(pre.InputShape(), pre.FrozenShapes()); err != nil {
		return nil, Stats{}, err
	}
	if len(y) != a.Rows {
		return nil, Stats{}, fmt.Errorf("%w: %d labels for %d samples", ErrInvalidData, len(y), a.Rows)
	}
	if classes < 2 {
		return nil, Stats{}, fmt.Errorf("%w: %d classes, need at least 2", ErrInvalidData, classes)
	}
	for i, c := range y {
		if c < 0 || c >= classes {
			return nil, Stats{}, fmt.Errorf("%w: label %d of sample %d not in [0, %d)", ErrInvalidData, c, i, classes)
		}
	}
	workers := r.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Every fine-tune starts again from the pretrained weights.
	pre.mu.Lock()
	net := pre.net.Clone()
	pre.mu.Unlock()
	net.SetWorkers(workers)
	t := &Tuned{
		net: net, output: pre.output, classes: classes, Recipe: r,
		Mean: append([]float64(nil), pre.Mean...), Std: append([]float64(nil), pre.Std...),
		Head: nn.NewDense("head", pre.Dim(), classes),
	}
	initHead(t.Head, rand.New(rand.NewPCG(r.Seed, 0x66742e68656164)))                              // stream "ft.head"
	tr := &trainer{t: t, r: r, a: a, y: y, rng: rand.New(rand.NewPCG(r.Seed, 0x66742e6f72646572))} // stream "ft.order"
	st := Stats{Method: r.Method}
	epochs := r.EpochsFor(a.Rows)
	lp := stage{name: MethodLP, epochs: epochs, headLR: r.LPHeadLR}
	switch r.Method {
	case MethodLP:
		st.Stages = append(st.Stages, tr.fit(lp))
	case MethodFT:
		st.Stages = append(st.Stages, tr.fit(stage{name: MethodFT, epochs: epochs, headLR: r.HeadLR, tailLR: r.TailLR, tail: true}))
	case MethodLPFT:
		st.Stages = append(st.Stages, tr.fit(lp))
		st.Stages = append(st.Stages, tr.fit(stage{name: MethodFT, epochs: epochs, headLR: r.LPFTHeadLR, tailLR: r.LPFTTailLR, tail: true}))
	}
	probs, err := t.Predict(a)
	if err != nil {
		return nil, Stats{}, err
	}
	st.TrainAcc = Accuracy(probs, y, classes)
	st.Elapsed = time.Since(start)
	return t, st, nil
}

// initHead draws the head's weights and biases uniformly in ±1/√in
// (PyTorch's Linear default).
func initHead(d *nn.Dense, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(d.In))
	for i := range d.W.Value {
		d.W.Value[i] = (2*rng.Float64() - 1) * bound
	}
	for i := range d.B.Value {
		d.B.Value[i] = (2*rng.Float64() - 1) * bound
	}
}

type stage struct {
	name           string
	epochs         int
	headLR, tailLR float64
	tail           bool // train the tail too
}

type trainer struct {
	t   *Tuned
	r   Recipe
	a   Activations
	y   []int
	rng *rand.Rand
}

// fit runs one stage.
func (tr *trainer) fit(s stage) StageStats {
	t, r, a := tr.t, tr.r, tr.a
	rows, dim := a.Rows, len(t.Mean)
	head := t.Head
	for _, p := range []*nn.Param{head.W, head.B} {
		clear(p.Velocity)
	}
	var tailParams []*tail.Param
	var tailVel [][]float32
	var z *nn.Matrix // standardised frozen features, for a head-only stage
	if s.tail {
		tailParams = t.net.Params()
		for _, p := range tailParams {
			tailVel = append(tailVel, make([]float32, len(p.Value)))
		}
	} else {
		f, err := features(t.net, t.output, a)
		if err != nil {
			panic("finetune: features of checked activations: " + err.Error())
		}
		z = t.standardize(f, rows)
	}
	stepsPerEpoch := (rows + r.BatchSize - 1) / r.BatchSize
	total := stepsPerEpoch * s.epochs
	stats := StageStats{Name: s.name, Epochs: s.epochs, HeadLR: s.headLR, TailLR: s.tailLR}
	yb := make([]int, 0, r.BatchSize)
	grads := make([][]float32, len(t.net.OutputDims()))
	for range s.epochs {
		perm := tr.rng.Perm(rows)
		var epochLoss float64
		for b := 0; b < rows; b += r.BatchSize {
			idx := perm[b:min(b+r.BatchSize, rows)]
			yb = yb[:0]
			for _, i := range idx {
				yb = append(yb, tr.y[i])
			}
			head.W.ZeroGrad()
			head.B.ZeroGrad()
			var zb *nn.Matrix
			if s.tail {
				batch := a.Select(idx)
				out, err := t.net.Forward(batch.X, batch.Frozen, batch.Rows, true)
				if err != nil {
					panic("finetune: forward of checked activations: " + err.Error())
				}
				zb = t.standardize(out[t.output], len(idx))
			} else {
				zb = nn.NewMatrix(len(idx), dim)
				for k, i := range idx {
					copy(zb.Data[k*dim:(k+1)*dim], z.Data[i*dim:(i+1)*dim])
				}
			}
			loss, g := nn.SoftmaxCrossEntropy(head.Forward(zb, true), yb, 0)
			epochLoss += loss * float64(len(idx))
			scale := 0.5 * (1 + math.Cos(math.Pi*float64(stats.Steps)/float64(total)))
			if s.tail {
				dz := head.Backward(g)
				df := make([]float32, len(dz.Data))
				for i, v := range dz.Data {
					df[i] = float32(v / t.Std[i%dim])
				}
				clear(grads)
				grads[t.output] = df
				t.net.ZeroGrad()
				if err := t.net.Backward(grads); err != nil {
					panic("finetune: backward: " + err.Error())
				}
				lr := s.tailLR * scale
				parallelFor(tr.workers(), len(tailParams), func(k int) {
					p := tailParams[k]
					wd := r.WeightDecay
					if !p.Decay {
						wd = 0
					}
					sgd32(p.Value, p.Grad, tailVel[k], lr, r.Momentum, wd)
				})
			} else {
				head.Backward(g)
			}
			for _, p := range []*nn.Param{head.W, head.B} {
				sgd64(p.Value, p.Grad, p.Velocity, s.headLR*scale, r.Momentum, r.WeightDecay)
			}
			stats.Steps++
		}
		stats.EpochLoss = append(stats.EpochLoss, epochLoss/float64(rows))
	}
	return stats
}

func (tr *trainer) workers() int {
	if tr.r.Workers > 0 {
		return tr.r.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// sgd64 and sgd32 apply SGD with Nesterov momentum as PyTorch does:
// g ← grad + wd·w; v ← μ·v + g; w ← w − lr·(g + μ·v). Each element is
// updated on its own, in float64.
func sgd64(w, grad, vel []float64, lr, mu, wd float64) {
	for i, x := range w {
		g := grad[i] + wd*x
		v := mu*vel[i] + g
		vel[i] = v
		w[i] = x - lr*(g+mu*v)
	}
}

// sgd32 runs the AVX2 kernel of sgd_amd64.s on whole blocks of 8 where it
// can; the kernel does the same float64 operations in the same order, each
// rounded (the conversions below keep the compiler from fusing any into an
// FMA), so the weights do not depend on which path ran.
func sgd32(w, grad, vel []float32, lr, mu, wd float64) {
	n := len(w)
	grad, vel = grad[:n], vel[:n]
	i0 := 0
	if useSGDAsm && n >= 8 {
		i0 = n &^ 7
		sgd32Asm(&w[0], &grad[0], &vel[0], i0, &[3]float64{lr, mu, wd})
	}
	for i := i0; i < n; i++ {
		x := float64(w[i])
		g := float64(grad[i]) + float64(wd*x)
		v := float64(mu*float64(vel[i])) + g
		vel[i] = float32(v)
		w[i] = float32(x - float64(lr*(g+float64(mu*v))))
	}
}

// parallelFor calls f(i) for i in [0, n) on up to workers goroutines; each
// i owns its output.
func parallelFor(workers, n int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	ch := make(chan int)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				f(i)
			}
		}()
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

// Accuracy returns the share of rows whose most probable class (first on
// ties) is the label.
func Accuracy(probs []float32, y []int, classes int) float64 {
	if len(y) == 0 {
		return 0
	}
	correct := 0
	for i, c := range y {
		row := probs[i*classes : (i+1)*classes]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		if best == c {
			correct++
		}
	}
	return float64(correct) / float64(len(y))
}
