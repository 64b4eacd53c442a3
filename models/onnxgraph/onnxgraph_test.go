package onnxgraph

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/asvp-dev/asvp/internal/orttest"
	"github.com/asvp-dev/asvp/models/onnxpb"
)

func TestMain(m *testing.M) {
	orttest.Main(m)
}

// defaultModelPath is the backbone that `make setup` installs.
func defaultModelPath(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join("..", "..", "third_party", "models", "mobilenet_v2-nsfwjs.onnx")
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("default backbone missing (run make setup): %v", err)
	}
	return p
}

func nodeNames(t *Tail) []string {
	var names []string
	for _, n := range t.Nodes {
		names = append(names, n.Name)
	}
	return names
}

func TestCutSmallNet(t *testing.T) {
	tests := []struct {
		name       string
		op         string // the operator between conv b and the pool
		cut        string
		outputs    []string
		wantInput  string
		wantFrozen []string
		wantNodes  []string
		wantErr    []string // substrings of the error
		wantIs     error
	}{
		{name: "relu tail with a frozen branch", op: "Relu", cut: "ra", outputs: []string{"cat"},
			wantInput: "ra", wantFrozen: []string{"qf"}, wantNodes: []string{"b", "act", "p", "out", "cat"}},
		{name: "two outputs", op: "Relu", cut: "ra", outputs: []string{"out", "cat"},
			wantInput: "ra", wantFrozen: []string{"qf"}, wantNodes: []string{"b", "act", "p", "out", "cat"}},
		{name: "cut by node name", op: "Relu", cut: "relu_node", outputs: []string{"out"},
			wantInput: "ra", wantNodes: []string{"b", "act", "p", "out"}},
		{name: "cut at the graph input", op: "Relu", cut: "x", outputs: []string{"cat"},
			wantInput: "x", wantNodes: []string{"a", "relu_node", "b", "act", "p", "out", "q", "qf", "cat"}},
		{name: "sigmoid above the cut", op: "Sigmoid", cut: "ra", outputs: []string{"out"},
			wantErr: []string{`node "act"`, "Sigmoid"}, wantIs: ErrUnsupported},
		{name: "maxpool above the cut", op: "MaxPool", cut: "ra", outputs: []string{"out"},
			wantErr: []string{`node "act"`, "MaxPool"}, wantIs: ErrUnsupported},
		{name: "maxpool below the cut", op: "MaxPool", cut: "act", outputs: []string{"out"},
			wantInput: "act", wantNodes: []string{"p", "out"}},
		{name: "output below the cut", op: "Relu", cut: "ra", outputs: []string{"qf"},
			wantErr: []string{`"qf" does not depend on the cut`}},
		{name: "output is the cut", op: "Relu", cut: "ra", outputs: []string{"ra"},
			wantErr: []string{"is the cut itself"}},
		{name: "unknown cut", op: "Relu", cut: "nope", outputs: []string{"out"},
			wantErr: []string{`"nope"`}, wantIs: ErrNotFound},
		{name: "unknown output", op: "Relu", cut: "ra", outputs: []string{"nope"},
			wantErr: []string{`"nope"`}, wantIs: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := smallNet(tc.op)
			b.g.Node[1].Name = "relu_node"
			tail, err := b.model(t).Cut(tc.cut, tc.outputs)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Cut succeeded, want an error containing %q", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("error %q is not %v", err, tc.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tail.Input != tc.wantInput || !slices.Equal(tail.Frozen, tc.wantFrozen) || !slices.Equal(nodeNames(tail), tc.wantNodes) {
				t.Errorf("got input %q frozen %q nodes %q; want %q %q %q", tail.Input, tail.Frozen, nodeNames(tail),
					tc.wantInput, tc.wantFrozen, tc.wantNodes)
			}
			for _, n := range tail.Nodes {
				for _, in := range n.Inputs {
					if _, w := tail.Weights[in]; !w && in != tail.Input && !slices.Contains(tail.Frozen, in) &&
						!slices.ContainsFunc(tail.Nodes, func(m Node) bool { return m.Output == in }) {
						t.Errorf("node %q reads %q, which is neither a weight, an input nor a node output", n.Name, in)
					}
				}
			}
		})
	}
}

