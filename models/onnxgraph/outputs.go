package onnxgraph

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/models/onnxpb"
)

// AddOutputs returns the serialized model with names appended to its graph
// outputs (names already outputs are skipped), so that one ONNX Runtime
// pass returns the cut activation and the frozen inputs of a Tail together
// with the features. Each new output is declared float32 with the shape
// that a light shape inference finds: known sizes where the graph fixes
// them (channels, features), the batch dimension symbolic, sizes that
// depend on a symbolic input size left unnamed. The rest of the model is
// unchanged.
func AddOutputs(model []byte, names ...string) ([]byte, error) {
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(model, mp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	m, err := Parse(model)
	if err != nil {
		return nil, err
	}
	g := mp.GetGraph()
	shapes := m.inferShapes(nil)
	declared := map[string]*onnxpb.ValueInfoProto{}
	for _, v := range g.GetValueInfo() {
		declared[v.GetName()] = v
	}
	for _, name := range names {
		if slices.ContainsFunc(g.GetOutput(), func(v *onnxpb.ValueInfoProto) bool { return v.GetName() == name }) {
			continue
		}
		if !m.HasTensor(name) {
			return nil, fmt.Errorf("%w: tensor %q to add as an output", ErrNotFound, name)
		}
		if v := declared[name]; v != nil && v.GetType().GetTensorType() != nil {
			g.Output = append(g.Output, proto.Clone(v).(*onnxpb.ValueInfoProto))
			continue
		}
		tt := &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT)}
		if s, ok := shapes[name]; ok && s != nil {
			sp := &onnxpb.TensorShapeProto{}
			for _, d := range s {
				dp := &onnxpb.TensorShapeProto_Dimension{}
				switch {
				case d.v > 0:
					dp.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.v}
				case d.p != "":
					dp.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.p}
				}
				sp.Dim = append(sp.Dim, dp)
			}
			tt.Shape = sp
		}
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}})
	}
	out, err := proto.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnxgraph: encode model: %w", err)
	}
	return out, nil
}

// dim is one dimension in shape inference: a known size v > 0, or a
// symbolic name p, or unknown (both zero).
type dim struct {
	v int64
	p string
}

// Shape returns the inferred shape of tensor name: one entry per
// dimension, a positive size where the graph fixes it and -1 where it
// depends on a symbolic size (the batch, or a free input size). inputs may
// fix the shapes of graph inputs (-1 for a dimension left free, such as the
// batch): for the default backbone, {"input": {-1, 96, 96, 3}} gives
// block_12_add as [-1, 96, 6, 6]. ok is false when not even the rank is
// known.
func (m *Model) Shape(name string, inputs map[string][]int) (shape []int, ok bool) {
	s, found := m.inferShapes(inputs)[name]
	if !found || s == nil {
		return nil, false
	}
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = -1
		if d.v > 0 {
			out[i] = int(d.v)
		}
	}
	return out, true
}

// inferShapes propagates shapes from the graph inputs and initializers
// through the operators it knows; others give an unknown shape.
func (m *Model) inferShapes(fixed map[string][]int) map[string][]dim {
	g := m.proto.GetGraph()
	shapes := map[string][]dim{}
	fromProto := func(v *onnxpb.ValueInfoProto) []dim {
		tt := v.GetType().GetTensorType()
		if tt == nil || tt.GetShape() == nil {
			return nil
		}
		var s []dim
		for _, d := range tt.GetShape().GetDim() {
			s = append(s, dim{v: d.GetDimValue(), p: d.GetDimParam()})
		}
		if s == nil {
			s = []dim{}
		}
		return s
	}
	for _, v := range g.GetInput() {
		shapes[v.GetName()] = fromProto(v)
		if f, ok := fixed[v.GetName()]; ok {
			s := make([]dim, len(f))
			for i, d := range f {
				s[i] = dim{v: int64(d)}
				if d <= 0 {
					s[i] = dim{p: "N"}
				}
			}
			shapes[v.GetName()] = s
		}
	}
	for name, t := range m.inits {
		s := []dim{}
		for _, d := range t.GetDims() {
			s = append(s, dim{v: d})
		}
		shapes[name] = s
	}
	for _, v := range g.GetValueInfo() {
		if s := fromProto(v); s != nil {
			shapes[v.GetName()] = s
		}
	}
	f := newFolder(m)
	for _, n := range m.nodes {
		outs := n.GetOutput()
		if len(outs) == 0 || outs[0] == "" {
			continue
		}
		if _, ok := shapes[outs[0]]; ok {
			continue // declared in value_info
		}
		shapes[outs[0]] = inferNode(n, shapes, f, m.opset)
	}
	return shapes
}

