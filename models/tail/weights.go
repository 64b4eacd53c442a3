package tail

import (
	"math"
	"slices"
)

// Digest returns the onnxgraph.Tail.Digest of the tail the net was built
// from. Clone, InsertBatchNorm and training keep it: it names where the
// net came from, not its current weights.
func (n *Net) Digest() string { return n.digest }

// InputName returns the name of the cut tensor (onnxgraph.Tail.Input).
func (n *Net) InputName() string { return n.g.slots[n.g.input].name }

// FrozenNames returns the names of the frozen inputs
// (onnxgraph.Tail.Frozen), in order.
func (n *Net) FrozenNames() []string {
	var s []string
	for _, f := range n.g.frozen {
		s = append(s, n.g.slots[f].name)
	}
	return s
}

// OutputNames returns the names of the outputs (onnxgraph.Tail.Outputs),
// in the order Forward returns them.
func (n *Net) OutputNames() []string {
	var s []string
	for _, o := range n.g.outputs {
		s = append(s, n.g.slots[o].name)
	}
	return s
}

// EvalWeight is one weight of a node of the tail, as the net applies it in
// eval mode.
type EvalWeight struct {
	// Node is the node that reads the weight, named by its output tensor
	// (onnxgraph.Node.Output), which unlike a node's name is unique.
	Node string
	// Name is the node input the weight replaces: its name in
	// onnxgraph.Tail.Weights. It is "" for the bias of a convolution that
	// has none in the graph and gets one from a folded BatchNorm.
	Name string
	// Shape is the weight's shape in the net: the tail's dims, or [1] for
	// a scalar.
	Shape []int
	// Value holds the weight, row-major; it is a copy.
	Value []float32
}

// EvalWeights returns the weights of every node of the tail that reads
// some, in node order, as the net computes with them in eval mode, so that
// the graph the net was built from, with each node's weights replaced by
// these, computes what Forward computes in eval mode, up to float32
// rounding.
//
// A BatchNorm that InsertBatchNorm added exists only in the net: in eval
// mode it is the per-channel affine map y ↦ a·y + b (a = γ/√(σ²+ε),
// b = β - μ·a, from its current scale, shift and running statistics), so
// it is folded into the convolution before it, whose weights become a·W
// (per output channel) and its bias a·bias + b (b alone when the
// convolution has no bias: that is the entry with Name ""). The
// BatchNormalization nodes of the graph itself keep their place and get
// their trained scale and shift and their running mean and variance. Add
// constants and Gemm and MatMul weights and biases are returned as they
// are.
func (n *Net) EvalWeights() []EvalWeight {
	g := n.g
	// The inserted BatchNorm that reads each slot, if any.
	after := map[int]*bnOp[float32]{}
	for _, o := range g.ops {
		if b, ok := o.(*bnOp[float32]); ok && b.inserted {
			after[b.in] = b
		}
	}
	plain := func(node string, p *param[float32]) EvalWeight {
		return EvalWeight{Node: node, Name: p.name, Shape: slices.Clone(p.shape), Value: slices.Clone(p.value)}
	}
	var out []EvalWeight
	for _, o := range g.ops {
		switch v := o.(type) {
		case *convOp[float32]:
			b, folded := after[v.out]
			if !folded {
				out = append(out, plain(g.slots[v.out].name, v.weight))
				if v.bias != nil {
					out = append(out, plain(g.slots[v.out].name, v.bias))
				}
				continue
			}
			node := g.slots[b.out].name
			w := plain(node, v.weight)
			bias := EvalWeight{Node: node, Shape: []int{v.cout}, Value: make([]float32, v.cout)}
			if v.bias != nil {
				bias.Name = v.bias.name
				bias.Shape = slices.Clone(v.bias.shape)
			}
			per := len(w.Value) / v.cout
			for ch := range v.cout {
				a := float64(b.scale.value[ch]) / math.Sqrt(float64(b.varnc.value[ch])+b.eps)
				shift := float64(b.shift.value[ch]) - float64(b.mean.value[ch])*a
				row := w.Value[ch*per : (ch+1)*per]
				for i, x := range row {
					row[i] = float32(float64(x) * a)
				}
				var c float64
				if v.bias != nil {
					c = float64(v.bias.value[ch])
				}
				bias.Value[ch] = float32(c*a + shift)
			}
			out = append(out, w, bias)
		case *bnOp[float32]:
			if v.inserted {
				continue // folded into its convolution above
			}
			node := g.slots[v.out].name
			out = append(out, plain(node, v.scale), plain(node, v.shift),
				EvalWeight{Node: node, Name: v.mean.name, Shape: []int{len(v.mean.value)}, Value: slices.Clone(v.mean.value)},
				EvalWeight{Node: node, Name: v.varnc.name, Shape: []int{len(v.varnc.value)}, Value: slices.Clone(v.varnc.value)})
		case *addOp[float32]:
			if v.bias != nil {
				out = append(out, plain(g.slots[v.out].name, v.bias))
			}
		case *gemmOp[float32]:
			out = append(out, plain(g.slots[v.out].name, v.weight))
			if v.bias != nil {
				out = append(out, plain(g.slots[v.out].name, v.bias))
			}
		}
	}
	return out
}
