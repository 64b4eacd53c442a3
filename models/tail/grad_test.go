package tail

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/models/onnxgraph"
)

// spec is a hand-made tail for tests: input "x" (and optionally a frozen
// vector "f"), nodes, weights filled with random values by shape.
type spec struct {
	input   []int
	frozen  []int // per-sample shape of the frozen input "f", or nil
	nodes   []onnxgraph.Node
	weights map[string][]int
	outputs []string
}

func (s spec) tail(rng *rand.Rand) *onnxgraph.Tail {
	t := &onnxgraph.Tail{Input: "x", Outputs: s.outputs, Nodes: s.nodes, Weights: map[string]*onnxgraph.Tensor{}}
	if s.frozen != nil {
		t.Frozen = []string{"f"}
	}
	names := make([]string, 0, len(s.weights))
	for name := range s.weights {
		names = append(names, name)
	}
	slices.Sort(names) // map order must not decide the random values
	for _, name := range names {
		dims := s.weights[name]
		w := &onnxgraph.Tensor{Dims: dims, Data: make([]float32, prod(dims))}
		for i := range w.Data {
			w.Data[i] = float32(rng.NormFloat64() * 0.5)
			if len(name) > 4 && name[len(name)-4:] == ".var" {
				w.Data[i] = float32(0.5 + rng.Float64())
			}
		}
		t.Weights[name] = w
	}
	return t
}

func (s spec) frozenShapes() [][]int {
	if s.frozen == nil {
		return nil
	}
	return [][]int{s.frozen}
}

func conv(name, in string, kernel, strides [2]int, pads [4]int, group int, bias bool) onnxgraph.Node {
	n := onnxgraph.Node{Name: name, Op: "Conv", Inputs: []string{in, name + ".w"}, Output: name, Kernel: kernel, Strides: strides, Pads: pads, Group: group}
	if bias {
		n.Inputs = append(n.Inputs, name+".b")
	}
	return n
}

func node(op, name string, ins ...string) onnxgraph.Node {
	n := onnxgraph.Node{Name: name, Op: op, Inputs: ins, Output: name}
	if op == "Flatten" {
		n.Axis = 1
	}
	return n
}

func bn(name, in string) onnxgraph.Node {
	return onnxgraph.Node{Name: name, Op: "BatchNormalization", Inputs: []string{in, name + ".scale", name + ".bias", name + ".mean", name + ".var"}, Output: name, Epsilon: 1e-3}
}

func bnWeights(w map[string][]int, name string, c int) {
	for _, s := range []string{".scale", ".bias", ".mean", ".var"} {
		w[name+s] = []int{c}
	}
}