func TestCutDecodesAttributes(t *testing.T) {
	b := smallNet("Relu")
	b.g.Node[0].Attribute = append(b.g.Node[0].Attribute, intsAttr("strides", 2, 1))
	b.g.Node[0].Attribute[0] = intsAttr("pads", 0, 1, 2, 1)
	tail, err := b.model(t).Cut("x", []string{"out"})
	if err != nil {
		t.Fatal(err)
	}
	a := tail.Nodes[0]
	if a.Kernel != [2]int{3, 3} || a.Strides != [2]int{2, 1} || a.Pads != [4]int{0, 1, 2, 1} || a.Group != 1 {
		t.Errorf("conv a decoded as kernel %v strides %v pads %v group %d", a.Kernel, a.Strides, a.Pads, a.Group)
	}
	if w := tail.Weights["wa"]; !slices.Equal(w.Dims, []int{4, 2, 3, 3}) || !slices.Equal(w.Data, seq(72, 0.1)) {
		t.Errorf("weight wa: dims %v", w.Dims)
	}
	if _, ok := tail.Weights["ba"]; !ok {
		t.Error("bias ba missing from the weights")
	}
}

func TestCutRejectsBadConv(t *testing.T) {
	tests := []struct {
		name string
		attr *onnxpb.AttributeProto
		want string
	}{
		{"dilation", intsAttr("dilations", 2, 2), "dilation"},
		{"auto pad", &onnxpb.AttributeProto{Name: "auto_pad", Type: onnxpb.AttributeProto_STRING, S: []byte("SAME_UPPER")}, "auto_pad"},
		{"group", intAttr("group", 3), "group"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := smallNet("Relu")
			b.g.Node[0].Attribute = append(b.g.Node[0].Attribute, tc.attr)
			_, err := b.model(t).Cut("x", []string{"out"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `node "a"`) {
				t.Errorf("got %v, want an error about %s naming node a", err, tc.want)
			}
		})
	}
}

// TestFoldDequantize checks that a weight computed by DequantizeLinear from
// quantized initializers (per tensor and per axis) becomes a float weight.
func TestFoldDequantize(t *testing.T) {
	q := []byte{0, 10, 128, 255, 3, 7, 200, 100}
	tests := []struct {
		name   string
		dtype  onnxpb.TensorProto_DataType
		scale  []float32
		zp     []int32
		axis   int64
		expect func(i int) float32
	}{
		{"uint8 per tensor", onnxpb.TensorProto_UINT8, []float32{0.5}, []int32{128}, 1,
			func(i int) float32 { return (float32(q[i]) - 128) * 0.5 }},
		{"int8 per output channel", onnxpb.TensorProto_INT8, []float32{0.25, 2}, []int32{1, -2}, 0,
			func(i int) float32 {
				k := i / 4
				return (float32(int8(q[i])) - float32([]int32{1, -2}[k])) * []float32{0.25, 2}[k]
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(17)
			b.input("x", -1, 4, 3, 3)
			b.g.Initializer = append(b.g.Initializer,
				&onnxpb.TensorProto{Name: "wq", Dims: []int64{2, 4, 1, 1}, DataType: int32(tc.dtype), RawData: q},
				&onnxpb.TensorProto{Name: "zp", Dims: []int64{int64(len(tc.zp))}, DataType: int32(tc.dtype), Int32Data: tc.zp})
			b.floats("scale", []int64{int64(len(tc.scale))}, tc.scale)
			b.node("DequantizeLinear", "dq", []string{"wq", "scale", "zp"}, []string{"w"}, intAttr("axis", tc.axis))
			b.node("Conv", "conv", []string{"x", "w"}, []string{"y"})
			b.output("y", -1, 2, 3, 3)
			tail, err := b.model(t).Cut("x", []string{"y"})
			if err != nil {
				t.Fatal(err)
			}
			w := tail.Weights["w"]
			if w == nil || !slices.Equal(w.Dims, []int{2, 4, 1, 1}) {
				t.Fatalf("weight w = %+v, want dims [2 4 1 1]", w)
			}
			for i, v := range w.Data {
				if v != tc.expect(i) {
					t.Errorf("w[%d] = %g, want %g", i, v, tc.expect(i))
				}
			}
		})
	}
}

