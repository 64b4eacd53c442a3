package tail

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asvp-dev/asvp/models/onnxgraph"
)

// Net is a float32 network built from an onnxgraph.Tail. See the package
// doc for layouts and determinism. It is not safe for concurrent use.
type Net struct {
	g      *graph[float32]
	digest string // of the onnxgraph.Tail the net was built from
}

// Param is one trainable tensor of a Net. Value and Grad alias the net's
// memory: writing Value changes the net.
type Param struct {
	Name  string // the ONNX initializer's name, or NODE/bn.scale and NODE/bn.shift for inserted BatchNorms
	Shape []int
	Value []float32
	Grad  []float32
	// Decay says whether weight decay applies: to convolution, Gemm and
	// MatMul weights and biases, not to BatchNorm scales and shifts.
	Decay bool
}

// Buffer is a BatchNorm running statistic (mean or variance): saved with
// the weights, updated by training Forwards, not trained. Value aliases
// the net's memory.
type Buffer struct {
	Name  string
	Value []float32
}

// New builds the network of tail t. input is the per-sample shape of the
// cut tensor, (C, H, W) or (D); frozen holds the per-sample shapes of
// t.Frozen, in order. Weights are copied from t. The net uses GOMAXPROCS
// workers; see SetWorkers.
func New(t *onnxgraph.Tail, input []int, frozen [][]int) (*Net, error) {
	g, err := build[float32](t, input, frozen)
	if err != nil {
		return nil, err
	}
	g.workers = runtime.GOMAXPROCS(0)
	return &Net{g: g, digest: t.Digest()}, nil
}

// SetWorkers sets how many goroutines the net's operators use (at least
// 1). The results do not depend on it.
func (n *Net) SetWorkers(w int) { n.g.workers = max(1, w) }

// Clone returns a deep copy of the net: same structure, its own weights,
// buffers and gradients.
func (n *Net) Clone() *Net { return &Net{g: n.g.clone(), digest: n.digest} }

// InputShape returns the per-sample shape of the cut tensor.
func (n *Net) InputShape() []int { return slices.Clone(n.g.slots[n.g.input].dims) }

// FrozenShapes returns the per-sample shapes of the frozen inputs.
func (n *Net) FrozenShapes() [][]int {
	var s [][]int
	for _, f := range n.g.frozen {
		s = append(s, slices.Clone(n.g.slots[f].dims))
	}
	return s
}

// OutputDims returns the number of values per sample of each output.
func (n *Net) OutputDims() []int {
	var d []int
	for _, o := range n.g.outputs {
		d = append(d, n.g.slots[o].size())
	}
	return d
}

// Params returns the trainable tensors in a fixed order (the order of the
// operators that read them).
func (n *Net) Params() []*Param {
	var ps []*Param
	for _, p := range n.g.params() {
		ps = append(ps, &Param{Name: p.name, Shape: slices.Clone(p.shape), Value: p.value, Grad: p.grad, Decay: p.decay && !p.norm})
	}
	return ps
}

// Buffers returns the BatchNorm running statistics in a fixed order.
func (n *Net) Buffers() []*Buffer {
	var bs []*Buffer
	for _, b := range n.g.buffers() {
		bs = append(bs, &Buffer{Name: b.name, Value: b.value})
	}
	return bs
}

// ZeroGrad sets every parameter gradient to zero.
func (n *Net) ZeroGrad() {
	ps := n.g.params()
	parallelFor(n.g.workers, len(ps), func(i int) { clear(ps[i].grad) })
}

// evalRows is the number of samples an eval-mode Forward runs at a time:
// the activations of a few dozen samples stay in cache from one operator
// to the next, those of hundreds do not. Eval-mode outputs do not depend
// on it (a sample's outputs do not depend on its batch-mates).
const evalRows = 64

