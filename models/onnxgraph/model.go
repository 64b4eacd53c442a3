package onnxgraph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/internal/half"
	"github.com/asvp-dev/asvp/models/onnxpb"
)

// Errors returned by this package; test for them with errors.Is.
var (
	// ErrFormat means the bytes are not a readable ONNX model, or the
	// graph is malformed (a cycle, a tensor produced twice, a bad tensor).
	ErrFormat = errors.New("onnxgraph: invalid onnx model")
	// ErrNotFound means a named tensor or node is not in the graph.
	ErrNotFound = errors.New("onnxgraph: not found")
	// ErrUnsupported means the tail holds an operator, attribute or data
	// type that this package (or the Go tail network) does not handle.
	ErrUnsupported = errors.New("onnxgraph: unsupported")
)

// Tensor is a constant float32 tensor, row-major.
type Tensor struct {
	Dims []int
	Data []float32
}

// Len returns the number of elements the dims describe.
func (t *Tensor) Len() int { return numel(t.Dims) }

// Model is a parsed ONNX model. Its methods do not modify it, and it is
// safe for concurrent use once parsed.
type Model struct {
	proto    *onnxpb.ModelProto
	opset    int64
	nodes    []*onnxpb.NodeProto // topological order
	producer map[string]int      // tensor name -> index in nodes
	inits    map[string]*onnxpb.TensorProto
	inputs   map[string]bool // graph inputs that are not initializers
}

// ReadFile parses the ONNX model in the file at path.
func ReadFile(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnxgraph: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return m, nil
}

// Parse parses a serialized ONNX model. The bytes are not kept.
func Parse(data []byte) (*Model, error) {
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(data, mp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	g := mp.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("%w: no graph", ErrFormat)
	}
	m := &Model{proto: mp, opset: 1, producer: map[string]int{}, inits: map[string]*onnxpb.TensorProto{}, inputs: map[string]bool{}}
	for _, o := range mp.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			m.opset = o.GetVersion()
		}
	}
	for _, t := range g.GetInitializer() {
		m.inits[t.GetName()] = t
	}
	for _, in := range g.GetInput() {
		if _, ok := m.inits[in.GetName()]; !ok {
			m.inputs[in.GetName()] = true
		}
	}
	order, err := topoSort(g.GetNode())
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		n := g.GetNode()[i]
		m.nodes = append(m.nodes, n)
		for _, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			if _, dup := m.producer[out]; dup || m.inits[out] != nil || m.inputs[out] {
				return nil, fmt.Errorf("%w: tensor %q has more than one source", ErrFormat, out)
			}
			m.producer[out] = len(m.nodes) - 1
		}
	}
	return m, nil
}

// topoSort returns the node indices in a topological order; for a graph
// that is already sorted (as ONNX asks) it is the original order.
func topoSort(nodes []*onnxpb.NodeProto) ([]int, error) {
	prod := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o != "" {
				prod[o] = i
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	state := make([]int8, len(nodes))
	order := make([]int, 0, len(nodes))
	// Iterative DFS, so a deep graph cannot overflow the stack.
	type frame struct{ node, next int }
	for root := range nodes {
		if state[root] != white {
			continue
		}
		stack := []frame{{root, 0}}
		state[root] = grey
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			ins := nodes[f.node].GetInput()
			if f.next < len(ins) {
				in := ins[f.next]
				f.next++
				p, ok := prod[in]
				if !ok {
					continue
				}
				switch state[p] {
				case grey:
					return nil, fmt.Errorf("%w: cycle through node %q", ErrFormat, nodes[p].GetName())
				case white:
					state[p] = grey
					stack = append(stack, frame{p, 0})
				}
				continue
			}
			state[f.node] = black
			order = append(order, f.node)
			stack = stack[:len(stack)-1]
		}
	}
	return order, nil
}

// Opset returns the version of the default ONNX operator set the model imports.
func (m *Model) Opset() int64 { return m.opset }

// Inputs returns the names of the graph inputs that are not initializers.
func (m *Model) Inputs() []string {
	var names []string
	for _, in := range m.proto.GetGraph().GetInput() {
		if m.inputs[in.GetName()] {
			names = append(names, in.GetName())
		}
	}
	return names
}

// Outputs returns the names of the graph outputs.
func (m *Model) Outputs() []string {
	var names []string
	for _, o := range m.proto.GetGraph().GetOutput() {
		names = append(names, o.GetName())
	}
	return names
}

