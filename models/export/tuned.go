package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/models/onnxpb"
	"github.com/asvp-dev/asvp/models/tail"
)

// tunedPrefix names the initializers that hold the fine-tuned weights.
const tunedPrefix = "asvp_tuned/"

// ErrMismatch means the backbone is not the model the fine-tuned tail was
// cut from: it lacks the cut or an output, its tail has another structure,
// or other weights or attributes.
var ErrMismatch = errors.New("export: backbone is not the model the fine-tune was made from")

// BuildTuned returns the serialized ONNX model of a whole fine-tuned
// network: the backbone (serialized ONNX bytes) below the tail's cut
// unchanged, the tail above it with the fine-tuned weights, and the head.
// The inputs are not modified.
//
// The exported graph takes the backbone's input and has two outputs:
//
//	features = the tuned tail's features, what t.Features returns
//	probs    = softmax(HeadW·((features - Mean) / Std) + HeadB), what t.Predict returns
//
// computed in float32 (t's head works in float64). Every node of the
// backbone that features needs keeps its place and attributes; only the
// weights of the tail's nodes change: they read new float32 initializers
// holding t's eval-mode weights (tail.Net.EvalWeights: the BatchNorms that
// fine-tuning inserted are folded into their convolutions), whatever form
// the originals had (a quantized initializer behind DequantizeLinear, for
// example). Backbone nodes, initializers and outputs that features does not
// need are dropped.
//
// The backbone must be the model the tail was cut from: the same tail above
// the cut (checked against the digest the tail keeps, tail.Net.Digest),
// else the error wraps ErrMismatch and says what differs. The part below
// the cut is not checked beyond computing the cut and frozen inputs.
//
// opts.Output may be empty; when set it must name the tail output the head
// reads. opts.Metadata is recorded as Build does, with asvp.backbone_output,
// asvp.cut, asvp.tail_sha256 (the digest) and asvp.method added.
func BuildTuned(backbone []byte, t *finetune.Tuned, opts Options) ([]byte, error) {
	if t == nil || t.Net() == nil || t.Head == nil {
		return nil, errors.New("export: no fine-tune")
	}
	net := t.Net()
	cut, outs := net.InputName(), net.OutputNames()
	feat := outs[t.Output()]
	if opts.Output != "" && opts.Output != feat {
		return nil, fmt.Errorf("export: output %q asked, the fine-tune's head reads %q", opts.Output, feat)
	}
	d, c := int64(t.Dim()), int64(t.Classes())
	if int64(len(t.Mean)) != d || int64(len(t.Std)) != d || int64(len(t.Head.W.Value)) != c*d || int64(len(t.Head.B.Value)) != c {
		return nil, fmt.Errorf("export: fine-tune head has %d weights and %d biases, standardisation %d and %d values, for %d features and %d classes",
			len(t.Head.W.Value), len(t.Head.B.Value), len(t.Mean), len(t.Std), d, c)
	}

	var m onnxpb.ModelProto
	if err := proto.Unmarshal(backbone, &m); err != nil {
		return nil, fmt.Errorf("%w: not an ONNX model: %v", ErrBadBackbone, err)
	}
	g := m.GetGraph()
	if g == nil || len(g.Node) == 0 {
		return nil, fmt.Errorf("%w: the model has no graph", ErrBadBackbone)
	}
	gm, err := onnxgraph.Parse(backbone)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBackbone, err)
	}
	ws := net.EvalWeights()
	tl, err := matchTail(gm, net, ws)
	if err != nil {
		return nil, err
	}
	for _, in := range g.Input {
		if n := in.GetName(); n == ProbsOutput || n == FeaturesOutput {
			return nil, fmt.Errorf("%w: graph input %q clashes with an output of the exported model", ErrBadBackbone, n)
		}
	}
	batchDim := batchOf(g, feat)
	moved := map[string]string{ProbsOutput: "backbone/" + ProbsOutput, FeaturesOutput: "backbone/" + FeaturesOutput}
	renameTensors(g, moved)
	r := func(s string) string {
		if to, ok := moved[s]; ok {
			return to
		}
		return s
	}
	if err := replaceWeights(&m, tl, ws, r); err != nil {
		return nil, err
	}
	x := r(feat)
	prune(g, x)

	b := builder{g: g}
	hw := make([]float32, len(t.Head.W.Value)) // [classes, dim], Gemm with transB
	for i, v := range t.Head.W.Value {
		hw[i] = float32(v)
	}
	mean := b.init("mean", []int64{d}, toFloat32(t.Mean))
	std := b.init("std", []int64{d}, toFloat32(t.Std))
	w := b.init("head.weight", []int64{c, d}, hw)
	hb := b.init("head.bias", []int64{c}, toFloat32(t.Head.B.Value))
	flat := prefix + "features_flat"
	b.nodeTo("Flatten", flat, []string{x}, &onnxpb.AttributeProto{Name: "axis", Type: onnxpb.AttributeProto_INT, I: 1})
	b.nodeTo("Identity", FeaturesOutput, []string{flat})
	z := b.node("Div", "z", b.node("Sub", "centred", flat, mean), std)
	logits := prefix + "logits"
	b.nodeTo("Gemm", logits, []string{z, w, hb}, &onnxpb.AttributeProto{Name: "transB", Type: onnxpb.AttributeProto_INT, I: 1})
	b.nodeTo("Softmax", ProbsOutput, []string{logits}, &onnxpb.AttributeProto{Name: "axis", Type: onnxpb.AttributeProto_INT, I: 1})
	if m.IrVersion < 4 {
		// Before IR 4 every initializer had to be a graph input too.
		for _, name := range []string{mean, std, w, hb} {
			g.Input = append(g.Input, initInput(g, name))
		}
	}
	g.Output = []*onnxpb.ValueInfoProto{valueInfo(FeaturesOutput, batchDim, d), valueInfo(ProbsOutput, batchDim, c)}

	ours := map[string]string{
		"asvp.backbone_output": feat,
		"asvp.cut":             cut,
		"asvp.tail_sha256":     net.Digest(),
		"asvp.method":          t.Recipe.Method,
	}
	var meta []*onnxpb.StringStringEntryProto
	for _, e := range m.MetadataProps {
		meta = append(meta, &onnxpb.StringStringEntryProto{Key: "backbone." + e.GetKey(), Value: e.GetValue()})
	}
	all := maps.Clone(opts.Metadata)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, ours)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		meta = append(meta, &onnxpb.StringStringEntryProto{Key: k, Value: all[k]})
	}
	m.MetadataProps = meta
	m.DocString = strings.TrimSpace(m.DocString + "\nwith its tail above " + cut + " fine-tuned by asvp (" + t.Recipe.Method + ") and a head on " + feat)
	out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("export: marshal onnx: %w", err)
	}
	return out, nil
}