// Forward computes the outputs of rows samples: x holds the cut
// activations (rows × the input shape, NCHW), frozen one row-major batch
// per frozen input. It returns one row-major [rows, dim] slice per output,
// owned by the caller. With train set, BatchNorms use and update batch
// statistics and the net keeps what Backward needs; otherwise it is
// inference, and a sample's outputs do not depend on its batch-mates.
func (n *Net) Forward(x []float32, frozen [][]float32, rows int, train bool) ([][]float32, error) {
	step := rows
	if !train {
		step = evalRows
	}
	return n.g.forward(x, frozen, rows, train, step)
}

// forward runs rows samples step at a time (all of them in one pass when
// training) and returns the outputs as Forward does. After a single pass,
// g holds its state (Backward and InsertBatchNorm read it); several eval
// passes run on peers when there are several workers.
func (g *graph[T]) forward(x []float32, frozen [][]float32, rows int, train bool, step int) ([][]float32, error) {
	if rows <= 0 {
		return nil, fmt.Errorf("tail: forward of %d rows", rows)
	}
	if err := g.checkInputs(x, frozen, rows); err != nil {
		return nil, err
	}
	if train {
		step = rows
	}
	step = max(1, min(step, rows))
	out := make([][]float32, len(g.outputs))
	for k, o := range g.outputs {
		out[k] = make([]float32, rows*g.slots[o].size())
	}
	chunks := (rows + step - 1) / step
	if train || chunks == 1 || g.workers <= 1 {
		for lo := 0; lo < rows; lo += step {
			g.pass(x, frozen, rows, lo, min(lo+step, rows), train, out)
		}
		return out, nil
	}
	// Eval over several chunks: each worker runs whole chunks on a peer,
	// on one goroutine, rather than every operator being split over the
	// workers (no barrier per operator, a chunk's activations stay in one
	// core's cache). Outputs of a sample do not depend on which ran it.
	g.plan()
	g.train = false // g's own state is not this pass's: no Backward after it
	for len(g.peers) < min(g.workers, chunks) {
		g.peers = append(g.peers, g.peer())
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func(p *graph[T]) {
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			p.pass(x, frozen, rows, c*step, min((c+1)*step, rows), false, out)
		}
	}
	peers := g.peers[:min(g.workers, chunks)]
	for _, p := range peers[1:] {
		wg.Go(func() { work(p) })
	}
	work(peers[0]) // the calling goroutine runs the first peer
	wg.Wait()
	return out, nil
}

// pass runs samples [lo, hi) of checked inputs and writes their outputs to
// rows [lo, hi) of out.
func (g *graph[T]) pass(x []float32, frozen [][]float32, rows, lo, hi int, train bool, out [][]float32) {
	g.alloc(hi-lo, train)
	g.setInputs(x, frozen, rows, lo, hi)
	g.run()
	for k, o := range g.outputs {
		s := g.slots[o]
		fromChannelMajor(out[k][lo*s.size():hi*s.size()], g.vals[o], hi-lo, s.channels(), s.spatial(), g.workers)
	}
}

// Backward takes the loss gradient with respect to each output of the last
// training Forward (row-major like the outputs; nil for an output the loss
// does not read) and adds the gradients of the parameters to their Grad.
func (n *Net) Backward(grads [][]float32) error {
	g := n.g
	if !g.train {
		return fmt.Errorf("tail: Backward without a training Forward")
	}
	if len(grads) != len(g.outputs) {
		return fmt.Errorf("tail: %d output gradients for %d outputs", len(grads), len(g.outputs))
	}
	for k, o := range g.outputs {
		if grads[k] != nil && len(grads[k]) != g.n*g.slots[o].size() {
			s := g.slots[o]
			return fmt.Errorf("tail: gradient of output %q has %d values, want %d", s.name, len(grads[k]), g.n*s.size())
		}
	}
	clear(g.written)
	for k, o := range g.outputs {
		if grads[k] == nil {
			continue
		}
		s := g.slots[o]
		if g.claim(o) {
			toChannelMajor(g.grads[o], grads[k], g.n, s.channels(), s.spatial(), g.workers)
		} else {
			addChannelMajor(g.grads[o], grads[k], g.n, s.channels(), s.spatial(), g.workers)
		}
	}
	g.back()
	return nil
}
