package tail

// clipOp is Clip (ReLU6 as Clip(0, 6)) and Relu (Clip(0, +Inf)).
// Gradients pass where lo < x < hi, as PyTorch's hardtanh and relu do.
type clipOp[T float] struct {
	name    string
	in, out int
	lo, hi  T
}

func (c *clipOp[T]) label() string                       { return c.name }
func (c *clipOp[T]) params() []*param[T]                 { return nil }
func (c *clipOp[T]) buffers() []*buffer[T]               { return nil }
func (c *clipOp[T]) clone(map[*param[T]]*param[T]) op[T] { d := *c; return &d }

func (c *clipOp[T]) forward(g *graph[T]) {
	x, y := g.vals[c.in], g.vals[c.out]
	chunks(g.workers, len(x), func(lo, hi int) {
		lo32, hi32 := c.lo, c.hi
		out := y[lo:hi]
		for i, v := range x[lo:hi] {
			if v < lo32 {
				v = lo32
			} else if v > hi32 {
				v = hi32
			}
			out[i] = v
		}
	})
}

func (c *clipOp[T]) backward(g *graph[T]) {
	if !g.slots[c.in].grad {
		return
	}
	x, dy, dx := g.vals[c.in], g.grads[c.out], g.grads[c.in]
	chunks(g.workers, len(x), func(lo, hi int) {
		for i, v := range x[lo:hi] {
			if v > c.lo && v < c.hi {
				dx[lo+i] += dy[lo+i]
			}
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

func (a *addOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[a.a], g.vals[a.out], g.n
	if a.mode == addTensors {
		z := g.vals[a.b]
		chunks(g.workers, len(y), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				y[i] = x[i] + z[i]
			}
		})
		return
	}
	parallelFor(g.workers, a.c, func(ch int) {
		for s := range n {
			off := (ch*n + s) * a.s
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
				y[off+k] = x[off+k] + v
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
		dx := g.grads[in]
		chunks(g.workers, len(dy), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dx[i] += dy[i]
			}
		})
	}
	if a.bias == nil {
		return
	}
	// Per-channel sums in a fixed order, then reduced the same way.
	sums := make([]T, a.c*a.s)
	parallelFor(g.workers, a.c, func(ch int) {
		for s := range n {
			for k, v := range dy[(ch*n+s)*a.s : (ch*n+s+1)*a.s] {
				sums[ch*a.s+k] += v
			}
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
func (p *poolOp[T]) params() []*param[T]                 { return nil }
func (p *poolOp[T]) buffers() []*buffer[T]               { return nil }
func (p *poolOp[T]) clone(map[*param[T]]*param[T]) op[T] { d := *p; return &d }

func (p *poolOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[p.in], g.vals[p.out], g.n
	inv := 1 / T(p.s)
	parallelFor(g.workers, p.c, func(ch int) {
		for s := range n {
			var acc T
			for _, v := range x[(ch*n+s)*p.s : (ch*n+s+1)*p.s] {
				acc += v
			}
			y[ch*n+s] = acc * inv
		}
	})
}

func (p *poolOp[T]) backward(g *graph[T]) {
	if !g.slots[p.in].grad {
		return
	}
	dy, dx, n := g.grads[p.out], g.grads[p.in], g.n
	inv := 1 / T(p.s)
	parallelFor(g.workers, p.c, func(ch int) {
		for s := range n {
			v := dy[ch*n+s] * inv
			row := dx[(ch*n+s)*p.s : (ch*n+s+1)*p.s]
			for k := range row {
				row[k] += v
			}
		}
	})
}

// flattenOp is Flatten, Reshape to [N, D], Squeeze and Identity: per
// sample the values keep their order (C, H, W); channel-major storage
// turns that into a transposition [C, N, S] -> [C·S, N] (a plain copy
// when S is 1 or the op keeps the shape).
type flattenOp[T float] struct {
	name    string
	in, out int
	c, s    int  // channels and spatial size of the input
	keep    bool // the output has the input's shape (Identity)
}

func (f *flattenOp[T]) label() string                       { return f.name }
func (f *flattenOp[T]) params() []*param[T]                 { return nil }
func (f *flattenOp[T]) buffers() []*buffer[T]               { return nil }
func (f *flattenOp[T]) clone(map[*param[T]]*param[T]) op[T] { d := *f; return &d }

func (f *flattenOp[T]) forward(g *graph[T]) {
	x, y, n := g.vals[f.in], g.vals[f.out], g.n
	if f.keep || f.s == 1 {
		copy(y, x)
		return
	}
	parallelFor(g.workers, f.c, func(ch int) {
		for s := range n {
			for k, v := range x[(ch*n+s)*f.s : (ch*n+s+1)*f.s] {
				y[(ch*f.s+k)*n+s] = v
			}
		}
	})
}

func (f *flattenOp[T]) backward(g *graph[T]) {
	if !g.slots[f.in].grad {
		return
	}
	dy, dx, n := g.grads[f.out], g.grads[f.in], g.n
	if f.keep || f.s == 1 {
		chunks(g.workers, len(dy), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dx[i] += dy[i]
			}
		})
		return
	}
	parallelFor(g.workers, f.c, func(ch int) {
		for s := range n {
			row := dx[(ch*n+s)*f.s : (ch*n+s+1)*f.s]
			for k := range row {
				row[k] += dy[(ch*f.s+k)*n+s]
			}
		}
	})
}

// concatOp is Concat along the channel (feature) axis.
type concatOp[T float] struct {
	name string
	ins  []int
	out  int
}

func (c *concatOp[T]) label() string         { return c.name }
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
			dx := g.grads[in]
			for i, v := range dy[off : off+m] {
				dx[i] += v
			}
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
	if d.transB {
		gemm(true, false, d.k, n, d.m, d.weight.value, d.k, g2, n, dx, n, true, g.workers)
	} else {
		gemm(false, false, d.k, n, d.m, d.weight.value, d.m, g2, n, dx, n, true, g.workers)
	}
}
