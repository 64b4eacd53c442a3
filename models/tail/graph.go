package tail

import (
	"fmt"
	"slices"
)

// slot is one tensor of the network: its per-sample dims, (C, H, W) or
// (D), and whether Backward computes its gradient.
type slot struct {
	name string
	dims []int
	grad bool
	dead bool // set by plan: no op reads or writes it (its op was fused away)
}

func (s slot) channels() int { return s.dims[0] }

// spatial is the number of values per channel and sample (H·W, or 1).
func (s slot) spatial() int { return prod(s.dims[1:]) }

// size is the number of values per sample.
func (s slot) size() int { return prod(s.dims) }

func prod(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}

// param is one trainable tensor in the generic network.
type param[T float] struct {
	name        string
	shape       []int
	value, grad []T
	decay       bool
	norm        bool // a BatchNorm scale or shift
}

func newParam[T float](name string, decay bool, shape ...int) *param[T] {
	n := prod(shape)
	return &param[T]{name: name, shape: slices.Clone(shape), value: make([]T, n), grad: make([]T, n), decay: decay}
}

func (p *param[T]) clone() *param[T] {
	c := *p
	c.shape = slices.Clone(p.shape)
	c.value = slices.Clone(p.value)
	c.grad = make([]T, len(p.grad))
	return &c
}

// buffer is a BatchNorm running statistic.
type buffer[T float] struct {
	name  string
	value []T
}

// op is one operator. forward reads g.vals of its inputs and writes its
// output's; backward reads its output's g.grads and adds to the gradients
// of its inputs (those whose slot has grad set) and of its parameters.
type op[T float] interface {
	label() string
	forward(g *graph[T])
	backward(g *graph[T])
	params() []*param[T]
	buffers() []*buffer[T]
	// clone returns a copy with its own parameters and buffers; ps maps
	// the original parameters to their copies, so shared ones stay shared.
	clone(ps map[*param[T]]*param[T]) op[T]
	// output is the slot the op writes, or -1 when plan fused it into
	// another op and it does nothing.
	output() int
}

// graph is the generic network behind Net.
type graph[T float] struct {
	slots   []slot
	input   int
	frozen  []int
	outputs []int
	ops     []op[T]
	workers int

	planned bool // plan has run on ops as they are

	// peers are single-goroutine copies of the graph that share its
	// parameters and buffers (not its state), for eval passes spread over
	// the workers a chunk of samples each; built for ops as they are.
	peers []*graph[T]

	// State of the last forward pass.
	n     int
	train bool
	vals  [][]T
	grads [][]T
	// written says, during a backward pass, which slot gradients hold a
	// value: the first op to add to a slot's gradient sets it instead
	// (claim), so gradients need no zeroing beforehand.
	written []bool
}

// alloc sizes the value (and, when training, gradient) buffers for a batch
// of n samples, reusing memory.
func (g *graph[T]) alloc(n int, train bool) {
	g.plan()
	if len(g.vals) != len(g.slots) {
		g.vals = make([][]T, len(g.slots))
		g.grads = make([][]T, len(g.slots))
		g.written = make([]bool, len(g.slots))
	}
	for i, s := range g.slots {
		if s.dead {
			g.vals[i], g.grads[i] = nil, nil
			continue
		}
		g.vals[i] = resize(g.vals[i], s.size()*n)
		if train && s.grad {
			g.grads[i] = resize(g.grads[i], s.size()*n)
		}
	}
	g.n, g.train = n, train
}

