package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/models/onnxpb"
)

// Output names of an exported model.
const (
	// ProbsOutput is the [N, classes] softmax output.
	ProbsOutput = "probs"
	// FeaturesOutput is the [N, dim] aligned-feature output.
	FeaturesOutput = "features"
)

// prefix names every tensor and node the exporter adds, so none collides
// with a backbone name.
const prefix = "asvp_head/"

// ErrBadBackbone means the backbone bytes are not an ONNX model, or it has
// no usable output of the requested name and the net's dimension.
var ErrBadBackbone = errors.New("export: unusable backbone model")

// Options says which backbone output feeds the net and what to record.
type Options struct {
	// Output is the backbone output, a [N, Dim] float tensor, that the net
	// was trained on. Required by Build; BuildTuned takes it from the
	// fine-tune and only checks it when set.
	Output string
	// Metadata is added to the model's metadata_props. The backbone's own
	// entries are kept under the key prefix "backbone.".
	Metadata map[string]string
}

// Build returns the serialized ONNX model backbone (serialized ONNX bytes)
// followed by the net whose parameters are w: standardisation, adapter,
// head and softmax, fed by backbone output opts.Output. The inputs are not
// modified.
//
// With x the backbone output and z = (x - Mean) / Std:
//
//	branch   = W2·ReLU(W1·z + B1) + B2
//	features = x + Std ⊙ branch
//	probs    = softmax(HeadW·(z + branch) + HeadB)
//
// which is what nn.Net.Embed and nn.Net.Predict compute (in float32 here,
// float64 there).
func Build(backbone []byte, w nn.Weights, opts Options) ([]byte, error) {
	if err := checkWeights(w); err != nil {
		return nil, err
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(backbone, &m); err != nil {
		return nil, fmt.Errorf("%w: not an ONNX model: %v", ErrBadBackbone, err)
	}
	g := m.GetGraph()
	if g == nil || len(g.Node) == 0 {
		return nil, fmt.Errorf("%w: the model has no graph", ErrBadBackbone)
	}
	if opts.Output == "" {
		return nil, fmt.Errorf("%w: no backbone output named", ErrBadBackbone)
	}
	oi := slices.IndexFunc(g.Output, func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == opts.Output })
	if oi < 0 {
		names := make([]string, len(g.Output))
		for i, v := range g.Output {
			names[i] = v.GetName()
		}
		return nil, fmt.Errorf("%w: no output %q (outputs: %s)", ErrBadBackbone, opts.Output, strings.Join(names, ", "))
	}
	batchDim, err := checkOutput(g.Output[oi], w.Dim)
	if err != nil {
		return nil, err
	}
	for _, in := range g.Input {
		if n := in.GetName(); n == ProbsOutput || n == FeaturesOutput {
			return nil, fmt.Errorf("%w: graph input %q clashes with an output of the exported model", ErrBadBackbone, n)
		}
	}
	prune(g, opts.Output)
	x := opts.Output
	if x == ProbsOutput || x == FeaturesOutput {
		x = "backbone/" + x
	}
	renameTensors(g, map[string]string{ProbsOutput: "backbone/" + ProbsOutput, FeaturesOutput: "backbone/" + FeaturesOutput})

	b := builder{g: g}
	d, h, c := int64(w.Dim), int64(w.Hidden), int64(w.Classes)
	mean := b.init("mean", []int64{d}, w.Mean)
	std := b.init("std", []int64{d}, w.Std)
	w1 := b.init("adapter.fc1.weight_t", []int64{d, h}, transpose(w.W1, w.Hidden, w.Dim))
	b1 := b.init("adapter.fc1.bias", []int64{h}, w.B1)
	w2 := b.init("adapter.fc2.weight_t", []int64{h, d}, transpose(w.W2, w.Dim, w.Hidden))
	b2 := b.init("adapter.fc2.bias", []int64{d}, w.B2)
	hw := b.init("head.weight_t", []int64{d, c}, transpose(w.HeadW, w.Classes, w.Dim))
	hb := b.init("head.bias", []int64{c}, w.HeadB)

	centred := b.node("Sub", "centred", x, mean)
	z := b.node("Div", "z", centred, std)
	pre1 := b.node("Add", "fc1", b.node("MatMul", "fc1_matmul", z, w1), b1)
	act := b.node("Relu", "relu", pre1)
	branch := b.node("Add", "fc2", b.node("MatMul", "fc2_matmul", act, w2), b2)
	scaled := b.node("Mul", "branch_scaled", branch, std)
	b.nodeTo("Add", FeaturesOutput, []string{x, scaled})
	adapted := b.node("Add", "adapted", z, branch)
	logits := b.node("Add", "logits", b.node("MatMul", "head_matmul", adapted, hw), hb)
	b.nodeTo("Softmax", ProbsOutput, []string{logits}, &onnxpb.AttributeProto{Name: "axis", Type: onnxpb.AttributeProto_INT, I: 1})

	g.Output = []*onnxpb.ValueInfoProto{
		valueInfo(FeaturesOutput, batchDim, d),
		valueInfo(ProbsOutput, batchDim, c),
	}
	var meta []*onnxpb.StringStringEntryProto
	for _, e := range m.MetadataProps {
		meta = append(meta, &onnxpb.StringStringEntryProto{Key: "backbone." + e.GetKey(), Value: e.GetValue()})
	}
	keys := make([]string, 0, len(opts.Metadata))
	for k := range opts.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		meta = append(meta, &onnxpb.StringStringEntryProto{Key: k, Value: opts.Metadata[k]})
	}
	meta = append(meta, &onnxpb.StringStringEntryProto{Key: "asvp.backbone_output", Value: opts.Output})
	m.MetadataProps = meta
	m.DocString = strings.TrimSpace(m.DocString + "\nwith an asvp adapter and head on output " + opts.Output)
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("export: marshal onnx: %w", err)
	}
	return out, nil
}

