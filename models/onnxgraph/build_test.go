package onnxgraph

import (
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/models/onnxpb"
)

// graphBuilder makes tiny ONNX models for tests.
type graphBuilder struct {
	g     onnxpb.GraphProto
	opset int64
}

func newBuilder(opset int64) *graphBuilder { return &graphBuilder{opset: opset} }

func (b *graphBuilder) input(name string, dims ...int64) {
	b.g.Input = append(b.g.Input, valueInfo(name, dims))
}

func (b *graphBuilder) output(name string, dims ...int64) {
	b.g.Output = append(b.g.Output, valueInfo(name, dims))
}

// valueInfo declares a float tensor; a dim of -1 is the symbolic batch "N".
func valueInfo(name string, dims []int64) *onnxpb.ValueInfoProto {
	sp := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dp := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if d < 0 {
			dp.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		}
		sp.Dim = append(sp.Dim, dp)
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: sp}}}}
}

func (b *graphBuilder) floats(name string, dims []int64, v []float32) {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
	}
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw})
}

func (b *graphBuilder) ints(name string, v ...int64) {
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: name, Dims: []int64{int64(len(v))},
		DataType: int32(onnxpb.TensorProto_INT64), Int64Data: v})
}

func (b *graphBuilder) node(op, name string, ins, outs []string, attrs ...*onnxpb.AttributeProto) {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: op, Name: name, Input: ins, Output: outs, Attribute: attrs})
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

func (b *graphBuilder) bytes(t testing.TB) []byte {
	t.Helper()
	b.g.Name = "test"
	m := &onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: b.opset}}, Graph: &b.g}
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (b *graphBuilder) model(t testing.TB) *Model {
	t.Helper()
	m, err := Parse(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func seq(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(i%7-3)
	}
	return v
}

// smallNet is x[N,2,5,5] -> conv a (3x3, pads 1) -> relu ra -> conv b
// (1x1) -> OP -> global pool p -> flatten out [N,3]. Besides the input, a
// second branch x -> pool q -> flatten qf joins at concat cat with out,
// giving both [N,3+2].
func smallNet(op string) *graphBuilder {
	b := newBuilder(17)
	b.input("x", -1, 2, 5, 5)
	b.floats("wa", []int64{4, 2, 3, 3}, seq(72, 0.1))
	b.floats("ba", []int64{4}, seq(4, 0.1))
	b.floats("wb", []int64{3, 4, 1, 1}, seq(12, 0.2))
	b.node("Conv", "a", []string{"x", "wa", "ba"}, []string{"a"}, intsAttr("pads", 1, 1, 1, 1))
	b.node("Relu", "ra", []string{"a"}, []string{"ra"})
	b.node("Conv", "b", []string{"ra", "wb"}, []string{"b"})
	switch op {
	case "MaxPool":
		b.node(op, "act", []string{"b"}, []string{"act"}, intsAttr("kernel_shape", 1, 1))
	default:
		b.node(op, "act", []string{"b"}, []string{"act"})
	}
	b.node("GlobalAveragePool", "p", []string{"act"}, []string{"p"})
	b.node("Flatten", "out", []string{"p"}, []string{"out"})
	b.node("GlobalAveragePool", "q", []string{"x"}, []string{"q"})
	b.node("Flatten", "qf", []string{"q"}, []string{"qf"})
	b.node("Concat", "cat", []string{"qf", "out"}, []string{"cat"}, intAttr("axis", 1))
	b.output("out", -1, 3)
	b.output("cat", -1, 5)
	return b
}
