package tail

import "math"

// bnMomentum is the weight of a batch's statistics in the running ones
// (PyTorch's BatchNorm2d default).
const bnMomentum = 0.1

// bnOp is BatchNormalization over the channels. In eval mode it applies
// the running statistics; in train mode it normalises with the batch's
// statistics (biased variance) and updates the running ones (unbiased
// variance), as PyTorch's BatchNorm2d does.
type bnOp[T float] struct {
	name         string
	in, out      int
	c            int
	scale, shift *param[T]
	mean, varnc  *buffer[T]
	eps          float64
	inserted     bool // added by InsertBatchNorm: not a node of the graph
	xhat, invstd []T  // train-mode state for backward
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
	d.xhat, d.invstd = nil, nil
	return &d
}

func (b *bnOp[T]) forward(g *graph[T]) {
	x, y := g.vals[b.in], g.vals[b.out]
	m := len(x) / b.c // samples × spatial positions per channel
	if !g.train {
		parallelFor(g.workers, b.c, func(ch int) {
			a := float64(b.scale.value[ch]) / math.Sqrt(float64(b.varnc.value[ch])+b.eps)
			sa, sb := T(a), T(float64(b.shift.value[ch])-float64(b.mean.value[ch])*a)
			yr := y[ch*m : (ch+1)*m]
			for i, v := range x[ch*m : (ch+1)*m] {
				yr[i] = sa*v + sb
			}
		})
		return
	}
	b.xhat = resize(b.xhat, len(x))
	b.invstd = resize(b.invstd, b.c)
	parallelFor(g.workers, b.c, func(ch int) {
		xr := x[ch*m : (ch+1)*m]
		var s float64
		for _, v := range xr {
			s += float64(v)
		}
		mu := s / float64(m)
		var ss float64
		for _, v := range xr {
			d := float64(v) - mu
			ss += d * d
		}
		variance := ss / float64(m)
		inv := 1 / math.Sqrt(variance+b.eps)
		b.invstd[ch] = T(inv)
		xh := b.xhat[ch*m : (ch+1)*m]
		yr := y[ch*m : (ch+1)*m]
		sc, sh := b.scale.value[ch], b.shift.value[ch]
		muT, invT := T(mu), T(inv)
		for i, v := range xr {
			h := (v - muT) * invT
			xh[i] = h
			yr[i] = sc*h + sh
		}
		unbiased := variance
		if m > 1 {
			unbiased = ss / float64(m-1)
		}
		b.mean.value[ch] = T((1-bnMomentum)*float64(b.mean.value[ch]) + bnMomentum*mu)
		b.varnc.value[ch] = T((1-bnMomentum)*float64(b.varnc.value[ch]) + bnMomentum*unbiased)
	})
}

func (b *bnOp[T]) backward(g *graph[T]) {
	dy := g.grads[b.out]
	m := len(dy) / b.c
	var dx []T
	if g.slots[b.in].grad {
		dx = g.grads[b.in]
	}
	parallelFor(g.workers, b.c, func(ch int) {
		gr := dy[ch*m : (ch+1)*m]
		xh := b.xhat[ch*m : (ch+1)*m]
		var sg, sgx float64
		for i, v := range gr {
			sg += float64(v)
			sgx += float64(v) * float64(xh[i])
		}
		b.shift.grad[ch] += T(sg)
		b.scale.grad[ch] += T(sgx)
		if dx == nil {
			return
		}
		k := float64(b.scale.value[ch]) * float64(b.invstd[ch])
		mg, mgx := sg/float64(m), sgx/float64(m)
		dr := dx[ch*m : (ch+1)*m]
		for i, v := range gr {
			dr[i] += T(k * (float64(v) - mg - float64(xh[i])*mgx))
		}
	})
}