// checkWeights rejects weights whose slices do not match their shape, a
// programmer error in the caller, reported as an error because the weights
// usually come from a file.
func checkWeights(w nn.Weights) error {
	d, h, c := w.Dim, w.Hidden, w.Classes
	if d <= 0 || h <= 0 || c <= 0 {
		return fmt.Errorf("export: net shape dim=%d hidden=%d classes=%d", d, h, c)
	}
	for _, t := range []struct {
		name string
		v    []float32
		n    int
	}{{"mean", w.Mean, d}, {"std", w.Std, d}, {"W1", w.W1, h * d}, {"B1", w.B1, h}, {"W2", w.W2, d * h},
		{"B2", w.B2, d}, {"HeadW", w.HeadW, c * d}, {"HeadB", w.HeadB, c}} {
		if len(t.v) != t.n {
			return fmt.Errorf("export: net %s has %d values, want %d", t.name, len(t.v), t.n)
		}
	}
	return nil
}

// checkOutput checks that an output is a float tensor of [N, dim] (unknown
// sizes pass) and returns its batch dimension.
func checkOutput(v *onnxpb.ValueInfoProto, dim int) (*onnxpb.TensorShapeProto_Dimension, error) {
	batch := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return batch, nil
	}
	if et := tt.GetElemType(); et != 0 && et != int32(onnxpb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("%w: output %q has element type %d, want float32", ErrBadBackbone, v.GetName(), et)
	}
	sh := tt.GetShape()
	if sh == nil {
		return batch, nil
	}
	if len(sh.Dim) != 2 {
		return nil, fmt.Errorf("%w: output %q has rank %d, want [N, %d]", ErrBadBackbone, v.GetName(), len(sh.Dim), dim)
	}
	if dv, ok := sh.Dim[1].GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && dv.DimValue != int64(dim) {
		return nil, fmt.Errorf("%w: output %q has %d values per sample, the net takes %d", ErrBadBackbone, v.GetName(), dv.DimValue, dim)
	}
	if sh.Dim[0].GetValue() != nil {
		batch = proto.Clone(sh.Dim[0]).(*onnxpb.TensorShapeProto_Dimension)
	}
	return batch, nil
}