func TestCutClipBounds(t *testing.T) {
	tests := []struct {
		name     string
		opset    int64
		inputs   []string
		attrs    []*onnxpb.AttributeProto
		min, max float32
	}{
		{"attributes (opset 6)", 6, []string{"x"}, []*onnxpb.AttributeProto{floatAttr("min", 0), floatAttr("max", 6)}, 0, 6},
		{"constant inputs", 13, []string{"x", "lo", "hi"}, nil, -1, 6},
		{"min only", 13, []string{"x", "lo"}, nil, -1, float32(math.Inf(1))},
		{"max only", 13, []string{"x", "", "hi"}, nil, float32(math.Inf(-1)), 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(tc.opset)
			b.input("x", -1, 3)
			b.floats("lo", nil, []float32{-1})
			b.floats("hi", nil, []float32{6})
			b.node("Clip", "clip", tc.inputs, []string{"y"}, tc.attrs...)
			b.output("y", -1, 3)
			tail, err := b.model(t).Cut("x", []string{"y"})
			if err != nil {
				t.Fatal(err)
			}
			n := tail.Nodes[0]
			if n.Min != tc.min || n.Max != tc.max || !slices.Equal(n.Inputs, []string{"x"}) || len(tail.Weights) != 0 {
				t.Errorf("got min %g max %g inputs %q weights %d; want %g %g [x] 0", n.Min, n.Max, n.Inputs, len(tail.Weights), tc.min, tc.max)
			}
		})
	}
}

