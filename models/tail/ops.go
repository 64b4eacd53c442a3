package tail

// clipOp is Clip (ReLU6 as Clip(0, 6)) and Relu (Clip(0, +Inf)).
// Gradients pass where lo < x < hi, as PyTorch's hardtanh and relu do.
// When plan fuses it into the BatchNorm before it, it does nothing.
type clipOp[T float] struct {
	name    string
	in, out int
	lo, hi  T
	fused   bool
}

func (c *clipOp[T]) label() string                       { return c.name }
func (c *clipOp[T]) params() []*param[T]                 { return nil }
func (c *clipOp[T]) buffers() []*buffer[T]               { return nil }
func (c *clipOp[T]) clone(map[*param[T]]*param[T]) op[T] { d := *c; return &d }
func (c *clipOp[T]) output() int {
	if c.fused {
		return -1
	}
	return c.out
}

func (c *clipOp[T]) forward(g *graph[T]) {
	if c.fused {
		return
	}
	x, y := g.vals[c.in], g.vals[c.out]
	chunks(g.workers, len(x), func(lo, hi int) {
		out := y[lo:hi]
		for i, v := range x[lo:hi] {
			out[i] = clamp(v, c.lo, c.hi)
		}
	})
}

func (c *clipOp[T]) backward(g *graph[T]) {
	if c.fused || !g.slots[c.in].grad {
		return
	}
	x, dy, dx := g.vals[c.in], g.grads[c.out], g.grads[c.in]
	set := g.claim(c.in)
	chunks(g.workers, len(x), func(lo, hi int) {
		d, gr := dx[lo:hi], dy[lo:hi]
		for i, v := range x[lo:hi] {
			var gv T
			if v > c.lo && v < c.hi {
				gv = gr[i]
			}
			if set {
				d[i] = gv
			} else {
				d[i] += gv
			}
		}
	})
}