// gradSpecs are the layer kinds (and one whole block) that the gradient
// checks cover.
func gradSpecs() map[string]spec {
	clip := func(name, in string, lo, hi float32) onnxgraph.Node {
		n := node("Clip", name, in)
		n.Min, n.Max = lo, hi
		return n
	}
	specs := map[string]spec{
		"conv 1x1 pointwise": {input: []int{4, 3, 3}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{1, 1}, [2]int{1, 1}, [4]int{}, 1, true)},
			weights: map[string][]int{"c.w": {5, 4, 1, 1}, "c.b": {5}}, outputs: []string{"c"}},
		"conv 3x3 pads 1": {input: []int{3, 5, 4}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, 1, true)},
			weights: map[string][]int{"c.w": {4, 3, 3, 3}, "c.b": {4}}, outputs: []string{"c"}},
		"conv depthwise stride 2 pads 0,0,1,1": {input: []int{3, 6, 6}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{3, 3}, [2]int{2, 2}, [4]int{0, 0, 1, 1}, 3, true)},
			weights: map[string][]int{"c.w": {3, 1, 3, 3}, "c.b": {3}}, outputs: []string{"c"}},
		"conv depthwise stride 1 pads 1": {input: []int{2, 4, 5}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, 2, false)},
			weights: map[string][]int{"c.w": {2, 1, 3, 3}}, outputs: []string{"c"}},
		"conv 2 groups stride 2 asymmetric pads": {input: []int{4, 5, 6}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{3, 3}, [2]int{2, 2}, [4]int{1, 0, 0, 1}, 2, true)},
			weights: map[string][]int{"c.w": {6, 2, 3, 3}, "c.b": {6}}, outputs: []string{"c"}},
		"conv 2x3 kernel strides 2,1 no bias": {input: []int{2, 5, 5}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{2, 3}, [2]int{2, 1}, [4]int{0, 1, 1, 2}, 1, false)},
			weights: map[string][]int{"c.w": {3, 2, 2, 3}}, outputs: []string{"c"}},
		"conv depth multiplier 2": {input: []int{2, 4, 4}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}, 2, true)},
			weights: map[string][]int{"c.w": {4, 1, 3, 3}, "c.b": {4}}, outputs: []string{"c"}},
		"conv 1x1 stride 2": {input: []int{3, 5, 5}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{1, 1}, [2]int{2, 2}, [4]int{}, 1, true)},
			weights: map[string][]int{"c.w": {2, 3, 1, 1}, "c.b": {2}}, outputs: []string{"c"}},
		"batchnorm train mode": {input: []int{3, 4, 4}, nodes: []onnxgraph.Node{bn("b", "x")},
			weights: map[string][]int{"b.scale": {3}, "b.bias": {3}, "b.mean": {3}, "b.var": {3}}, outputs: []string{"b"}},
		"batchnorm on vectors": {input: []int{5}, nodes: []onnxgraph.Node{bn("b", "x")},
			weights: map[string][]int{"b.scale": {5}, "b.bias": {5}, "b.mean": {5}, "b.var": {5}}, outputs: []string{"b"}},
		"clip relu6": {input: []int{3, 4, 4}, nodes: []onnxgraph.Node{clip("r", "x", 0, 0.6)}, outputs: []string{"r"}},
		"relu":       {input: []int{3, 4, 4}, nodes: []onnxgraph.Node{node("Relu", "r", "x")}, outputs: []string{"r"}},
		"add tensors": {input: []int{3, 3, 3}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{1, 1}, [2]int{1, 1}, [4]int{}, 1, false), node("Add", "a", "x", "c")},
			weights: map[string][]int{"c.w": {3, 3, 1, 1}}, outputs: []string{"a"}},
		"add per-channel constant": {input: []int{3, 2, 2}, nodes: []onnxgraph.Node{node("Add", "a", "k", "x")},
			weights: map[string][]int{"k": {1, 3, 1, 1}}, outputs: []string{"a"}},
		"add scalar constant": {input: []int{4}, nodes: []onnxgraph.Node{node("Add", "a", "x", "k")},
			weights: map[string][]int{"k": {}}, outputs: []string{"a"}},
		"add per-sample constant": {input: []int{2, 2, 3}, nodes: []onnxgraph.Node{node("Add", "a", "x", "k")},
			weights: map[string][]int{"k": {2, 2, 3}}, outputs: []string{"a"}},
		"global pool and flatten": {input: []int{3, 3, 4}, nodes: []onnxgraph.Node{node("GlobalAveragePool", "p", "x"), node("Flatten", "f", "p")},
			outputs: []string{"f"}},
		"reduce mean": {input: []int{3, 3, 4}, nodes: []onnxgraph.Node{{Name: "m", Op: "ReduceMean", Inputs: []string{"x"}, Output: "m", Axes: []int{2, 3}}},
			outputs: []string{"m"}},
		"flatten spatial": {input: []int{2, 3, 2}, nodes: []onnxgraph.Node{{Name: "f", Op: "Flatten", Inputs: []string{"x"}, Output: "f", Axis: 1}},
			outputs: []string{"f"}},
		"concat feature maps": {input: []int{2, 3, 3}, nodes: []onnxgraph.Node{conv("c", "x", [2]int{1, 1}, [2]int{1, 1}, [4]int{}, 1, false),
			{Name: "k", Op: "Concat", Inputs: []string{"c", "x", "c"}, Output: "k", Axis: 1}},
			weights: map[string][]int{"c.w": {3, 2, 1, 1}}, outputs: []string{"k"}},
		"gemm transB alpha beta": {input: []int{4}, nodes: []onnxgraph.Node{{Name: "g", Op: "Gemm", Inputs: []string{"x", "g.w", "g.b"}, Output: "g",
			Alpha: 0.5, Beta: 2, TransB: true}}, weights: map[string][]int{"g.w": {3, 4}, "g.b": {3}}, outputs: []string{"g"}},
		"gemm scalar bias": {input: []int{4}, nodes: []onnxgraph.Node{{Name: "g", Op: "Gemm", Inputs: []string{"x", "g.w", "g.b"}, Output: "g",
			Alpha: 1, Beta: 1}}, weights: map[string][]int{"g.w": {4, 3}, "g.b": {1}}, outputs: []string{"g"}},
		"matmul and bias": {input: []int{4}, nodes: []onnxgraph.Node{{Name: "m", Op: "MatMul", Inputs: []string{"x", "m.w"}, Output: "m", Alpha: 1, Beta: 1},
			node("Add", "a", "m", "a.b")}, weights: map[string][]int{"m.w": {4, 5}, "a.b": {5}}, outputs: []string{"a"}},
	}
	// A whole inverted-residual block with BatchNorms, the pooled output
	// concatenated with a frozen vector, and a Gemm head: two outputs.
	w := map[string][]int{"e.w": {8, 4, 1, 1}, "e.b": {8}, "d.w": {8, 1, 3, 3}, "d.b": {8}, "p.w": {4, 8, 1, 1}, "p.b": {4}, "h.w": {3, 6}, "h.b": {3}}
	bnWeights(w, "eb", 8)
	bnWeights(w, "db", 8)
	bnWeights(w, "pb", 4)
	specs["inverted residual block"] = spec{input: []int{4, 5, 5}, frozen: []int{2}, weights: w, outputs: []string{"cat", "h"},
		nodes: []onnxgraph.Node{
			conv("e", "x", [2]int{1, 1}, [2]int{1, 1}, [4]int{}, 1, true), bn("eb", "e"), clip("er", "eb", 0, 0.6),
			conv("d", "er", [2]int{3, 3}, [2]int{2, 2}, [4]int{0, 0, 1, 1}, 8, true), bn("db", "d"), clip("dr", "db", 0, 0.6),
			conv("p", "dr", [2]int{1, 1}, [2]int{1, 1}, [4]int{}, 1, true), bn("pb", "p"),
			conv("p2", "pb", [2]int{1, 1}, [2]int{1, 1}, [4]int{}, 1, false), node("Add", "res", "pb", "p2"),
			node("GlobalAveragePool", "gp", "res"), node("Flatten", "fl", "gp"),
			{Name: "cat", Op: "Concat", Inputs: []string{"f", "fl"}, Output: "cat", Axis: 1},
			{Name: "h", Op: "Gemm", Inputs: []string{"cat", "h.w", "h.b"}, Output: "h", Alpha: 1, Beta: 1, TransB: true},
		}}
	specs["inverted residual block"].weights["p2.w"] = []int{4, 4, 1, 1}
	return specs
}