// plan fuses each BatchNorm with the Clip that is the only reader of its
// output (not itself an output of the net): the BatchNorm then writes the
// Clip's output and takes the Clip's gradient, and the Clip and the slot
// between them are dropped. When a BatchNorm is the only reader of a
// convolution's output (not an output of the net either), the BatchNorm
// adds the convolution's bias instead of the convolution (1×1 and im2col
// convolutions): that spares a pass that writes the bias and the
// product's reading it back; or, after a depthwise convolution, the
// convolution applies the BatchNorm (and Clip) in eval mode as it stores
// its outputs, sparing a pass over them. The operators still compute what
// they computed apart, with the same roundings.
func (g *graph[T]) plan() {
	if g.planned {
		return
	}
	g.planned = true
	g.vals, g.grads, g.written, g.peers = nil, nil, nil, nil
	readers := make([][]op[T], len(g.slots))
	writer := make([]op[T], len(g.slots))
	for _, o := range g.ops {
		switch v := o.(type) {
		case *bnOp[T]:
			v.clip, v.convBias, v.inConv = nil, nil, false
		case *clipOp[T]:
			v.fused = false
		case *convOp[T]:
			v.biasInBN, v.evalBN = false, nil
		}
		writer[o.output()] = o
		for _, in := range opInputs(o) {
			readers[in] = append(readers[in], o)
		}
	}
	for i := range g.slots {
		g.slots[i].dead = false
	}
	for _, o := range g.ops {
		b, ok := o.(*bnOp[T])
		if !ok {
			continue
		}
		if c, ok := writer[b.in].(*convOp[T]); ok && len(readers[b.in]) == 1 && !slices.Contains(g.outputs, b.in) {
			switch {
			case c.kind == convDepthwise:
				c.evalBN, b.inConv = b, true
			case c.bias != nil:
				c.biasInBN, b.convBias = true, c.bias
			}
		}
		if len(readers[b.out]) != 1 || slices.Contains(g.outputs, b.out) {
			continue
		}
		c, ok := readers[b.out][0].(*clipOp[T])
		if !ok {
			continue
		}
		b.clip, c.fused = c, true
		g.slots[b.out].dead = true
	}
}

func resize[T float](b []T, n int) []T {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}

// run runs every op forward; the input slots must be filled.
func (g *graph[T]) run() {
	for _, o := range g.ops {
		o.forward(g)
	}
}

// back runs every op backward, after the caller has set the output
// gradients (channel-major) in g.grads and marked them in g.written (see
// zeroSlotGrads and Net.Backward). It does not zero the parameters'
// gradients.
func (g *graph[T]) back() {
	if !g.train {
		panic("tail: Backward without a training Forward")
	}
	for i := len(g.ops) - 1; i >= 0; i-- {
		o := g.ops[i]
		out := o.output()
		if out < 0 {
			continue
		}
		if !g.written[out] {
			// Nothing reads this op's output: its gradient is zero.
			clear(g.grads[out])
			g.written[out] = true
		}
		o.backward(g)
	}
}

// zeroSlotGrads clears the slot gradients and marks them written, so that
// the caller can add the output gradients and every op adds to its
// inputs' gradients.
func (g *graph[T]) zeroSlotGrads() {
	for i, s := range g.slots {
		if s.grad && !s.dead {
			clear(g.grads[i])
			g.written[i] = true
		}
	}
}

// claim reports whether an op that is about to add to slot s's gradient
// is the first to do so in this backward pass, and should set it instead
// (it holds garbage). It marks the gradient written.
func (g *graph[T]) claim(s int) bool {
	first := !g.written[s]
	g.written[s] = true
	return first
}

func (g *graph[T]) params() []*param[T] {
	var ps []*param[T]
	seen := map[*param[T]]bool{}
	for _, o := range g.ops {
		for _, p := range o.params() {
			if !seen[p] {
				seen[p] = true
				ps = append(ps, p)
			}
		}
	}
	return ps
}

func (g *graph[T]) buffers() []*buffer[T] {
	var bs []*buffer[T]
	for _, o := range g.ops {
		bs = append(bs, o.buffers()...)
	}
	return bs
}

func (g *graph[T]) clone() *graph[T] {
	c := &graph[T]{
		slots: slices.Clone(g.slots), input: g.input, frozen: slices.Clone(g.frozen),
		outputs: slices.Clone(g.outputs), workers: g.workers,
	}
	ps := map[*param[T]]*param[T]{}
	for _, p := range g.params() {
		ps[p] = p.clone()
	}
	for _, o := range g.ops {
		c.ops = append(c.ops, o.clone(ps))
	}
	return c
}