func inferNode(n *onnxpb.NodeProto, shapes map[string][]dim, f *folder, opset int64) []dim {
	ins := n.GetInput()
	in := func(i int) []dim {
		if i >= len(ins) {
			return nil
		}
		return shapes[ins[i]]
	}
	x := in(0)
	switch n.GetOpType() {
	case "Relu", "Clip", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Identity", "Dropout", "LeakyRelu",
		"HardSigmoid", "HardSwish", "Exp", "Neg", "Sqrt", "BatchNormalization", "Cast", "Erf", "Gelu":
		return x
	case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min":
		a, b := x, in(1)
		if a == nil || b == nil {
			return nil
		}
		r := max(len(a), len(b))
		out := make([]dim, r)
		for i := range r {
			var da, db dim
			da, db = dim{v: 1}, dim{v: 1}
			if j := i - (r - len(a)); j >= 0 {
				da = a[j]
			}
			if j := i - (r - len(b)); j >= 0 {
				db = b[j]
			}
			switch {
			case da.v == 1:
				out[i] = db
			case db.v == 1:
				out[i] = da
			case da.v > 0:
				out[i] = da
			default:
				out[i] = db
			}
		}
		return out
	case "Transpose":
		if x == nil {
			return nil
		}
		perm := attrInts(n, "perm")
		out := make([]dim, len(x))
		for i := range out {
			p := len(x) - 1 - i
			if perm != nil {
				if len(perm) != len(x) {
					return nil
				}
				p = int(perm[i])
			}
			out[i] = x[p]
		}
		return out
	case "Conv", "MaxPool", "AveragePool":
		if len(x) != 4 {
			return nil
		}
		var c dim
		kernel := attrInts(n, "kernel_shape")
		if n.GetOpType() == "Conv" {
			w := in(1)
			if len(w) != 4 {
				return nil
			}
			c = w[0]
			if kernel == nil {
				kernel = []int64{w[2].v, w[3].v}
			}
		} else {
			c = x[1]
		}
		if len(kernel) != 2 || attrString(n, "auto_pad") != "" && attrString(n, "auto_pad") != "NOTSET" || attrInt(n, "ceil_mode", 0) != 0 {
			return []dim{x[0], c, {}, {}}
		}
		strides := attrInts(n, "strides")
		pads := attrInts(n, "pads")
		dil := attrInts(n, "dilations")
		out := []dim{x[0], c, {}, {}}
		for i := range 2 {
			if x[2+i].v <= 0 {
				continue
			}
			s, d := int64(1), int64(1)
			if len(strides) == 2 {
				s = strides[i]
			}
			if len(dil) == 2 {
				d = dil[i]
			}
			p := int64(0)
			if len(pads) == 4 {
				p = pads[i] + pads[i+2]
			}
			out[2+i] = dim{v: (x[2+i].v+p-d*(kernel[i]-1)-1)/s + 1}
		}
		return out
	case "GlobalAveragePool", "GlobalMaxPool":
		if len(x) < 2 {
			return nil
		}
		out := slices.Clone(x)
		for i := 2; i < len(out); i++ {
			out[i] = dim{v: 1}
		}
		return out
	case "Flatten":
		if x == nil {
			return nil
		}
		axis := int(attrInt(n, "axis", 1))
		if axis < 0 {
			axis += len(x)
		}
		return []dim{prod(x[:axis]), prod(x[axis:])}
	case "Concat":
		if x == nil {
			return nil
		}
		axis := int(attrInt(n, "axis", 0))
		if axis < 0 {
			axis += len(x)
		}
		if axis < 0 || axis >= len(x) {
			return nil
		}
		out := slices.Clone(x)
		total := int64(0)
		for i := range ins {
			s := in(i)
			if len(s) != len(x) || s[axis].v <= 0 {
				total = -1
				break
			}
			total += s[axis].v
		}
		out[axis] = dim{}
		if total > 0 {
			out[axis] = dim{v: total}
		}
		return out
	case "MatMul":
		b := in(1)
		if len(x) < 2 || len(b) != 2 {
			return nil
		}
		out := slices.Clone(x)
		out[len(out)-1] = b[1]
		return out
	case "Gemm":
		b := in(1)
		if len(x) != 2 || len(b) != 2 {
			return nil
		}
		rows := x[0]
		if attrInt(n, "transA", 0) != 0 {
			rows = x[1]
		}
		cols := b[1]
		if attrInt(n, "transB", 0) != 0 {
			cols = b[0]
		}
		return []dim{rows, cols}
	case "ReduceMean", "ReduceSum", "ReduceMax":
		if x == nil {
			return nil
		}
		axes := attrInts(n, "axes")
		if axes == nil && len(ins) > 1 && f.isConst(ins[1]) {
			axes, _ = f.ints(ins[1])
		}
		keep := attrInt(n, "keepdims", 1) != 0
		var out []dim
		for i, d := range x {
			reduced := axes == nil
			for _, a := range axes {
				if int(a) == i || int(a)+len(x) == i {
					reduced = true
				}
			}
			switch {
			case !reduced:
				out = append(out, d)
			case keep:
				out = append(out, dim{v: 1})
			}
		}
		if out == nil {
			out = []dim{}
		}
		return out
	case "Squeeze":
		if x == nil {
			return nil
		}
		axes := attrInts(n, "axes")
		if axes == nil && len(ins) > 1 && f.isConst(ins[1]) {
			axes, _ = f.ints(ins[1])
		}
		var out []dim
		for i, d := range x {
			drop := axes == nil && d.v == 1
			for _, a := range axes {
				if int(a) == i || int(a)+len(x) == i {
					drop = true
				}
			}
			if !drop {
				out = append(out, d)
			}
		}
		return out
	case "Reshape":
		if len(ins) < 2 || !f.isConst(ins[1]) {
			return nil
		}
		s, err := f.ints(ins[1])
		if err != nil {
			return nil
		}
		out := make([]dim, len(s))
		for i, v := range s {
			switch {
			case v > 0:
				out[i] = dim{v: v}
			case v == 0 && i < len(x):
				out[i] = x[i]
			case v == -1 && x != nil:
				// Known only when everything else is known.
				total := prod(x)
				rest := int64(1)
				for j, w := range s {
					switch {
					case j == i:
					case w > 0 && rest > 0:
						rest *= w
					case w == 0 && j < len(x) && x[j].v > 0 && rest > 0:
						rest *= x[j].v
					default:
						rest = -1
					}
				}
				if total.v > 0 && rest > 0 {
					out[i] = dim{v: total.v / rest}
				}
			}
		}
		return out
	}
	return nil
}

// prod multiplies dims; the result is unknown if any is.
func prod(ds []dim) dim {
	p := int64(1)
	for _, d := range ds {
		if d.v <= 0 {
			if len(ds) == 1 {
				return d
			}
			return dim{}
		}
		p *= d.v
	}
	return dim{v: p}
}