// addGrad sets dst to src when set, else adds src to it, in chunks.
func addGrad[T float](workers int, dst, src []T, set bool) {
	if set {
		chunks(workers, len(src), func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
		return
	}
	chunks(workers, len(src), func(lo, hi int) {
		d := dst[lo:hi]
		for i, v := range src[lo:hi] {
			d[i] += v
		}
	})
}

// chunks splits [0, n) into contiguous ranges for element-wise work.
func chunks(workers, n int, f func(lo, hi int)) {
	const size = 1 << 14
	parts := (n + size - 1) / size
	parallelFor(workers, parts, func(p int) { f(p*size, min((p+1)*size, n)) })
}

// addMode says how an Add's constant operand broadcasts.
type addMode int

const (
	addTensors    addMode = iota // two run-time tensors of the same shape
	addScalar                    // one value for everything
	addPerChannel                // one value per channel (or feature)
	addPerSample                 // a full per-sample tensor
)

// addOp is Add of two run-time tensors, or of a run-time tensor and a
// trainable constant (a bias).
type addOp[T float] struct {
	name    string
	a, b    int // b is -1 when the second operand is the constant
	out     int
	bias    *param[T]
	mode    addMode
	c, s    int // channels and spatial size of the output
	scratch []T
}

func (a *addOp[T]) label() string         { return a.name }
func (a *addOp[T]) output() int           { return a.out }
func (a *addOp[T]) buffers() []*buffer[T] { return nil }
func (a *addOp[T]) params() []*param[T] {
	if a.bias == nil {
		return nil
	}
	return []*param[T]{a.bias}
}
func (a *addOp[T]) clone(ps map[*param[T]]*param[T]) op[T] {
	d := *a
	if a.bias != nil {
		d.bias = ps[a.bias]
	}
	return &d
}

// Tensors are [C, S, N]: row ch·S + k holds position k of channel ch for
// the n samples.

func (a *addOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[a.a], g.vals[a.out], g.n
	if a.mode == addTensors {
		z := g.vals[a.b]
		chunks(g.workers, len(y), func(lo, hi int) {
			out, zs := y[lo:hi], z[lo:hi]
			for i, v := range x[lo:hi] {
				out[i] = v + zs[i]
			}
		})
		return
	}
	parallelFor(g.workers, a.c, func(ch int) {
		for k := range a.s {
			var v T
			switch a.mode {
			case addScalar:
				v = a.bias.value[0]
			case addPerChannel:
				v = a.bias.value[ch]
			case addPerSample:
				v = a.bias.value[ch*a.s+k]
			}
			off := (ch*a.s + k) * n
			out := y[off : off+n]
			for i, xv := range x[off : off+n] {
				out[i] = xv + v
			}
		}
	})
}

func (a *addOp[T]) backward(g *graph[T]) {
	dy, n := g.grads[a.out], g.n
	for _, in := range []int{a.a, a.b} {
		if in < 0 || !g.slots[in].grad {
			continue
		}
		addGrad(g.workers, g.grads[in], dy, g.claim(in))
	}
	if a.bias == nil {
		return
	}
	// Per-position sums over the samples in order, then reduced the same
	// way.
	sums := make([]T, a.c*a.s)
	parallelFor(g.workers, a.c, func(ch int) {
		for k := range a.s {
			var t T
			for _, v := range dy[(ch*a.s+k)*n : (ch*a.s+k+1)*n] {
				t += v
			}
			sums[ch*a.s+k] = t
		}
	})
	switch a.mode {
	case addPerSample:
		for i, v := range sums {
			a.bias.grad[i] += v
		}
	case addPerChannel:
		for ch := range a.c {
			var t T
			for _, v := range sums[ch*a.s : (ch+1)*a.s] {
				t += v
			}
			a.bias.grad[ch] += t
		}
	case addScalar:
		var t T
		for _, v := range sums {
			t += v
		}
		a.bias.grad[0] += t
	}
}

// poolOp is GlobalAveragePool, or ReduceMean over the spatial axes: the
// mean of each channel of each sample.
type poolOp[T float] struct {
	name    string
	in, out int
	c, s    int // channels and spatial size of the input
}

func (p *poolOp[T]) label() string                       { return p.name }
func (p *poolOp[T]) output() int                         { return p.out }
func (p *poolOp[T]) params() []*param[T]                 { return nil }
func (p *poolOp[T]) buffers() []*buffer[T]               { return nil }
func (p *poolOp[T]) clone(map[*param[T]]*param[T]) op[T] { d := *p; return &d }

// forward sums each channel's positions for all samples at once, position
// after position, then scales: each mean is the same sum in the same order
// as one sample at a time.
func (p *poolOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[p.in], g.vals[p.out], g.n
	inv := 1 / T(p.s)
	parallelFor(g.workers, p.c, func(ch int) {
		out := y[ch*n : (ch+1)*n]
		xc := x[ch*p.s*n : (ch+1)*p.s*n]
		copy(out, xc[:n])
		for k := 1; k < p.s; k++ {
			for i, v := range xc[k*n : (k+1)*n] {
				out[i] += v
			}
		}
		for i := range out {
			out[i] *= inv
		}
	})
}

func (p *poolOp[T]) backward(g *graph[T]) {
	if !g.slots[p.in].grad {
		return
	}
	dy, dx, n := g.grads[p.out], g.grads[p.in], g.n
	set := g.claim(p.in)
	inv := 1 / T(p.s)
	parallelFor(g.workers, p.c, func(ch int) {
		gy := dy[ch*n : (ch+1)*n]
		for k := range p.s {
			row := dx[(ch*p.s+k)*n : (ch*p.s+k+1)*n]
			for i, v := range gy {
				if set {
					row[i] = v * inv
				} else {
					row[i] += v * inv
				}
			}
		}
	})
}

// flattenOp is Flatten, Reshape to [N, D], Squeeze and Identity: per
// sample the values keep their order (C, H, W), and since a tensor is
// stored [C, S, N], the flattened [C·S, N] is the same memory: a copy.
type flattenOp[T float] struct {
	name    string
	in, out int
	c, s    int  // channels and spatial size of the input
	keep    bool // the output has the input's shape (Identity)
}

func (f *flattenOp[T]) label() string                       { return f.name }
func (f *flattenOp[T]) output() int                         { return f.out }
func (f *flattenOp[T]) params() []*param[T]                 { return nil }
func (f *flattenOp[T]) buffers() []*buffer[T]               { return nil }
func (f *flattenOp[T]) clone(map[*param[T]]*param[T]) op[T] { d := *f; return &d }

func (f *flattenOp[T]) forward(g *graph[T]) {
	copy(g.vals[f.out], g.vals[f.in])
}

func (f *flattenOp[T]) backward(g *graph[T]) {
	if !g.slots[f.in].grad {
		return
	}
	addGrad(g.workers, g.grads[f.in], g.grads[f.out], g.claim(f.in))
}

// concatOp is Concat along the channel (feature) axis.
type concatOp[T float] struct {
	name string
	ins  []int
	out  int
}

func (c *concatOp[T]) label() string         { return c.name }
func (c *concatOp[T]) output() int           { return c.out }
func (c *concatOp[T]) params() []*param[T]   { return nil }
func (c *concatOp[T]) buffers() []*buffer[T] { return nil }
func (c *concatOp[T]) clone(map[*param[T]]*param[T]) op[T] {
	d := *c
	d.ins = append([]int(nil), c.ins...)
	return &d
}

func (c *concatOp[T]) forward(g *graph[T]) {
	y := g.vals[c.out]
	off := 0
	for _, in := range c.ins {
		off += copy(y[off:], g.vals[in])
	}
}

func (c *concatOp[T]) backward(g *graph[T]) {
	dy := g.grads[c.out]
	off := 0
	for _, in := range c.ins {
		m := len(g.vals[in])
		if g.slots[in].grad {
			addGrad(1, g.grads[in], dy[off:off+m], g.claim(in))
		}
		off += m
	}
}

// gemmOp is Gemm (transA 0) and MatMul with a constant right-hand side:
// y = alpha·x·op(W) + beta·bias, on vectors.
type gemmOp[T float] struct {
	name        string
	in, out     int
	k, m        int // input and output features
	weight      *param[T]
	transB      bool // weight stored [m, k] (else [k, m])
	bias        *param[T]
	biasScalar  bool
	alpha, beta T
	scaled      []T
}

func (d *gemmOp[T]) label() string         { return d.name }
func (d *gemmOp[T]) output() int           { return d.out }
func (d *gemmOp[T]) buffers() []*buffer[T] { return nil }
func (d *gemmOp[T]) params() []*param[T] {
	if d.bias == nil {
		return []*param[T]{d.weight}
	}
	return []*param[T]{d.weight, d.bias}
}
func (d *gemmOp[T]) clone(ps map[*param[T]]*param[T]) op[T] {
	c := *d
	c.weight = ps[d.weight]
	if d.bias != nil {
		c.bias = ps[d.bias]
	}
	c.scaled = nil
	return &c
}

func (d *gemmOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[d.in], g.vals[d.out], g.n
	if d.transB {
		gemm(false, false, d.m, n, d.k, d.weight.value, d.k, x, n, y, n, false, g.workers)
	} else {
		gemm(true, false, d.m, n, d.k, d.weight.value, d.m, x, n, y, n, false, g.workers)
	}
	for j := range d.m {
		var b T
		if d.bias != nil {
			if d.biasScalar {
				b = d.beta * d.bias.value[0]
			} else {
				b = d.beta * d.bias.value[j]
			}
		}
		row := y[j*n : (j+1)*n]
		for i := range row {
			row[i] = d.alpha*row[i] + b
		}
	}
}

func (d *gemmOp[T]) backward(g *graph[T]) {
	x, dy, n := g.vals[d.in], g.grads[d.out], g.n
	if d.bias != nil {
		for j := range d.m {
			var s T
			for _, v := range dy[j*n : (j+1)*n] {
				s += v
			}
			if d.biasScalar {
				d.bias.grad[0] += d.beta * s
			} else {
				d.bias.grad[j] += d.beta * s
			}
		}
	}
	g2 := dy
	if d.alpha != 1 {
		d.scaled = resize(d.scaled, len(dy))
		for i, v := range dy {
			d.scaled[i] = d.alpha * v
		}
		g2 = d.scaled
	}
	if d.transB {
		gemm(false, true, d.m, d.k, n, g2, n, x, n, d.weight.grad, d.k, true, g.workers)
	} else {
		gemm(false, true, d.k, d.m, n, x, n, g2, n, d.weight.grad, d.m, true, g.workers)
	}
	if !g.slots[d.in].grad {
		return
	}
	dx := g.grads[d.in]
	acc := !g.claim(d.in)
	if d.transB {
		gemm(true, false, d.k, n, d.m, d.weight.value, d.k, g2, n, dx, n, acc, g.workers)
	} else {
		gemm(false, false, d.k, n, d.m, d.weight.value, d.m, g2, n, dx, n, acc, g.workers)
	}
}
