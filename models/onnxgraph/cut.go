package onnxgraph

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/models/onnxpb"
)

// Node is one operator of a Tail, with the attributes its op reads decoded.
// Fields an op does not use are zero.
type Node struct {
	Name string
	Op   string
	// Inputs are the ONNX inputs that are tensors: run-time tensors (the
	// cut, a frozen input, an earlier node's output) or weights (names in
	// Tail.Weights), in ONNX order; an absent optional input is "". Inputs
	// that the op reads as attributes (Clip's min and max, Reshape's shape,
	// ReduceMean's and Squeeze's axes) are decoded into fields below and
	// left out.
	Inputs []string
	Output string

	// Conv: kernel (height, width), strides, pads (top, left, bottom,
	// right) and group count.
	Kernel  [2]int
	Strides [2]int
	Pads    [4]int
	Group   int
	// BatchNormalization.
	Epsilon float32
	// Clip (Relu is not rewritten: its Min and Max stay zero).
	Min, Max float32
	// Concat and Flatten axis (as written; negative counts from the end).
	Axis int
	// ReduceMean and Squeeze axes, as written; ReduceMean's keepdims.
	Axes     []int
	KeepDims bool
	// Gemm.
	Alpha, Beta    float32
	TransA, TransB bool
	// Reshape target shape (0 copies the input dimension, -1 is inferred).
	Shape []int
}

// Tail is the part of a graph above a cut that a set of outputs needs.
type Tail struct {
	// Input is the cut tensor: the activation the tail starts from.
	Input string
	// Frozen lists the other run-time inputs of the tail: tensors that the
	// outputs need but that do not depend on the cut (for the default
	// backbone cut at block 12, block 10's pooled vector). They pass through
	// unchanged during training; ONNX Runtime computes them with the cut.
	Frozen []string
	// Outputs are the requested outputs, in the order asked.
	Outputs []string
	// Nodes are the operators above the cut that the outputs need, in
	// topological order.
	Nodes []Node
	// Weights holds every constant float tensor that Nodes read, by name:
	// initializers, and constant subexpressions folded to float32
	// (DequantizeLinear of a quantized initializer, for example).
	Weights map[string]*Tensor
}

// Sources returns Input followed by Frozen: the tensors ONNX Runtime must
// return for the tail to run (see AddOutputs).
func (t *Tail) Sources() []string { return append([]string{t.Input}, t.Frozen...) }

// Cut returns the tail of the graph from cut to outputs.
//
// cut names a tensor, or a node with one output (its output is used). Every
// output must depend on the cut. A node is in the tail when an output needs
// it and it depends on the cut; the tensors such nodes read that neither
// depend on the cut nor are constant become Frozen inputs. An unsupported
// operator in the tail is an error (wrapping ErrUnsupported) that names the
// operator and the node.
func (m *Model) Cut(cut string, outputs []string) (*Tail, error) {
	if len(outputs) == 0 {
		return nil, fmt.Errorf("onnxgraph: cut %q: no outputs asked", cut)
	}
	in, err := m.resolveCut(cut)
	if err != nil {
		return nil, err
	}
	f := newFolder(m)
	// down[t] says whether tensor t depends on the cut.
	down := map[string]bool{in: true}
	for _, n := range m.nodes {
		for _, x := range n.GetInput() {
			if down[x] {
				for _, o := range n.GetOutput() {
					if o != "" {
						down[o] = true
					}
				}
				break
			}
		}
	}
	for _, o := range outputs {
		if !m.HasTensor(o) {
			return nil, fmt.Errorf("%w: output %q is not a tensor of the graph", ErrNotFound, o)
		}
		if o == in {
			return nil, fmt.Errorf("onnxgraph: output %q is the cut itself: nothing above the cut computes it", o)
		}
		if !down[o] {
			return nil, fmt.Errorf("onnxgraph: output %q does not depend on the cut %q (is the cut above it?)", o, in)
		}
	}
	// Walk back from the outputs through the nodes that depend on the cut.
	need := map[int]bool{}
	frozen := map[string]bool{}
	stack := slices.Clone(outputs)
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t == in {
			continue
		}
		p := m.producer[t]
		if need[p] {
			continue
		}
		need[p] = true
		for _, x := range m.nodes[p].GetInput() {
			switch {
			case x == "" || x == in:
			case down[x]:
				stack = append(stack, x)
			case f.isConst(x):
			default:
				frozen[x] = true
			}
		}
	}
	tail := &Tail{Input: in, Outputs: slices.Clone(outputs), Weights: map[string]*Tensor{}}
	for i, n := range m.nodes {
		if !need[i] {
			continue
		}
		node, err := m.decode(n, f, tail.Weights)
		if err != nil {
			return nil, err
		}
		tail.Nodes = append(tail.Nodes, node)
		for _, x := range n.GetInput() {
			if frozen[x] && !slices.Contains(tail.Frozen, x) {
				tail.Frozen = append(tail.Frozen, x)
			}
		}
	}
	return tail, nil
}

