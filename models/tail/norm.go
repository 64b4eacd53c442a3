package tail

import "math"

// bnMomentum is the weight of a batch's statistics in the running ones
// (PyTorch's BatchNorm2d default).
const bnMomentum = 0.1

// bnOp is BatchNormalization over the channels. In eval mode it applies
// the running statistics; in train mode it normalises with the batch's
// statistics (biased variance) and updates the running ones (unbiased
// variance), as PyTorch's BatchNorm2d does. When plan fuses the Clip that
// reads its output into it (clip set), it writes the Clip's output and
// takes the Clip's gradient; when it is the only reader of a 1×1 or
// im2col convolution's output, it adds the convolution's bias (convBias
// set); after a depthwise convolution, that convolution applies it in eval
// mode (inConv). What it computes is unchanged.
type bnOp[T float] struct {
	name         string
	in, out      int
	c            int
	scale, shift *param[T]
	mean, varnc  *buffer[T]
	eps          float64
	inserted     bool // added by InsertBatchNorm: not a node of the graph
	xhat, invstd []T  // train-mode state for backward
	clip         *clipOp[T]
	// convBias is the bias of the convolution before it when plan moved
	// it here (see bnIn), else nil.
	convBias *param[T]
	// inConv is set by plan when the depthwise convolution before it
	// applies it in eval mode (convOp.evalBN).
	inConv bool
}

func newBN[T float](name string, in, out, channels int, scale, shift *param[T], mean, variance *buffer[T], eps float64) *bnOp[T] {
	scale.norm, shift.norm = true, true
	return &bnOp[T]{name: name, in: in, out: out, c: channels, scale: scale, shift: shift, mean: mean, varnc: variance, eps: eps}
}

func (b *bnOp[T]) label() string         { return b.name }
func (b *bnOp[T]) params() []*param[T]   { return []*param[T]{b.scale, b.shift} }
func (b *bnOp[T]) buffers() []*buffer[T] { return []*buffer[T]{b.mean, b.varnc} }
func (b *bnOp[T]) clone(ps map[*param[T]]*param[T]) op[T] {
	d := *b
	d.scale, d.shift = ps[b.scale], ps[b.shift]
	d.mean = &buffer[T]{name: b.mean.name, value: append([]T(nil), b.mean.value...)}
	d.varnc = &buffer[T]{name: b.varnc.name, value: append([]T(nil), b.varnc.value...)}
	d.xhat, d.invstd, d.clip, d.convBias, d.inConv = nil, nil, nil, nil, false
	return &d
}

// output is the slot the op writes: its own, or the fused Clip's.
func (b *bnOp[T]) output() int {
	if b.clip != nil {
		return b.clip.out
	}
	return b.out
}

// evalAffine returns the eval-mode map y = sa·x + sb of channel ch.
func (b *bnOp[T]) evalAffine(ch int) (sa, sb T) {
	a := float64(b.scale.value[ch]) / math.Sqrt(float64(b.varnc.value[ch])+b.eps)
	return T(a), T(float64(b.shift.value[ch]) - float64(b.mean.value[ch])*a)
}

// input returns the input bias of channel ch.
func (b *bnOp[T]) input(ch int) bnIn[T] {
	if b.convBias == nil {
		return bnIn[T]{}
	}
	return bnIn[T]{beta: b.convBias.value[ch], on: true}
}

// bounds returns the fused Clip's bounds, or ±Inf.
func (b *bnOp[T]) bounds() (lo, hi T) {
	if b.clip != nil {
		return b.clip.lo, b.clip.hi
	}
	return -inf[T](), inf[T]()
}

func (b *bnOp[T]) forward(g *graph[T]) {
	x, y := g.vals[b.in], g.vals[b.output()]
	m := len(x) / b.c // samples × spatial positions per channel
	lo, hi := b.bounds()
	if !g.train {
		if b.inConv {
			return // the depthwise convolution before it did it
		}
		parallelFor(g.workers, b.c, func(ch int) {
			sa, sb := b.evalAffine(ch)
			affineClamp(y[ch*m:(ch+1)*m], x[ch*m:(ch+1)*m], b.input(ch), sa, sb, lo, hi)
		})
		return
	}
	b.xhat = resize(b.xhat, len(x))
	b.invstd = resize(b.invstd, b.c)
	parallelFor(g.workers, b.c, func(ch int) {
		xr := x[ch*m : (ch+1)*m]
		in := b.input(ch)
		mu := sum64(xr, in.beta) / float64(m)
		ss := sqDev64(xr, in.beta, mu)
		variance := ss / float64(m)
		inv := 1 / math.Sqrt(variance+b.eps)
		b.invstd[ch] = T(inv)
		bnNorm(b.xhat[ch*m:(ch+1)*m], y[ch*m:(ch+1)*m], xr, in, T(mu), T(inv), b.scale.value[ch], b.shift.value[ch], lo, hi)
		unbiased := variance
		if m > 1 {
			unbiased = ss / float64(m-1)
		}
		b.mean.value[ch] = T((1-bnMomentum)*float64(b.mean.value[ch]) + bnMomentum*mu)
		b.varnc.value[ch] = T((1-bnMomentum)*float64(b.varnc.value[ch]) + bnMomentum*unbiased)
	})
}

func (b *bnOp[T]) backward(g *graph[T]) {
	dy := g.grads[b.output()]
	m := len(dy) / b.c
	var dx []T
	set := false
	if g.slots[b.in].grad {
		dx = g.grads[b.in]
		set = g.claim(b.in)
	}
	lo, hi := b.bounds()
	masked := b.clip != nil
	parallelFor(g.workers, b.c, func(ch int) {
		gr := dy[ch*m : (ch+1)*m]
		xh := b.xhat[ch*m : (ch+1)*m]
		sc, sh := b.scale.value[ch], b.shift.value[ch]
		sg, sgx := bnGradSums(gr, xh, sc, sh, lo, hi, masked)
		b.shift.grad[ch] += T(sg)
		b.scale.grad[ch] += T(sgx)
		if dx == nil {
			return
		}
		k := float64(sc) * float64(b.invstd[ch])
		bnGradInput(dx[ch*m:(ch+1)*m], gr, xh, k, sg/float64(m), sgx/float64(m), sc, sh, lo, hi, masked, !set)
	})
}
