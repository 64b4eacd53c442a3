package tail

import (
	"fmt"
	"math"
	"slices"

	"github.com/asvp-dev/asvp/models/onnxgraph"
)

// build makes the generic network of a tail. input is the per-sample
// shape of the cut tensor, (C, H, W) or (D); frozen the per-sample shapes
// of the tail's frozen inputs, in order.
func build[T float](t *onnxgraph.Tail, input []int, frozen [][]int) (*graph[T], error) {
	if len(frozen) != len(t.Frozen) {
		return nil, fmt.Errorf("tail: %d frozen input shapes for %d frozen inputs", len(frozen), len(t.Frozen))
	}
	g := &graph[T]{workers: 1}
	slotOf := map[string]int{}
	addInput := func(name string, dims []int) error {
		if len(dims) != 1 && len(dims) != 3 || slices.ContainsFunc(dims, func(d int) bool { return d <= 0 }) {
			return fmt.Errorf("tail: input %q has per-sample shape %v, want (C, H, W) or (D) with positive sizes", name, dims)
		}
		slotOf[name] = g.addSlot(name, dims, false)
		return nil
	}
	if err := addInput(t.Input, input); err != nil {
		return nil, err
	}
	g.input = slotOf[t.Input]
	for i, name := range t.Frozen {
		if err := addInput(name, frozen[i]); err != nil {
			return nil, err
		}
		g.frozen = append(g.frozen, slotOf[name])
	}
	params := map[string]*param[T]{}
	for _, nd := range t.Nodes {
		o, dims, err := buildOp(g, nd, t.Weights, slotOf, params)
		if err != nil {
			return nil, err
		}
		g.ops = append(g.ops, o)
		if _, dup := slotOf[nd.Output]; dup {
			return nil, fmt.Errorf("tail: tensor %q computed twice", nd.Output)
		}
		slotOf[nd.Output] = len(g.slots) - 1
		_ = dims
	}
	for _, name := range t.Outputs {
		s, ok := slotOf[name]
		if !ok {
			return nil, fmt.Errorf("tail: output %q is not computed by the tail", name)
		}
		g.outputs = append(g.outputs, s)
	}
	return g, nil
}

