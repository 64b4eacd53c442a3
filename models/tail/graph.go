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
}

// graph is the generic network behind Net.
type graph[T float] struct {
	slots   []slot
	input   int
	frozen  []int
	outputs []int
	ops     []op[T]
	workers int

	// State of the last forward pass.
	n     int
	train bool
	vals  [][]T
	grads [][]T
}

// alloc sizes the value (and, when training, gradient) buffers for a batch
// of n samples, reusing memory.
func (g *graph[T]) alloc(n int, train bool) {
	if len(g.vals) != len(g.slots) {
		g.vals = make([][]T, len(g.slots))
		g.grads = make([][]T, len(g.slots))
	}
	for i, s := range g.slots {
		g.vals[i] = resize(g.vals[i], s.size()*n)
		if train && s.grad {
			g.grads[i] = resize(g.grads[i], s.size()*n)
		}
	}
	g.n, g.train = n, train
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

// back runs every op backward, after zeroing the gradients of the slots
// and adding the output gradients (channel-major) set by the caller in
// g.grads. It does not zero the parameters' gradients.
func (g *graph[T]) back() {
	if !g.train {
		panic("tail: Backward without a training Forward")
	}
	for i := len(g.ops) - 1; i >= 0; i-- {
		g.ops[i].backward(g)
	}
}

// zeroSlotGrads clears the slot gradients before the caller adds the
// output gradients.
func (g *graph[T]) zeroSlotGrads() {
	for i, s := range g.slots {
		if s.grad {
			clear(g.grads[i])
		}
	}
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

// addSlot appends a slot and returns its index.
func (g *graph[T]) addSlot(name string, dims []int, grad bool) int {
	g.slots = append(g.slots, slot{name: name, dims: slices.Clone(dims), grad: grad})
	return len(g.slots) - 1
}

// toChannelMajor copies a row-major batch src ([n, c, s]) into dst
// ([c, n, s]).
func toChannelMajor[T float](dst []T, src []float32, n, c, s int) {
	for i := range n {
		for ch := range c {
			d := dst[(ch*n+i)*s : (ch*n+i+1)*s]
			for k, v := range src[(i*c+ch)*s : (i*c+ch+1)*s] {
				d[k] = T(v)
			}
		}
	}
}

// fromChannelMajor copies a channel-major batch src ([c, n, s]) into
// row-major dst ([n, c, s]).
func fromChannelMajor[T float](dst []float32, src []T, n, c, s int) {
	for ch := range c {
		for i := range n {
			d := dst[(i*c+ch)*s : (i*c+ch+1)*s]
			for k, v := range src[(ch*n+i)*s : (ch*n+i+1)*s] {
				d[k] = float32(v)
			}
		}
	}
}

// setInputs fills the input slots from row-major batches.
func (g *graph[T]) setInputs(x []float32, frozen [][]float32, n int) error {
	if len(frozen) != len(g.frozen) {
		return fmt.Errorf("tail: %d frozen inputs given, the net has %d", len(frozen), len(g.frozen))
	}
	ins := append([]int{g.input}, g.frozen...)
	data := append([][]float32{x}, frozen...)
	for k, si := range ins {
		s := g.slots[si]
		if len(data[k]) != n*s.size() {
			return fmt.Errorf("tail: input %q has %d values, want %d for %d samples of %v", s.name, len(data[k]), n*s.size(), n, s.dims)
		}
	}
	for k, si := range ins {
		s := g.slots[si]
		toChannelMajor(g.vals[si], data[k], n, s.channels(), s.spatial())
	}
	return nil
}
