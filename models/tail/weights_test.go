package tail

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/models/onnxgraph"
)

// withEvalWeights returns a copy of tl whose nodes read ws instead of
// their weights, each under a name of its own, as an exporter rewires an
// ONNX graph.
func withEvalWeights(t *testing.T, tl *onnxgraph.Tail, ws []EvalWeight) *onnxgraph.Tail {
	t.Helper()
	out := &onnxgraph.Tail{Input: tl.Input, Frozen: tl.Frozen, Outputs: tl.Outputs, Weights: map[string]*onnxgraph.Tensor{}}
	for _, n := range tl.Nodes {
		n.Inputs = slices.Clone(n.Inputs)
		out.Nodes = append(out.Nodes, n)
	}
	for _, w := range ws {
		i := slices.IndexFunc(out.Nodes, func(n onnxgraph.Node) bool { return n.Output == w.Node })
		if i < 0 {
			t.Fatalf("weight %q of unknown node %q", w.Name, w.Node)
		}
		nd := &out.Nodes[i]
		name := w.Node + "#" + w.Name
		dims := w.Shape
		if w.Name == "" {
			if nd.Op != "Conv" || len(nd.Inputs) != 2 {
				t.Fatalf("new bias for node %q (op %s, inputs %q)", nd.Name, nd.Op, nd.Inputs)
			}
			nd.Inputs = append(nd.Inputs, name)
		} else {
			k := slices.Index(nd.Inputs, w.Name)
			if k < 0 {
				t.Fatalf("node %q does not read %q", nd.Name, w.Name)
			}
			nd.Inputs[k] = name
			dims = tl.Weights[w.Name].Dims
		}
		if prod(dims) != len(w.Value) {
			t.Fatalf("weight %q of node %q: %d values for dims %v", w.Name, w.Node, len(w.Value), dims)
		}
		out.Weights[name] = &onnxgraph.Tensor{Dims: dims, Data: w.Value}
	}
	return out
}

// TestEvalWeights inserts BatchNorms, moves every parameter and running
// statistic as training would, and checks that the tail rebuilt with the
// net's EvalWeights (inserted BatchNorms folded into their convolutions)
// computes what the net computes in eval mode.
func TestEvalWeights(t *testing.T) {
	folded, fs := foldedBlock(rand.New(rand.NewPCG(3, 3)))
	specs := gradSpecs()
	tests := []struct {
		name     string
		tail     func(rng *rand.Rand) (*onnxgraph.Tail, spec)
		inserted int // BatchNorms InsertBatchNorm adds
		newBias  int // convolutions without a bias that get one
	}{
		{"folded block (convs with biases)", func(*rand.Rand) (*onnxgraph.Tail, spec) { return folded, fs }, 3, 0},
		{"block with graph BatchNorms, a conv without bias and a Gemm", func(rng *rand.Rand) (*onnxgraph.Tail, spec) {
			s := specs["inverted residual block"]
			return s.tail(rng), s
		}, 1, 1},
		{"depthwise conv without bias", func(rng *rand.Rand) (*onnxgraph.Tail, spec) {
			s := specs["conv depthwise stride 1 pads 1"]
			return s.tail(rng), s
		}, 1, 1},
		{"add per-channel constant", func(rng *rand.Rand) (*onnxgraph.Tail, spec) {
			s := specs["add per-channel constant"]
			return s.tail(rng), s
		}, 0, 0},
		{"matmul and bias", func(rng *rand.Rand) (*onnxgraph.Tail, spec) {
			s := specs["matmul and bias"]
			return s.tail(rng), s
		}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 5))
			tl, s := tc.tail(rng)
			net, err := New(tl, s.input, s.frozenShapes())
			if err != nil {
				t.Fatal(err)
			}
			const n = 64
			x := randVec(rng, n*prod(s.input))
			var frozen [][]float32
			if s.frozen != nil {
				frozen = [][]float32{randVec(rng, n*prod(s.frozen))}
			}
			rep, err := net.InsertBatchNorm(x, frozen, n, BatchNormOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Inserted != tc.inserted {
				t.Fatalf("%d BatchNorms inserted, want %d", rep.Inserted, tc.inserted)
			}
			// What training does: every parameter and statistic moves.
			for _, p := range net.Params() {
				for i := range p.Value {
					p.Value[i] *= float32(1 + 0.3*rng.NormFloat64())
				}
			}
			for _, b := range net.Buffers() {
				for i := range b.Value {
					b.Value[i] *= float32(0.5 + rng.Float64())
				}
			}
			want, err := net.Forward(x, frozen, n, false)
			if err != nil {
				t.Fatal(err)
			}
			ws := net.EvalWeights()
			newBias := 0
			for _, w := range ws {
				if w.Name == "" {
					newBias++
				}
				if strings.Contains(w.Name, "/bn.") {
					t.Errorf("inserted BatchNorm parameter %q returned", w.Name)
				}
			}
			if newBias != tc.newBias {
				t.Errorf("%d new biases, want %d", newBias, tc.newBias)
			}
			rebuilt, err := New(withEvalWeights(t, tl, ws), s.input, s.frozenShapes())
			if err != nil {
				t.Fatal(err)
			}
			got, err := rebuilt.Forward(x, frozen, n, false)
			if err != nil {
				t.Fatal(err)
			}
			for k := range want {
				e := maxRelDiff(got[k], want[k])
				t.Logf("output %d: rebuilt tail vs net in eval mode: %.2g (relative)", k, e)
				if e > 1e-5 {
					t.Errorf("output %d: the tail with EvalWeights differs from the net by %.3g (relative)", k, e)
				}
			}
		})
	}
}

func TestNetNamesAndDigest(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	tl, s := foldedBlock(rng)
	net, err := New(tl, s.input, s.frozenShapes())
	if err != nil {
		t.Fatal(err)
	}
	if net.InputName() != "x" || !slices.Equal(net.FrozenNames(), []string{"f"}) || !slices.Equal(net.OutputNames(), []string{"cat"}) {
		t.Errorf("names: input %q frozen %q outputs %q", net.InputName(), net.FrozenNames(), net.OutputNames())
	}
	const n = 16
	if _, err := net.InsertBatchNorm(randVec(rng, n*prod(s.input)), [][]float32{randVec(rng, n*3)}, n, BatchNormOptions{}); err != nil {
		t.Fatal(err)
	}
	c := net.Clone()
	if d := tl.Digest(); net.Digest() != d || c.Digest() != d {
		t.Errorf("digests %q (net), %q (clone), want the tail's %q", net.Digest(), c.Digest(), d)
	}
}