// checker computes a fixed random projection of a float64 network's
// outputs and its gradients.
type checker struct {
	g    *graph[float64]
	n    int
	ins  map[int][]float64 // channel-major values of the input slots
	proj [][]float64       // one random weight per output value
}

func newChecker(t *testing.T, s spec, n int, seed uint64) *checker {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	g, err := build[float64](s.tail(rng), s.input, s.frozenShapes())
	if err != nil {
		t.Fatal(err)
	}
	g.slots[g.input].grad = true // check the input gradient too
	c := &checker{g: g, n: n, ins: map[int][]float64{}}
	for _, si := range append([]int{g.input}, g.frozen...) {
		v := make([]float64, n*g.slots[si].size())
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		c.ins[si] = v
	}
	for _, o := range g.outputs {
		p := make([]float64, n*g.slots[o].size())
		for i := range p {
			p[i] = rng.NormFloat64()
		}
		c.proj = append(c.proj, p)
	}
	return c
}

func (c *checker) loss() float64 {
	g := c.g
	g.alloc(c.n, true)
	for si, v := range c.ins {
		copy(g.vals[si], v)
	}
	g.run()
	var l float64
	for k, o := range g.outputs {
		for i, v := range g.vals[o] {
			l += c.proj[k][i] * v
		}
	}
	return l
}

// analytic returns the backward gradients of the parameters and inputs.
func (c *checker) analytic() (map[string][]float64, map[int][]float64) {
	g := c.g
	for _, p := range g.params() {
		clear(p.grad)
	}
	c.loss()
	g.zeroSlotGrads()
	for k, o := range g.outputs {
		for i, v := range c.proj[k] {
			g.grads[o][i] += v
		}
	}
	g.back()
	ps := map[string][]float64{}
	for _, p := range g.params() {
		ps[p.name] = append([]float64(nil), p.grad...)
	}
	return ps, map[int][]float64{g.input: append([]float64(nil), g.grads[g.input]...)}
}

// numeric returns the central difference of the loss along v[i].
func (c *checker) numeric(v []float64, i int) float64 {
	const h = 1e-6
	old := v[i]
	v[i] = old + h
	lp := c.loss()
	v[i] = old - h
	lm := c.loss()
	v[i] = old
	return (lp - lm) / (2 * h)
}

// TestGradients checks every parameter's and the input's gradient against
// central differences in float64, element by element:
// |analytic - numeric| <= 1e-5·max(|analytic|, |numeric|) + 1e-7, where
// the gradients are O(1) (the loss is a random projection of the outputs). A wrong gradient (a missing term of BatchNorm's backward, a
// transposed kernel, a wrong pad offset) is off by far more.
func TestGradients(t *testing.T) {
	const tol = 1e-5
	for name, s := range gradSpecs() {
		t.Run(name, func(t *testing.T) {
			c := newChecker(t, s, 3, 7)
			ps, ins := c.analytic()
			worst := 0.0
			check := func(what string, vals []float64, grad []float64) {
				for i := range vals {
					num := c.numeric(vals, i)
					big := math.Max(math.Abs(grad[i]), math.Abs(num))
					diff := math.Abs(grad[i] - num)
					// Below atol, both are rounding noise (the loss is O(1) and
					// the step 1e-6, so a difference carries ~1e-10 of noise):
					// conv biases in front of a train-mode BatchNorm have a true
					// gradient of zero.
					const atol = 1e-7
					if diff > tol*big+atol {
						t.Errorf("%s[%d]: analytic %.9g, numeric %.9g (relative error %.2g)", what, i, grad[i], num, diff/big)
						return
					}
					if big > 1e-4 {
						worst = math.Max(worst, diff/big)
					}
				}
			}
			for _, p := range c.g.params() {
				check("param "+p.name, p.value, ps[p.name])
			}
			for si, g := range ins {
				check("input "+c.g.slots[si].name, c.ins[si], g)
			}
			t.Logf("%s: worst relative error %.2g (elements above 1e-4)", name, worst)
		})
	}
}