// buildOp makes the op of one node and appends the slot of its output.
func buildOp[T float](g *graph[T], nd onnxgraph.Node, weights map[string]*onnxgraph.Tensor, slotOf map[string]int, params map[string]*param[T]) (op[T], []int, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("tail: node %q (op %s): "+format, append([]any{nd.Name, nd.Op}, a...)...)
	}
	weight := func(name string, decay bool) (*param[T], error) {
		if p, ok := params[name]; ok {
			return p, nil
		}
		w, ok := weights[name]
		if !ok {
			return nil, fail("weight %q missing", name)
		}
		p := newParam[T](name, decay, w.Dims...)
		if len(p.shape) == 0 {
			p = newParam[T](name, decay, 1)
		}
		for i, v := range w.Data {
			p.value[i] = T(v)
		}
		params[name] = p
		return p, nil
	}
	input := func(i int) (int, slot, error) {
		if i >= len(nd.Inputs) {
			return 0, slot{}, fail("missing input %d", i)
		}
		s, ok := slotOf[nd.Inputs[i]]
		if !ok {
			return 0, slot{}, fail("input %q is computed after it or not at all", nd.Inputs[i])
		}
		return s, g.slots[s], nil
	}
	out := len(g.slots)
	add := func(o op[T], dims []int) (op[T], []int, error) {
		g.addSlot(nd.Output, dims, true)
		return o, dims, nil
	}
	in, x, err := input(0)
	if err != nil && nd.Op != "Add" && nd.Op != "Concat" {
		return nil, nil, err
	}
	switch nd.Op {
	case "Conv":
		if len(x.dims) != 3 {
			return nil, nil, fail("input of per-sample shape %v, want (C, H, W)", x.dims)
		}
		w, err := weight(nd.Inputs[1], true)
		if err != nil {
			return nil, nil, err
		}
		var b *param[T]
		if len(nd.Inputs) > 2 && nd.Inputs[2] != "" {
			if b, err = weight(nd.Inputs[2], true); err != nil {
				return nil, nil, err
			}
		}
		c, dims, err := newConv(nd.Name, in, out, x.dims, w, b, nd.Kernel, nd.Strides, nd.Pads, nd.Group)
		if err != nil {
			return nil, nil, err
		}
		return add(c, dims)
	case "BatchNormalization":
		c := x.channels()
		ps := make([]*param[T], 4)
		for i := range ps {
			if ps[i], err = weight(nd.Inputs[i+1], false); err != nil {
				return nil, nil, err
			}
			if len(ps[i].value) != c {
				return nil, nil, fail("parameter %q has %d values for %d channels", ps[i].name, len(ps[i].value), c)
			}
		}
		// Mean and variance are running statistics, not trained.
		delete(params, nd.Inputs[3])
		delete(params, nd.Inputs[4])
		mean := &buffer[T]{name: nd.Inputs[3], value: ps[2].value}
		variance := &buffer[T]{name: nd.Inputs[4], value: ps[3].value}
		return add(newBN(nd.Name, in, out, c, ps[0], ps[1], mean, variance, float64(nd.Epsilon)), x.dims)
	case "Relu":
		return add(&clipOp[T]{name: nd.Name, in: in, out: out, lo: 0, hi: T(math.Inf(1))}, x.dims)
	case "Clip":
		if nd.Min > nd.Max {
			return nil, nil, fail("min %g above max %g", nd.Min, nd.Max)
		}
		return add(&clipOp[T]{name: nd.Name, in: in, out: out, lo: T(nd.Min), hi: T(nd.Max)}, x.dims)
	case "Identity":
		return add(&flattenOp[T]{name: nd.Name, in: in, out: out, c: x.channels(), s: x.spatial(), keep: true}, x.dims)
	case "GlobalAveragePool":
		if len(x.dims) != 3 {
			return nil, nil, fail("input of per-sample shape %v, want (C, H, W)", x.dims)
		}
		return add(&poolOp[T]{name: nd.Name, in: in, out: out, c: x.channels(), s: x.spatial()}, []int{x.channels(), 1, 1})
	case "ReduceMean":
		if len(x.dims) != 3 || !spatialAxes(nd.Axes, 4) {
			return nil, nil, fail("mean over axes %v of a tensor of per-sample shape %v: only the spatial axes (2, 3) are supported", nd.Axes, x.dims)
		}
		dims := []int{x.channels()}
		if nd.KeepDims {
			dims = []int{x.channels(), 1, 1}
		}
		return add(&poolOp[T]{name: nd.Name, in: in, out: out, c: x.channels(), s: x.spatial()}, dims)
	case "Flatten":
		if nd.Axis != 1 && !(nd.Axis == -len(x.dims) && nd.Axis != 0) {
			return nil, nil, fail("axis %d: only flattening to [N, D] (axis 1) is supported", nd.Axis)
		}
		return add(&flattenOp[T]{name: nd.Name, in: in, out: out, c: x.channels(), s: x.spatial()}, []int{x.size()})
	case "Reshape":
		if len(nd.Shape) != 2 || (nd.Shape[0] != 0 && nd.Shape[0] != -1) || (nd.Shape[1] != -1 && nd.Shape[1] != x.size()) ||
			(nd.Shape[0] == -1 && nd.Shape[1] == -1) {
			return nil, nil, fail("shape %v: only a reshape to [N, D] (shape [0, -1], [-1, D] or [0, D]) is supported", nd.Shape)
		}
		return add(&flattenOp[T]{name: nd.Name, in: in, out: out, c: x.channels(), s: x.spatial()}, []int{x.size()})
	case "Squeeze":
		if len(x.dims) != 3 || x.spatial() != 1 || !spatialAxes(nd.Axes, 4) {
			return nil, nil, fail("axes %v of per-sample shape %v: only squeezing a 1×1 spatial size is supported", nd.Axes, x.dims)
		}
		return add(&flattenOp[T]{name: nd.Name, in: in, out: out, c: x.channels(), s: 1}, []int{x.channels()})
	case "Concat":
		var ins []int
		var first slot
		total := 0
		for i := range nd.Inputs {
			s, sl, err := input(i)
			if err != nil {
				return nil, nil, err
			}
			if i == 0 {
				first = sl
			}
			rank := len(sl.dims) + 1
			if ax := nd.Axis; ax != 1 && ax != 1-rank {
				return nil, nil, fail("axis %d: only concatenation along the channels (axis 1) is supported", ax)
			}
			if len(sl.dims) != len(first.dims) || !slices.Equal(sl.dims[1:], first.dims[1:]) {
				return nil, nil, fail("input %q of shape %v does not match %v", nd.Inputs[i], sl.dims, first.dims)
			}
			ins = append(ins, s)
			total += sl.channels()
		}
		dims := append([]int{total}, first.dims[1:]...)
		return add(&concatOp[T]{name: nd.Name, ins: ins, out: out}, dims)
	case "Add":
		var run []int
		var cname string
		for _, name := range nd.Inputs {
			if s, ok := slotOf[name]; ok {
				run = append(run, s)
			} else if _, ok := weights[name]; ok {
				cname = name
			} else {
				return nil, nil, fail("input %q is computed after it or not at all", name)
			}
		}
		if len(run) == 2 {
			a, b := g.slots[run[0]], g.slots[run[1]]
			if !slices.Equal(a.dims, b.dims) {
				return nil, nil, fail("operands of shapes %v and %v: broadcasting two run-time tensors is not supported", a.dims, b.dims)
			}
			return add(&addOp[T]{name: nd.Name, a: run[0], b: run[1], out: out, mode: addTensors, c: a.channels(), s: a.spatial()}, a.dims)
		}
		if len(run) != 1 || cname == "" {
			return nil, nil, fail("needs one or two run-time operands")
		}
		xs := g.slots[run[0]]
		b, err := weight(cname, true)
		if err != nil {
			return nil, nil, err
		}
		mode, ok := broadcastMode(weights[cname].Dims, xs.dims)
		if !ok {
			return nil, nil, fail("constant %q of shape %v does not broadcast per channel onto per-sample shape %v", cname, weights[cname].Dims, xs.dims)
		}
		return add(&addOp[T]{name: nd.Name, a: run[0], b: -1, out: out, bias: b, mode: mode, c: xs.channels(), s: xs.spatial()}, xs.dims)
	case "Gemm", "MatMul":
		if len(x.dims) != 1 {
			return nil, nil, fail("input of per-sample shape %v: only [N, D] inputs are supported", x.dims)
		}
		w, err := weight(nd.Inputs[1], true)
		if err != nil {
			return nil, nil, err
		}
		d := &gemmOp[T]{name: nd.Name, in: in, out: out, k: x.size(), weight: w, transB: nd.TransB, alpha: T(nd.Alpha), beta: T(nd.Beta)}
		if d.transB {
			d.m = w.shape[0]
			if w.shape[1] != d.k {
				return nil, nil, fail("weight %v does not take %d features", w.shape, d.k)
			}
		} else {
			d.m = w.shape[1]
			if w.shape[0] != d.k {
				return nil, nil, fail("weight %v does not take %d features", w.shape, d.k)
			}
		}
		if len(nd.Inputs) > 2 && nd.Inputs[2] != "" {
			if d.bias, err = weight(nd.Inputs[2], true); err != nil {
				return nil, nil, err
			}
			switch n := len(d.bias.value); {
			case n == 1:
				d.biasScalar = true
			case n == d.m && prod(weights[nd.Inputs[2]].Dims) == d.m && len(weights[nd.Inputs[2]].Dims) <= 2 &&
				(len(weights[nd.Inputs[2]].Dims) < 2 || weights[nd.Inputs[2]].Dims[0] == 1):
			default:
				return nil, nil, fail("bias of shape %v for %d outputs", weights[nd.Inputs[2]].Dims, d.m)
			}
		}
		return add(d, []int{d.m})
	}
	return nil, nil, fail("operator not supported by the Go tail")
}

// spatialAxes says whether axes (of a rank-4 NCHW tensor) are exactly the
// two spatial ones.
func spatialAxes(axes []int, rank int) bool {
	if len(axes) != 2 {
		return false
	}
	seen := map[int]bool{}
	for _, a := range axes {
		if a < 0 {
			a += rank
		}
		seen[a] = true
	}
	return seen[2] && seen[3]
}

// broadcastMode says how a constant of dims c adds onto a tensor of
// per-sample dims x ([N] prepended): one value, one per channel, or one
// per element of a sample.
func broadcastMode(c, x []int) (addMode, bool) {
	for len(c) > 0 && c[0] == 1 && len(c) > len(x) {
		c = c[1:] // a leading batch axis of 1
	}
	if prod(c) == 1 {
		return addScalar, true
	}
	if slices.Equal(c, x) {
		return addPerSample, true
	}
	// Per channel: c is (C) for a vector, or (C, 1, 1) for a (C, H, W) tensor.
	if len(c) == len(x) && c[0] == x[0] && prod(c[1:]) == 1 {
		return addPerChannel, true
	}
	return 0, false
}