// HasTensor says whether name is a tensor of the graph: an input, an
// initializer or a node output.
func (m *Model) HasTensor(name string) bool {
	_, p := m.producer[name]
	return p || m.inputs[name] || m.inits[name] != nil
}

// constant is a folded constant: values in float64 (exact for every
// integer type up to 2^53) with their ONNX data type.
type constant struct {
	dims  []int
	dtype onnxpb.TensorProto_DataType
	vals  []float64
}

func numel(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// folder evaluates the constant subexpressions of a model, memoised.
type folder struct {
	m        *Model
	memo     map[string]*constant
	isConstM map[string]bool
}

func newFolder(m *Model) *folder {
	return &folder{m: m, memo: map[string]*constant{}, isConstM: map[string]bool{}}
}

// isConst says whether tensor name is an initializer or computed from
// initializers only (by nodes with at least one input, or Constant).
func (f *folder) isConst(name string) bool {
	return f.isConstDepth(name, 0)
}

func (f *folder) isConstDepth(name string, depth int) bool {
	if c, ok := f.isConstM[name]; ok {
		return c
	}
	c := f.isConstUncached(name, depth)
	f.isConstM[name] = c
	return c
}

func (f *folder) isConstUncached(name string, depth int) bool {
	if name == "" || f.m.inputs[name] {
		return false
	}
	if f.m.inits[name] != nil {
		return true
	}
	if _, ok := f.memo[name]; ok {
		return true
	}
	p, ok := f.m.producer[name]
	if !ok || depth > 64 {
		return false
	}
	n := f.m.nodes[p]
	if n.GetOpType() == "Constant" {
		return true
	}
	if len(n.GetInput()) == 0 {
		return false // a random generator or similar: not a constant
	}
	for _, in := range n.GetInput() {
		if in != "" && !f.isConstDepth(in, depth+1) {
			return false
		}
	}
	return true
}

// value returns the folded value of the constant tensor name.
func (f *folder) value(name string) (*constant, error) {
	if c, ok := f.memo[name]; ok {
		return c, nil
	}
	var c *constant
	var err error
	if t := f.m.inits[name]; t != nil {
		c, err = decodeTensor(t)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
	} else {
		p, ok := f.m.producer[name]
		if !ok {
			return nil, fmt.Errorf("%w: constant %q", ErrNotFound, name)
		}
		c, err = f.eval(f.m.nodes[p])
		if err != nil {
			return nil, err
		}
	}
	f.memo[name] = c
	return c, nil
}

// floats returns a constant as a float32 Tensor.
func (f *folder) floats(name string) (*Tensor, error) {
	c, err := f.value(name)
	if err != nil {
		return nil, err
	}
	if !isFloat(c.dtype) {
		return nil, fmt.Errorf("%w: constant %q has data type %v, want a float type", ErrUnsupported, name, c.dtype)
	}
	t := &Tensor{Dims: slices.Clone(c.dims), Data: make([]float32, len(c.vals))}
	for i, v := range c.vals {
		t.Data[i] = float32(v)
	}
	return t, nil
}

// ints returns a constant as integers.
func (f *folder) ints(name string) ([]int64, error) {
	c, err := f.value(name)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(c.vals))
	for i, v := range c.vals {
		out[i] = int64(v)
	}
	return out, nil
}

func isFloat(t onnxpb.TensorProto_DataType) bool {
	switch t {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		return true
	}
	return false
}

// eval folds one node whose inputs are all constant.
func (f *folder) eval(n *onnxpb.NodeProto) (*constant, error) {
	where := func(err error) error {
		return fmt.Errorf("onnxgraph: fold node %q (op %s): %w", n.GetName(), n.GetOpType(), err)
	}
	if len(n.GetOutput()) != 1 && n.GetOpType() != "Constant" {
		return nil, where(fmt.Errorf("%w: %d outputs", ErrUnsupported, len(n.GetOutput())))
	}
	in := make([]*constant, len(n.GetInput()))
	for i, name := range n.GetInput() {
		if name == "" {
			continue
		}
		c, err := f.value(name)
		if err != nil {
			return nil, where(err)
		}
		in[i] = c
	}
	c, err := foldOp(n, in)
	if err != nil {
		return nil, where(err)
	}
	return c, nil
}