// prune keeps only the nodes, initializers and value infos that output
// needs. Nodes stay in their (topological) order.
func prune(g *onnxpb.GraphProto, output string) {
	producer := map[string]int{}
	for i, n := range g.Node {
		for _, o := range n.Output {
			producer[o] = i
		}
	}
	need := map[string]bool{}
	keep := make([]bool, len(g.Node))
	stack := []string{output}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if need[t] {
			continue
		}
		need[t] = true
		i, ok := producer[t]
		if !ok || keep[i] {
			continue
		}
		keep[i] = true
		stack = append(stack, nodeInputs(g.Node[i])...)
	}
	var nodes []*onnxpb.NodeProto
	for i, n := range g.Node {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Node = nodes
	wasInit := map[string]bool{}
	for _, t := range g.Initializer {
		wasInit[t.GetName()] = true
	}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnxpb.TensorProto) bool { return !need[t.GetName()] })
	g.SparseInitializer = slices.DeleteFunc(g.SparseInitializer, func(t *onnxpb.SparseTensorProto) bool {
		return !need[t.GetValues().GetName()]
	})
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnxpb.ValueInfoProto) bool { return !need[v.GetName()] })
	// Old IR versions list initializers among the inputs: drop the unused
	// ones. Real inputs stay, so the model's interface is unchanged.
	g.Input = slices.DeleteFunc(g.Input, func(v *onnxpb.ValueInfoProto) bool {
		return wasInit[v.GetName()] && !need[v.GetName()]
	})
}

// nodeInputs lists the tensors a node reads, including those that its
// subgraphs (If, Loop, Scan bodies) read from the enclosing scope.
func nodeInputs(n *onnxpb.NodeProto) []string {
	var out []string
	for _, in := range n.Input {
		if in != "" {
			out = append(out, in)
		}
	}
	for _, a := range n.Attribute {
		graphs := a.Graphs
		if a.G != nil {
			graphs = append(graphs, a.G)
		}
		for _, sg := range graphs {
			for _, sn := range sg.Node {
				out = append(out, nodeInputs(sn)...)
			}
		}
	}
	return out
}

// renameTensors renames tensors of g (node inputs and outputs, including
// subgraph references, initializers, value infos and outputs) by names.
func renameTensors(g *onnxpb.GraphProto, names map[string]string) {
	r := func(s string) string {
		if to, ok := names[s]; ok {
			return to
		}
		return s
	}
	for _, n := range g.Node {
		for i := range n.Input {
			n.Input[i] = r(n.Input[i])
		}
		for i := range n.Output {
			n.Output[i] = r(n.Output[i])
		}
		for _, a := range n.Attribute {
			graphs := a.Graphs
			if a.G != nil {
				graphs = append(graphs, a.G)
			}
			for _, sg := range graphs {
				renameTensors(sg, names)
			}
		}
	}
	for _, t := range g.Initializer {
		t.Name = r(t.Name)
	}
	for _, v := range g.ValueInfo {
		v.Name = r(v.Name)
	}
	for _, v := range g.Output {
		v.Name = r(v.Name)
	}
}

// builder appends the head's initializers and nodes to a graph.
type builder struct{ g *onnxpb.GraphProto }

func (b *builder) init(name string, dims []int64, data []float32) string {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{
		Name: prefix + name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw,
	})
	return prefix + name
}

// node adds op reading inputs into a new tensor named after the node.
func (b *builder) node(op, name string, inputs ...string) string {
	b.nodeTo(op, prefix+name, inputs)
	return prefix + name
}

func (b *builder) nodeTo(op, out string, inputs []string, attrs ...*onnxpb.AttributeProto) {
	name := out
	if !strings.HasPrefix(name, prefix) {
		name = prefix + name
	}
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: op, Name: name, Input: inputs, Output: []string{out}, Attribute: attrs})
}

// transpose returns the cols×rows transpose of a rows×cols row-major matrix.
func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, len(a))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

func valueInfo(name string, batch *onnxpb.TensorShapeProto_Dimension, n int64) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
			batch, {Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: n}},
		}}},
	}}}
}