// resolveCut returns the tensor a cut name designates.
func (m *Model) resolveCut(cut string) (string, error) {
	if _, ok := m.producer[cut]; ok || m.inputs[cut] {
		return cut, nil
	}
	for _, n := range m.nodes {
		if n.GetName() != cut {
			continue
		}
		var outs []string
		for _, o := range n.GetOutput() {
			if o != "" {
				outs = append(outs, o)
			}
		}
		if len(outs) != 1 {
			return "", fmt.Errorf("onnxgraph: cut node %q has %d outputs, name one of its tensors instead", cut, len(outs))
		}
		return outs[0], nil
	}
	return "", fmt.Errorf("%w: cut %q is neither a tensor computed by the graph nor a node", ErrNotFound, cut)
}

// supportedOps are the operators a Tail may hold.
var supportedOps = []string{"Add", "BatchNormalization", "Clip", "Concat", "Conv", "Flatten", "Gemm",
	"GlobalAveragePool", "Identity", "MatMul", "ReduceMean", "Relu", "Reshape", "Squeeze"}

// SupportedOps returns the operators a tail may hold, sorted.
func SupportedOps() []string { return slices.Clone(supportedOps) }

// decode turns a tail's NodeProto into a Node, reading its weights into w.
func (m *Model) decode(n *onnxpb.NodeProto, f *folder, w map[string]*Tensor) (Node, error) {
	op := n.GetOpType()
	fail := func(format string, a ...any) error {
		return fmt.Errorf("onnxgraph: node %q (op %s) above the cut: "+format, append([]any{n.GetName(), op}, a...)...)
	}
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
		return Node{}, fail("operator domain %q: %w", n.GetDomain(), ErrUnsupported)
	}
	if !slices.Contains(supportedOps, op) {
		return Node{}, fail("operator %s is not supported (supported: %s): %w", op, strings.Join(supportedOps, ", "), ErrUnsupported)
	}
	var outs []string
	for i, o := range n.GetOutput() {
		if o != "" && (i == 0 || op != "BatchNormalization") {
			outs = append(outs, o)
		}
	}
	if len(outs) != 1 || n.GetOutput()[0] == "" {
		return Node{}, fail("%d outputs, want 1: %w", len(n.GetOutput()), ErrUnsupported)
	}
	node := Node{Name: n.GetName(), Op: op, Output: outs[0]}
	ins := n.GetInput()
	// weight reads input i as a constant float tensor into w.
	weight := func(i int, what string) error {
		if i >= len(ins) || ins[i] == "" {
			return fail("missing %s input: %w", what, ErrFormat)
		}
		name := ins[i]
		if !f.isConst(name) {
			return fail("%s %q is computed at run time, want a constant: %w", what, name, ErrUnsupported)
		}
		if _, ok := w[name]; ok {
			return nil
		}
		t, err := f.floats(name)
		if err != nil {
			return fail("%s %q: %w", what, name, err)
		}
		w[name] = t
		return nil
	}
	runtime := func(i int) error {
		if i >= len(ins) || ins[i] == "" {
			return fail("missing input %d: %w", i, ErrFormat)
		}
		if f.isConst(ins[i]) {
			return fail("input %q is a constant: %w", ins[i], ErrUnsupported)
		}
		return nil
	}
	constInts := func(i int) ([]int, bool, error) {
		if i >= len(ins) || ins[i] == "" {
			return nil, false, nil
		}
		if !f.isConst(ins[i]) {
			return nil, false, fail("input %q must be a constant: %w", ins[i], ErrUnsupported)
		}
		v, err := f.ints(ins[i])
		if err != nil {
			return nil, false, fail("%w", err)
		}
		out := make([]int, len(v))
		for k, x := range v {
			out[k] = int(x)
		}
		return out, true, nil
	}
	// axes reads the axes of a reduction: the attribute (older opsets) or
	// the constant second input (newer ones); why says what is supported
	// when there are none.
	axes := func(why string) ([]int, error) {
		if a := attrInts(n, "axes"); a != nil {
			out := make([]int, len(a))
			for k, v := range a {
				out[k] = int(v)
			}
			return out, nil
		}
		out, ok, err := constInts(1)
		if err != nil {
			return nil, err
		}
		if !ok {
			if why != "" {
				return nil, fail("no axes: %s: %w", why, ErrUnsupported)
			}
			return nil, fail("no axes: %w", ErrUnsupported)
		}
		return out, nil
	}
	var err error
	switch op {
	case "Conv":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		if err := weight(1, "weight"); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0], ins[1]}
		if len(ins) > 2 && ins[2] != "" {
			if err := weight(2, "bias"); err != nil {
				return Node{}, err
			}
			node.Inputs = append(node.Inputs, ins[2])
		}
		wt := w[ins[1]]
		if len(wt.Dims) != 4 {
			return Node{}, fail("weight of rank %d: only 2-D convolutions are supported: %w", len(wt.Dims), ErrUnsupported)
		}
		node.Kernel = [2]int{wt.Dims[2], wt.Dims[3]}
		if k := attrInts(n, "kernel_shape"); k != nil && (len(k) != 2 || int(k[0]) != wt.Dims[2] || int(k[1]) != wt.Dims[3]) {
			return Node{}, fail("kernel_shape %v disagrees with weight dims %v: %w", k, wt.Dims, ErrFormat)
		}
		node.Strides = [2]int{1, 1}
		if s := attrInts(n, "strides"); s != nil {
			if len(s) != 2 || s[0] < 1 || s[1] < 1 {
				return Node{}, fail("strides %v: %w", s, ErrUnsupported)
			}
			node.Strides = [2]int{int(s[0]), int(s[1])}
		}
		for _, d := range attrInts(n, "dilations") {
			if d != 1 {
				return Node{}, fail("dilations %v: only dilation 1 is supported: %w", attrInts(n, "dilations"), ErrUnsupported)
			}
		}
		switch ap := attrString(n, "auto_pad"); ap {
		case "", "NOTSET", "VALID":
		default:
			return Node{}, fail("auto_pad %s: write explicit pads: %w", ap, ErrUnsupported)
		}
		if p := attrInts(n, "pads"); p != nil {
			if len(p) != 4 {
				return Node{}, fail("pads %v: %w", p, ErrFormat)
			}
			for i, v := range p {
				if v < 0 {
					return Node{}, fail("negative pads %v: %w", p, ErrUnsupported)
				}
				node.Pads[i] = int(v)
			}
		}
		node.Group = int(attrInt(n, "group", 1))
		if node.Group < 1 || wt.Dims[0]%node.Group != 0 {
			return Node{}, fail("group %d for %d output channels: %w", node.Group, wt.Dims[0], ErrFormat)
		}
		if len(node.Inputs) > 2 {
			if b := w[node.Inputs[2]]; b.Len() != wt.Dims[0] {
				return Node{}, fail("bias of %d values for %d output channels: %w", b.Len(), wt.Dims[0], ErrFormat)
			}
		}
	case "BatchNormalization":
		if attrInt(n, "training_mode", 0) != 0 {
			return Node{}, fail("training_mode 1: %w", ErrUnsupported)
		}
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		for i, what := range []string{"scale", "bias", "mean", "var"} {
			if err := weight(i+1, what); err != nil {
				return Node{}, err
			}
		}
		c := w[ins[1]].Len()
		for _, x := range ins[2:5] {
			if w[x].Len() != c {
				return Node{}, fail("parameter %q has %d values, want %d: %w", x, w[x].Len(), c, ErrFormat)
			}
		}
		node.Inputs = slices.Clone(ins[:5])
		node.Epsilon = attrFloat(n, "epsilon", 1e-5)
	case "Relu", "GlobalAveragePool", "Identity", "Flatten":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0]}
		if op == "Flatten" {
			node.Axis = int(attrInt(n, "axis", 1))
		}
	case "Clip":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0]}
		node.Min, node.Max = float32(math.Inf(-1)), float32(math.Inf(1))
		if m.opset < 11 {
			node.Min = attrFloat(n, "min", -math.MaxFloat32)
			node.Max = attrFloat(n, "max", math.MaxFloat32)
		}
		for i, dst := range []*float32{&node.Min, &node.Max} {
			if i+1 >= len(ins) || ins[i+1] == "" {
				continue
			}
			if !f.isConst(ins[i+1]) {
				return Node{}, fail("bound %q is computed at run time: %w", ins[i+1], ErrUnsupported)
			}
			t, err := f.floats(ins[i+1])
			if err != nil {
				return Node{}, fail("bound %q: %w", ins[i+1], err)
			}
			if t.Len() != 1 {
				return Node{}, fail("bound %q has %d values, want 1: %w", ins[i+1], t.Len(), ErrFormat)
			}
			*dst = t.Data[0]
		}
	case "Add":
		if len(ins) != 2 {
			return Node{}, fail("%d inputs, want 2: %w", len(ins), ErrFormat)
		}
		node.Inputs = slices.Clone(ins)
		consts := 0
		for i := range ins {
			if f.isConst(ins[i]) {
				consts++
				if err := weight(i, "addend"); err != nil {
					return Node{}, err
				}
			}
		}
		if consts == 2 {
			return Node{}, fail("both inputs are constant: %w", ErrFormat)
		}
	case "ReduceMean":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0]}
		node.KeepDims = attrInt(n, "keepdims", 1) != 0
		if node.Axes, err = axes("only the mean over the spatial axes is supported"); err != nil {
			return Node{}, err
		}
	case "Squeeze":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0]}
		if node.Axes, err = axes(""); err != nil {
			return Node{}, err
		}
	case "Reshape":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0]}
		shape, ok, err := constInts(1)
		if err != nil {
			return Node{}, err
		}
		if !ok {
			return Node{}, fail("no shape input: %w", ErrFormat)
		}
		if attrInt(n, "allowzero", 0) != 0 && slices.Contains(shape, 0) {
			return Node{}, fail("allowzero with a zero dimension: %w", ErrUnsupported)
		}
		node.Shape = shape
	case "Concat":
		a := attr(n, "axis")
		if a == nil {
			return Node{}, fail("no axis: %w", ErrFormat)
		}
		node.Axis = int(a.GetI())
		for i := range ins {
			if err := runtime(i); err != nil {
				return Node{}, err
			}
		}
		node.Inputs = slices.Clone(ins)
	case "Gemm", "MatMul":
		if err := runtime(0); err != nil {
			return Node{}, err
		}
		if err := weight(1, "weight"); err != nil {
			return Node{}, err
		}
		node.Inputs = []string{ins[0], ins[1]}
		node.Alpha, node.Beta = 1, 1
		if op == "Gemm" {
			node.Alpha = attrFloat(n, "alpha", 1)
			node.Beta = attrFloat(n, "beta", 1)
			node.TransA = attrInt(n, "transA", 0) != 0
			node.TransB = attrInt(n, "transB", 0) != 0
			if node.TransA {
				return Node{}, fail("transA 1 on a run-time input: %w", ErrUnsupported)
			}
			if len(ins) > 2 && ins[2] != "" {
				if err := weight(2, "bias"); err != nil {
					return Node{}, err
				}
				node.Inputs = append(node.Inputs, ins[2])
			}
		}
		if d := w[ins[1]].Dims; len(d) != 2 {
			return Node{}, fail("weight of rank %d, want 2: %w", len(d), ErrUnsupported)
		}
	}
	return node, nil
}