func foldOp(n *onnxpb.NodeProto, in []*constant) (*constant, error) {
	arg := func(i int) (*constant, error) {
		if i >= len(in) || in[i] == nil {
			return nil, fmt.Errorf("%w: missing input %d", ErrFormat, i)
		}
		return in[i], nil
	}
	switch op := n.GetOpType(); op {
	case "Constant":
		for _, a := range n.GetAttribute() {
			switch a.GetName() {
			case "value":
				return decodeTensor(a.GetT())
			case "value_float":
				return &constant{dims: []int{}, dtype: onnxpb.TensorProto_FLOAT, vals: []float64{float64(a.GetF())}}, nil
			case "value_floats":
				v := make([]float64, len(a.GetFloats()))
				for i, x := range a.GetFloats() {
					v[i] = float64(x)
				}
				return &constant{dims: []int{len(v)}, dtype: onnxpb.TensorProto_FLOAT, vals: v}, nil
			case "value_int":
				return &constant{dims: []int{}, dtype: onnxpb.TensorProto_INT64, vals: []float64{float64(a.GetI())}}, nil
			case "value_ints":
				v := make([]float64, len(a.GetInts()))
				for i, x := range a.GetInts() {
					v[i] = float64(x)
				}
				return &constant{dims: []int{len(v)}, dtype: onnxpb.TensorProto_INT64, vals: v}, nil
			}
		}
		return nil, fmt.Errorf("%w: Constant without a value attribute it reads", ErrUnsupported)
	case "Identity":
		return arg(0)
	case "Cast":
		x, err := arg(0)
		if err != nil {
			return nil, err
		}
		to := onnxpb.TensorProto_DataType(attrInt(n, "to", 0))
		out := &constant{dims: x.dims, dtype: to, vals: slices.Clone(x.vals)}
		for i, v := range out.vals {
			switch {
			case isFloat(to):
				if to != onnxpb.TensorProto_DOUBLE {
					out.vals[i] = float64(float32(v))
				}
			case to == onnxpb.TensorProto_BOOL:
				if v != 0 {
					out.vals[i] = 1
				}
			default:
				out.vals[i] = math.Trunc(v)
			}
		}
		return out, nil
	case "DequantizeLinear":
		return dequantize(n, in)
	case "Reshape":
		x, err := arg(0)
		if err != nil {
			return nil, err
		}
		s, err := arg(1)
		if err != nil {
			return nil, err
		}
		dims, err := reshapeDims(x.dims, s.vals, attrInt(n, "allowzero", 0) != 0)
		if err != nil {
			return nil, err
		}
		return &constant{dims: dims, dtype: x.dtype, vals: x.vals}, nil
	case "Transpose":
		x, err := arg(0)
		if err != nil {
			return nil, err
		}
		return transpose(x, attrInts(n, "perm"))
	case "Add", "Sub", "Mul", "Div":
		a, err := arg(0)
		if err != nil {
			return nil, err
		}
		b, err := arg(1)
		if err != nil {
			return nil, err
		}
		return broadcast(op, a, b)
	}
	return nil, fmt.Errorf("%w: constant folding of op %s", ErrUnsupported, n.GetOpType())
}

// dequantize folds DequantizeLinear: y = (x - zero_point) * scale, per
// tensor or per axis.
func dequantize(n *onnxpb.NodeProto, in []*constant) (*constant, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("%w: DequantizeLinear needs x and scale", ErrFormat)
	}
	x, scale := in[0], in[1]
	var zp *constant
	if len(in) > 2 {
		zp = in[2]
	}
	out := &constant{dims: x.dims, dtype: scale.dtype, vals: make([]float64, len(x.vals))}
	if len(scale.vals) == 1 {
		z := 0.0
		if zp != nil {
			z = zp.vals[0]
		}
		for i, v := range x.vals {
			out.vals[i] = float64(float32((v - z) * scale.vals[0]))
		}
		return out, nil
	}
	axis := int(attrInt(n, "axis", 1))
	if axis < 0 {
		axis += len(x.dims)
	}
	if axis < 0 || axis >= len(x.dims) || x.dims[axis] != len(scale.vals) || (zp != nil && len(zp.vals) != len(scale.vals)) {
		return nil, fmt.Errorf("%w: DequantizeLinear axis %d, x %v, %d scales", ErrUnsupported, axis, x.dims, len(scale.vals))
	}
	inner := numel(x.dims[axis+1:])
	for i, v := range x.vals {
		k := (i / inner) % x.dims[axis]
		z := 0.0
		if zp != nil {
			z = zp.vals[k]
		}
		out.vals[i] = float64(float32((v - z) * scale.vals[k]))
	}
	return out, nil
}