// TestCutDefaultBackbone cuts the default backbone at the two cut points
// the fine-tuning pilot uses.
func TestCutDefaultBackbone(t *testing.T) {
	m, err := ReadFile(defaultModelPath(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cut        string
		wantFrozen []string
		convs      int
		adds       int
	}{
		{"block_12_add", []string{"pool/block_10_project_BN/flat"}, 12, 2},
		{"block_9_add", nil, 21, 4},
	}
	for _, tc := range tests {
		t.Run(tc.cut, func(t *testing.T) {
			tail, err := m.Cut(tc.cut, []string{"pool_blocks_10_13_16"})
			if err != nil {
				t.Fatal(err)
			}
			if tail.Input != tc.cut || !slices.Equal(tail.Frozen, tc.wantFrozen) {
				t.Errorf("input %q frozen %q, want %q %q", tail.Input, tail.Frozen, tc.cut, tc.wantFrozen)
			}
			ops := map[string]int{}
			for _, n := range tail.Nodes {
				ops[n.Op]++
				if n.Op == "Clip" && (n.Min != 0 || n.Max != 6) {
					t.Errorf("clip %q bounds %g, %g, want 0, 6", n.Name, n.Min, n.Max)
				}
			}
			if ops["Conv"] != tc.convs || ops["Add"] != tc.adds || ops["Concat"] != 1 {
				t.Errorf("ops %v, want %d Conv, %d Add, 1 Concat", ops, tc.convs, tc.adds)
			}
			if last := tail.Nodes[len(tail.Nodes)-1]; last.Output != "pool_blocks_10_13_16" {
				t.Errorf("last node %q, want the output's", last.Name)
			}
		})
	}
}

// TestAddOutputsORT checks that ONNX Runtime accepts a model with the cut
// and frozen inputs added as outputs and returns them from one pass.
func TestAddOutputsORT(t *testing.T) {
	orttest.Require(t)
	t.Run("small net", func(t *testing.T) {
		b := smallNet("Relu")
		data, err := AddOutputs(b.bytes(t), "ra", "qf", "out")
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 2*2*5*5)
		for i := range x {
			x[i] = float32(i%11) - 5
		}
		res := runORT(t, data, "x", []int64{2, 2, 5, 5}, x, []string{"ra", "qf", "cat"})
		if !slices.Equal(res["ra"].shape, []int64{2, 4, 5, 5}) || !slices.Equal(res["qf"].shape, []int64{2, 2}) {
			t.Fatalf("shapes ra %v qf %v", res["ra"].shape, res["qf"].shape)
		}
		for k, v := range res["qf"].data { // qf is the per-channel mean of x
			var s float32
			for _, e := range x[k*25 : (k+1)*25] {
				s += e
			}
			if math.Abs(float64(v-s/25)) > 1e-5 {
				t.Errorf("qf[%d] = %g, want %g", k, v, s/25)
			}
		}
	})
	t.Run("default backbone", func(t *testing.T) {
		raw, err := os.ReadFile(defaultModelPath(t))
		if err != nil {
			t.Fatal(err)
		}
		extra := []string{"block_12_add", "pool/block_10_project_BN/flat", "block_9_add"}
		data, err := AddOutputs(raw, extra...)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Outputs(); !slices.Equal(got[len(got)-3:], extra) {
			t.Fatalf("outputs %q", got)
		}
		if s, _ := m.Shape("block_12_add", nil); !slices.Equal(s, []int{-1, 96, -1, -1}) {
			t.Errorf("declared shape of block_12_add %v, want [-1 96 -1 -1]", s)
		}
		for name, want := range map[string][]int{"block_12_add": {-1, 96, 6, 6}, "block_9_add": {-1, 64, 6, 6},
			"block_13_depthwise_BN": {-1, 576, 3, 3}, "pool_blocks_10_13_16": {-1, 576}} {
			if s, _ := m.Shape(name, map[string][]int{"input": {-1, 96, 96, 3}}); !slices.Equal(s, want) {
				t.Errorf("shape of %s at 96x96 is %v, want %v", name, s, want)
			}
		}
		x := make([]float32, 3*96*96*3)
		for i := range x {
			x[i] = float32(i%255) / 255
		}
		res := runORT(t, data, "input", []int64{3, 96, 96, 3}, x, append([]string{"pool_blocks_10_13_16"}, extra...))
		want := map[string][]int64{"block_12_add": {3, 96, 6, 6}, "pool/block_10_project_BN/flat": {3, 96}, "block_9_add": {3, 64, 6, 6}}
		for name, s := range want {
			if !slices.Equal(res[name].shape, s) {
				t.Errorf("%s has shape %v, want %v", name, res[name].shape, s)
			}
		}
		// The first 96 pooled features are block 10's pooled vector.
		for i := range 3 {
			for j := range 96 {
				a, b := res["pool_blocks_10_13_16"].data[i*576+j], res["pool/block_10_project_BN/flat"].data[i*96+j]
				if a != b {
					t.Fatalf("sample %d feature %d: pooled %g, frozen input %g", i, j, a, b)
				}
			}
		}
	})
}

type ortResult struct {
	shape []int64
	data  []float32
}

func runORT(t *testing.T, model []byte, input string, shape []int64, x []float32, outputs []string) map[string]ortResult {
	t.Helper()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{input}, outputs, nil)
	if err != nil {
		t.Fatalf("onnxruntime rejects the model: %v", err)
	}
	defer s.Destroy()
	in, err := ort.NewTensor(ort.NewShape(shape...), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(outputs))
	if err := s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	res := map[string]ortResult{}
	for i, v := range outs {
		tv := v.(*ort.Tensor[float32])
		res[outputs[i]] = ortResult{shape: slices.Clone(tv.GetShape()), data: slices.Clone(tv.GetData())}
		v.Destroy()
	}
	return res
}

// FuzzParseCut feeds arbitrary bytes to Parse and, when they parse, cuts
// at every tensor: neither may panic.
func FuzzParseCut(f *testing.F) {
	f.Add(smallNet("Relu").bytes(f))
	f.Add(smallNet("Sigmoid").bytes(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		for _, name := range m.Outputs() {
			for _, n := range m.nodes {
				for _, o := range n.GetOutput() {
					_, _ = m.Cut(o, []string{name})
				}
			}
		}
		_, _ = AddOutputs(data, m.Outputs()...)
	})
}