// peer returns a copy of the graph that runs on one goroutine and shares
// g's parameters and BatchNorm buffers (their memory, so it sees every
// update), with state and scratch of its own.
func (g *graph[T]) peer() *graph[T] {
	c := &graph[T]{
		slots: slices.Clone(g.slots), input: g.input, frozen: slices.Clone(g.frozen),
		outputs: slices.Clone(g.outputs), workers: 1,
	}
	ps := map[*param[T]]*param[T]{}
	for _, p := range g.params() {
		ps[p] = p
	}
	for _, o := range g.ops {
		d := o.clone(ps)
		if b, ok := d.(*bnOp[T]); ok {
			b.mean, b.varnc = o.(*bnOp[T]).mean, o.(*bnOp[T]).varnc
		}
		c.ops = append(c.ops, d)
	}
	return c
}

// addSlot appends a slot and returns its index.
func (g *graph[T]) addSlot(name string, dims []int, grad bool) int {
	g.slots = append(g.slots, slot{name: name, dims: slices.Clone(dims), grad: grad})
	g.planned = false
	return len(g.slots) - 1
}

// toChannelMajor copies a row-major batch src ([n, c, s]) into dst, where
// it is [c, s, n]: the transpose of the n × (c·s) matrix.
func toChannelMajor[T float](dst []T, src []float32, n, c, s, workers int) {
	transpose(dst, src, n, c*s, false, workers)
}

// fromChannelMajor copies a channel-major batch src ([c, s, n]) into
// row-major dst ([n, c, s]).
func fromChannelMajor[T float](dst []float32, src []T, n, c, s, workers int) {
	transpose(dst, src, c*s, n, false, workers)
}

// addChannelMajor adds a row-major batch src ([n, c, s]) into dst
// ([c, s, n]).
func addChannelMajor[T float](dst []T, src []float32, n, c, s, workers int) {
	transpose(dst, src, n, c*s, true, workers)
}

// transpose sets (or with add, adds to) dst, a cols × rows matrix, the
// transpose of src, rows × cols, converting the elements, in blocks of
// 32×32, a band of 32 columns of src per task.
func transpose[D, S float](dst []D, src []S, rows, cols int, add bool, workers int) {
	const b = 32
	if rows*cols < 1<<14 {
		workers = 1
	}
	parallelFor(workers, (cols+b-1)/b, func(jb int) {
		j0, j1 := jb*b, min(jb*b+b, cols)
		for i0 := 0; i0 < rows; i0 += b {
			i1 := min(i0+b, rows)
			for j := j0; j < j1; j++ {
				d := dst[j*rows+i0 : j*rows+i1]
				if add {
					for k := range d {
						d[k] += D(src[(i0+k)*cols+j])
					}
				} else {
					for k := range d {
						d[k] = D(src[(i0+k)*cols+j])
					}
				}
			}
		}
	})
}

// checkInputs checks that x and frozen hold rows samples of the input
// shapes.
func (g *graph[T]) checkInputs(x []float32, frozen [][]float32, rows int) error {
	if len(frozen) != len(g.frozen) {
		return fmt.Errorf("tail: %d frozen inputs given, the net has %d", len(frozen), len(g.frozen))
	}
	ins := append([]int{g.input}, g.frozen...)
	data := append([][]float32{x}, frozen...)
	for k, si := range ins {
		s := g.slots[si]
		if len(data[k]) != rows*s.size() {
			return fmt.Errorf("tail: input %q has %d values, want %d for %d samples of %v", s.name, len(data[k]), rows*s.size(), rows, s.dims)
		}
	}
	return nil
}

// setInputs fills the input slots with samples [lo, hi) of the checked
// row-major batches x and frozen.
func (g *graph[T]) setInputs(x []float32, frozen [][]float32, rows, lo, hi int) {
	ins := append([]int{g.input}, g.frozen...)
	data := append([][]float32{x}, frozen...)
	for k, si := range ins {
		s := g.slots[si]
		toChannelMajor(g.vals[si], data[k][lo*s.size():hi*s.size()], hi-lo, s.channels(), s.spatial(), g.workers)
	}
}