// matchTail cuts the backbone as net was cut and checks that the tail is
// the one net was built from, so that ws fit its nodes. Errors wrap
// ErrMismatch and name the first difference found.
func matchTail(gm *onnxgraph.Model, net *tail.Net, ws []tail.EvalWeight) (*onnxgraph.Tail, error) {
	cut, outs := net.InputName(), net.OutputNames()
	for _, name := range append([]string{cut}, outs...) {
		if !gm.HasTensor(name) {
			what := "output"
			if name == cut {
				what = "cut"
			}
			return nil, fmt.Errorf("%w: it has no tensor %q, the fine-tuned tail's %s", ErrMismatch, name, what)
		}
	}
	tl, err := gm.Cut(cut, outs)
	if err != nil {
		return nil, fmt.Errorf("%w: cutting it at %q: %w", ErrMismatch, cut, err)
	}
	if fz := net.FrozenNames(); !slices.Equal(tl.Frozen, fz) {
		return nil, fmt.Errorf("%w: its tail above %q has frozen inputs %q, the fine-tuned tail %q", ErrMismatch, cut, tl.Frozen, fz)
	}
	nodes := map[string]*onnxgraph.Node{}
	for i := range tl.Nodes {
		nodes[tl.Nodes[i].Output] = &tl.Nodes[i]
	}
	for _, w := range ws {
		nd, ok := nodes[w.Node]
		if !ok {
			return nil, fmt.Errorf("%w: no node of its tail above %q computes %q", ErrMismatch, cut, w.Node)
		}
		if w.Name == "" {
			if nd.Op != "Conv" || len(nd.Inputs) != 2 {
				return nil, fmt.Errorf("%w: node %q (op %s) is not a convolution without a bias", ErrMismatch, nd.Name, nd.Op)
			}
			continue
		}
		src, ok := tl.Weights[w.Name]
		if !ok || !slices.Contains(nd.Inputs, w.Name) {
			return nil, fmt.Errorf("%w: node %q (op %s) does not read weight %q", ErrMismatch, nd.Name, nd.Op, w.Name)
		}
		if src.Len() != len(w.Value) {
			return nil, fmt.Errorf("%w: weight %q of node %q has %d values (dims %v), the fine-tuned tail's %d",
				ErrMismatch, w.Name, nd.Name, src.Len(), src.Dims, len(w.Value))
		}
	}
	if got, want := tl.Digest(), net.Digest(); got != want {
		return nil, fmt.Errorf("%w: its tail above %q has the structure of the fine-tuned tail but other weights or attributes (tail sha256 %.12s, the fine-tune's %.12s)",
			ErrMismatch, cut, got, want)
	}
	return tl, nil
}