// reshapeDims resolves a Reshape target shape (0 copies the input's
// dimension unless allowzero, -1 is inferred).
func reshapeDims(in []int, shape []float64, allowZero bool) ([]int, error) {
	total := numel(in)
	dims := make([]int, len(shape))
	infer := -1
	known := 1
	for i, s := range shape {
		d := int(s)
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("%w: reshape %v to %v", ErrFormat, in, shape)
			}
			d = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("%w: reshape with two -1", ErrFormat)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("%w: reshape dim %d", ErrFormat, d)
		}
		dims[i] = d
		known *= d
	}
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("%w: reshape %v to %v", ErrFormat, in, shape)
		}
		dims[infer] = total / known
	} else if known != total {
		return nil, fmt.Errorf("%w: reshape %v to %v", ErrFormat, in, shape)
	}
	return dims, nil
}

func transpose(x *constant, perm []int64) (*constant, error) {
	r := len(x.dims)
	p := make([]int, r)
	for i := range p {
		p[i] = r - 1 - i
	}
	if perm != nil {
		if len(perm) != r {
			return nil, fmt.Errorf("%w: transpose perm %v of rank %d", ErrFormat, perm, r)
		}
		for i, v := range perm {
			p[i] = int(v)
		}
	}
	dims := make([]int, r)
	for i := range p {
		dims[i] = x.dims[p[i]]
	}
	strides := rowStrides(x.dims)
	out := &constant{dims: dims, dtype: x.dtype, vals: make([]float64, len(x.vals))}
	idx := make([]int, r)
	for o := range out.vals {
		src := 0
		for i := range r {
			src += idx[i] * strides[p[i]]
		}
		out.vals[o] = x.vals[src]
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

func rowStrides(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// broadcast applies a binary arithmetic op with numpy broadcasting.
func broadcast(op string, a, b *constant) (*constant, error) {
	r := max(len(a.dims), len(b.dims))
	pad := func(d []int) []int { return append(slices.Repeat([]int{1}, r-len(d)), d...) }
	ad, bd := pad(a.dims), pad(b.dims)
	dims := make([]int, r)
	for i := range r {
		switch {
		case ad[i] == bd[i] || bd[i] == 1:
			dims[i] = ad[i]
		case ad[i] == 1:
			dims[i] = bd[i]
		default:
			return nil, fmt.Errorf("%w: cannot broadcast %v and %v", ErrFormat, a.dims, b.dims)
		}
	}
	as, bs := rowStrides(ad), rowStrides(bd)
	for i := range r {
		if ad[i] == 1 {
			as[i] = 0
		}
		if bd[i] == 1 {
			bs[i] = 0
		}
	}
	out := &constant{dims: dims, dtype: a.dtype, vals: make([]float64, numel(dims))}
	idx := make([]int, r)
	intType := !isFloat(a.dtype)
	for o := range out.vals {
		ai, bi := 0, 0
		for i := range r {
			ai += idx[i] * as[i]
			bi += idx[i] * bs[i]
		}
		x, y := a.vals[ai], b.vals[bi]
		var v float64
		switch op {
		case "Add":
			v = x + y
		case "Sub":
			v = x - y
		case "Mul":
			v = x * y
		case "Div":
			v = x / y
			if intType {
				v = math.Trunc(v)
			}
		}
		if a.dtype == onnxpb.TensorProto_FLOAT {
			v = float64(float32(v))
		}
		out.vals[o] = v
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// decodeTensor reads a TensorProto's values (raw_data or the typed fields).
func decodeTensor(t *onnxpb.TensorProto) (*constant, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: nil tensor", ErrFormat)
	}
	if len(t.GetExternalData()) > 0 || t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("%w: tensor %q stores its data in an external file", ErrUnsupported, t.GetName())
	}
	dims := make([]int, len(t.GetDims()))
	for i, d := range t.GetDims() {
		if d < 0 || d > 1<<31 {
			return nil, fmt.Errorf("%w: tensor %q has dim %d", ErrFormat, t.GetName(), d)
		}
		dims[i] = int(d)
	}
	n := numel(dims)
	dt := onnxpb.TensorProto_DataType(t.GetDataType())
	c := &constant{dims: dims, dtype: dt, vals: make([]float64, n)}
	raw := t.GetRawData()
	size := map[onnxpb.TensorProto_DataType]int{
		onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_DOUBLE: 8, onnxpb.TensorProto_FLOAT16: 2, onnxpb.TensorProto_BFLOAT16: 2,
		onnxpb.TensorProto_INT8: 1, onnxpb.TensorProto_UINT8: 1, onnxpb.TensorProto_INT16: 2, onnxpb.TensorProto_UINT16: 2,
		onnxpb.TensorProto_INT32: 4, onnxpb.TensorProto_UINT32: 4, onnxpb.TensorProto_INT64: 8, onnxpb.TensorProto_UINT64: 8,
		onnxpb.TensorProto_BOOL: 1,
	}[dt]
	if size == 0 {
		return nil, fmt.Errorf("%w: tensor %q has data type %v", ErrUnsupported, t.GetName(), dt)
	}
	if raw != nil {
		if len(raw) != n*size {
			return nil, fmt.Errorf("%w: tensor %q has %d raw bytes for %v of %v", ErrFormat, t.GetName(), len(raw), dims, dt)
		}
		for i := range n {
			b := raw[i*size:]
			var v float64
			switch dt {
			case onnxpb.TensorProto_FLOAT:
				v = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			case onnxpb.TensorProto_DOUBLE:
				v = math.Float64frombits(binary.LittleEndian.Uint64(b))
			case onnxpb.TensorProto_FLOAT16:
				v = float64(half.ToFloat32(binary.LittleEndian.Uint16(b)))
			case onnxpb.TensorProto_BFLOAT16:
				v = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16))
			case onnxpb.TensorProto_INT8:
				v = float64(int8(b[0]))
			case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
				v = float64(b[0])
			case onnxpb.TensorProto_INT16:
				v = float64(int16(binary.LittleEndian.Uint16(b)))
			case onnxpb.TensorProto_UINT16:
				v = float64(binary.LittleEndian.Uint16(b))
			case onnxpb.TensorProto_INT32:
				v = float64(int32(binary.LittleEndian.Uint32(b)))
			case onnxpb.TensorProto_UINT32:
				v = float64(binary.LittleEndian.Uint32(b))
			case onnxpb.TensorProto_INT64:
				v = float64(int64(binary.LittleEndian.Uint64(b)))
			case onnxpb.TensorProto_UINT64:
				v = float64(binary.LittleEndian.Uint64(b))
			}
			c.vals[i] = v
		}
		return c, nil
	}
	var got int
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		got = len(t.GetFloatData())
		for i, v := range t.GetFloatData() {
			if i < n {
				c.vals[i] = float64(v)
			}
		}
	case onnxpb.TensorProto_DOUBLE:
		got = len(t.GetDoubleData())
		copy(c.vals, t.GetDoubleData())
	case onnxpb.TensorProto_INT64:
		got = len(t.GetInt64Data())
		for i, v := range t.GetInt64Data() {
			if i < n {
				c.vals[i] = float64(v)
			}
		}
	case onnxpb.TensorProto_UINT32, onnxpb.TensorProto_UINT64:
		got = len(t.GetUint64Data())
		for i, v := range t.GetUint64Data() {
			if i < n {
				c.vals[i] = float64(v)
			}
		}
	default: // int8, uint8, int16, uint16, int32, bool, float16 and bfloat16 (as bits) live in int32_data
		got = len(t.GetInt32Data())
		for i, v := range t.GetInt32Data() {
			if i >= n {
				break
			}
			switch dt {
			case onnxpb.TensorProto_FLOAT16:
				c.vals[i] = float64(half.ToFloat32(uint16(v)))
			case onnxpb.TensorProto_BFLOAT16:
				c.vals[i] = float64(math.Float32frombits(uint32(uint16(v)) << 16))
			default:
				c.vals[i] = float64(v)
			}
		}
	}
	if got != n {
		return nil, fmt.Errorf("%w: tensor %q has %d values for dims %v", ErrFormat, t.GetName(), got, dims)
	}
	return c, nil
}

func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrFloat(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

func attrInts(n *onnxpb.NodeProto, name string) []int64 {
	if a := attr(n, name); a != nil {
		return a.GetInts()
	}
	return nil
}

func attrString(n *onnxpb.NodeProto, name string) string {
	if a := attr(n, name); a != nil {
		return string(a.GetS())
	}
	return ""
}