// replaceWeights points the inputs of the tail's nodes in m at new float32
// initializers holding ws. r maps a tail tensor name to its name in m.
func replaceWeights(m *onnxpb.ModelProto, tl *onnxgraph.Tail, ws []tail.EvalWeight, r func(string) string) error {
	g := m.Graph
	producer := map[string]*onnxpb.NodeProto{}
	taken := map[string]bool{}
	for _, n := range g.Node {
		for _, o := range n.Output {
			producer[o] = n
			taken[o] = true
		}
	}
	for _, t := range g.Initializer {
		taken[t.GetName()] = true
	}
	for _, v := range g.Input {
		taken[v.GetName()] = true
	}
	for _, w := range ws {
		n := producer[r(w.Node)]
		if n == nil {
			return fmt.Errorf("%w: no node computes %q", ErrMismatch, w.Node)
		}
		var idx []int
		var dims []int64
		if w.Name == "" { // a bias the folding created
			for len(n.Input) < 3 {
				n.Input = append(n.Input, "")
			}
			idx = []int{2}
			dims = []int64{int64(len(w.Value))}
		} else {
			for i, in := range n.Input {
				if in == r(w.Name) {
					idx = append(idx, i)
				}
			}
			for _, v := range tl.Weights[w.Name].Dims {
				dims = append(dims, int64(v))
			}
		}
		if len(idx) == 0 {
			return fmt.Errorf("%w: node %q does not read %q", ErrMismatch, n.GetName(), w.Name)
		}
		name := tunedPrefix + r(w.Node) + "/" + strconv.Itoa(idx[0])
		if taken[name] {
			return fmt.Errorf("%w: tensor name %q is already taken", ErrBadBackbone, name)
		}
		taken[name] = true
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{
			Name: name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: float32Bytes(w.Value),
		})
		if m.IrVersion < 4 {
			g.Input = append(g.Input, initInput(g, name))
		}
		for _, i := range idx {
			n.Input[i] = name
		}
	}
	return nil
}

// batchOf returns the batch dimension declared for tensor name (a graph
// output or value info of rank 2 or more), or the symbolic "N".
func batchOf(g *onnxpb.GraphProto, name string) *onnxpb.TensorShapeProto_Dimension {
	for _, v := range slices.Concat(g.Output, g.ValueInfo) {
		if v.GetName() != name {
			continue
		}
		if dims := v.GetType().GetTensorType().GetShape().GetDim(); len(dims) >= 2 && dims[0].GetValue() != nil {
			return proto.Clone(dims[0]).(*onnxpb.TensorShapeProto_Dimension)
		}
	}
	return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}
}

// initInput declares initializer name of g as a graph input, as IR
// versions before 4 require.
func initInput(g *onnxpb.GraphProto, name string) *onnxpb.ValueInfoProto {
	for _, t := range g.Initializer {
		if t.GetName() != name {
			continue
		}
		sh := &onnxpb.TensorShapeProto{}
		for _, d := range t.Dims {
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: t.DataType, Shape: sh}}}}
	}
	panic("export: no initializer " + name)
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// float32Bytes encodes v as a TensorProto's little-endian raw data.
func float32Bytes(v []float32) []byte {
	raw := make([]byte, 0, 4*len(v))
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	return raw
}
