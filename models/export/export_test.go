package export

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/internal/orttest"
	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/models/onnxpb"
)

func TestMain(m *testing.M) {
	orttest.Main(m)
}

const (
	inDim   = 3
	featDim = 5
)

// toyBackbone is a hand-made backbone: input [N,3] -> feat = input·W + b
// [N,5]; probs = Softmax(feat) (a name the exporter must move aside); and
// unused = Relu(input·V), which no exported output needs.
func toyBackbone(t *testing.T) ([]byte, []float32, []float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	w := make([]float32, inDim*featDim)
	b := make([]float32, featDim)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	tensor := func(name string, dims []int64, v []float32) *onnxpb.TensorProto {
		raw := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(x))
		}
		return &onnxpb.TensorProto{Name: name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw}
	}
	vi := func(name string, n int64) *onnxpb.ValueInfoProto {
		return valueInfo(name, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}, n)
	}
	g := &onnxpb.GraphProto{
		Name: "toy",
		Node: []*onnxpb.NodeProto{
			{OpType: "MatMul", Name: "mm", Input: []string{"input", "W"}, Output: []string{"mm"}},
			{OpType: "Add", Name: "feat", Input: []string{"mm", "b"}, Output: []string{"feat"}},
			{OpType: "Softmax", Name: "probs", Input: []string{"feat"}, Output: []string{"probs"},
				Attribute: []*onnxpb.AttributeProto{{Name: "axis", Type: onnxpb.AttributeProto_INT, I: 1}}},
			{OpType: "MatMul", Name: "mm2", Input: []string{"input", "V"}, Output: []string{"mm2"}},
			{OpType: "Relu", Name: "unused", Input: []string{"mm2"}, Output: []string{"unused"}},
		},
		Initializer: []*onnxpb.TensorProto{
			tensor("W", []int64{inDim, featDim}, w), tensor("b", []int64{featDim}, b),
			tensor("V", []int64{inDim, 2}, make([]float32, inDim*2)),
		},
		Input:  []*onnxpb.ValueInfoProto{vi("input", inDim)},
		Output: []*onnxpb.ValueInfoProto{vi("feat", featDim), vi("probs", featDim), vi("unused", 2)},
	}
	m := &onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}}, Graph: g,
		MetadataProps: []*onnxpb.StringStringEntryProto{{Key: "source", Value: "toy"}}}
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data, w, b
}

// toyFeatures computes the toy backbone's outputs in float64, independently of ONNX Runtime.
func toyFeatures(x []float32, rows int, w, b []float32, softmax bool) []float32 {
	out := make([]float32, rows*featDim)
	for i := range rows {
		row := make([]float64, featDim)
		for j := range featDim {
			s := float64(b[j])
			for k := range inDim {
				s += float64(x[i*inDim+k]) * float64(w[k*featDim+j])
			}
			row[j] = s
		}
		if softmax {
			var z float64
			for j := range row {
				row[j] = math.Exp(row[j])
				z += row[j]
			}
			for j := range row {
				row[j] /= z
			}
		}
		for j, v := range row {
			out[i*featDim+j] = float32(v)
		}
	}
	return out
}

// trainedNet trains a net with a non-identity adapter on features f.
func trainedNet(t *testing.T, f []float32, rows int) *nn.Net {
	t.Helper()
	y := make([]int, rows)
	for i := range rows {
		row := f[i*featDim : (i+1)*featDim]
		y[i] = slices.Index(row, slices.Max(row)) % 3
	}
	r := nn.DefaultRecipe(nn.MethodFT)
	r.Epochs, r.Hidden, r.AdapterLR = 5, 4, 0.1
	net, _, err := nn.Train(r, f, rows, featDim, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	var branch float32
	for _, v := range net.Weights().W2 {
		branch = max(branch, float32(math.Abs(float64(v))))
	}
	if branch == 0 {
		t.Fatal("adapter stayed the identity: the test would not exercise it")
	}
	return net
}

func runORT(t *testing.T, model []byte, x []float32, rows int) (features, probs []float32) {
	t.Helper()
	in, err := ort.NewTensor(ort.NewShape(int64(rows), inDim), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"input"}, []string{FeaturesOutput, ProbsOutput}, nil)
	if err != nil {
		t.Fatalf("ORT cannot load the exported model: %v", err)
	}
	defer s.Destroy()
	outs := []ort.Value{nil, nil}
	if err := s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatal(err)
	}
	defer outs[0].Destroy()
	defer outs[1].Destroy()
	return slices.Clone(outs[0].(*ort.Tensor[float32]).GetData()), slices.Clone(outs[1].(*ort.Tensor[float32]).GetData())
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func TestBuildMatchesNet(t *testing.T) {
	orttest.Require(t)
	backbone, w, b := toyBackbone(t)
	const rows = 64
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, rows*inDim)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, tc := range []struct {
		output  string
		softmax bool
	}{{"feat", false}, {"probs", true}} {
		t.Run(tc.output, func(t *testing.T) {
			f := toyFeatures(x, rows, w, b, tc.softmax)
			net := trainedNet(t, f, rows)
			model, err := Build(backbone, net.Weights(), Options{Output: tc.output, Metadata: map[string]string{"asvp.net": "x"}})
			if err != nil {
				t.Fatal(err)
			}
			feats, probs := runORT(t, model, x, rows)
			wantF := make([]float32, len(f))
			net.Embed(f, rows, wantF)
			if d := maxAbsDiff(feats, wantF); d > 1e-4 {
				t.Errorf("features differ from net.Embed by %g", d)
			}
			if d := maxAbsDiff(probs, net.Predict(f, rows)); d > 1e-4 {
				t.Errorf("probs differ from net.Predict by %g", d)
			}
			// The adapter changed the features, so equality above is not trivial.
			if d := maxAbsDiff(feats, f); d < 1e-3 {
				t.Errorf("features equal the backbone's (diff %g): adapter not applied", d)
			}

			var m onnxpb.ModelProto
			if err := proto.Unmarshal(model, &m); err != nil {
				t.Fatal(err)
			}
			var outs, nodes []string
			for _, o := range m.Graph.Output {
				outs = append(outs, o.GetName())
			}
			for _, n := range m.Graph.Node {
				nodes = append(nodes, n.GetName())
			}
			if !slices.Equal(outs, []string{FeaturesOutput, ProbsOutput}) {
				t.Errorf("outputs %v", outs)
			}
			if slices.Contains(nodes, "unused") || slices.Contains(nodes, "mm2") {
				t.Errorf("unneeded backbone nodes kept: %v", nodes)
			}
			if slices.ContainsFunc(m.Graph.Initializer, func(t *onnxpb.TensorProto) bool { return t.GetName() == "V" }) {
				t.Error("unneeded initializer V kept")
			}
			if tc.output == "feat" && slices.Contains(nodes, "probs") {
				t.Error("backbone softmax kept though feat does not need it")
			}
			meta := map[string]string{}
			for _, e := range m.MetadataProps {
				meta[e.GetKey()] = e.GetValue()
			}
			if meta["backbone.source"] != "toy" || meta["asvp.net"] != "x" || meta["asvp.backbone_output"] != tc.output {
				t.Errorf("metadata %v", meta)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	backbone, _, _ := toyBackbone(t)
	good := nn.NewNet(featDim, 2, 3, 1).Weights()
	wrongDim := nn.NewNet(featDim+1, 2, 3, 1).Weights()
	short := good
	short.B1 = short.B1[:1]
	tests := []struct {
		name     string
		backbone []byte
		w        nn.Weights
		output   string
		sentinel bool
	}{
		{"garbage bytes", []byte("not a model at all"), good, "feat", true},
		{"empty", nil, good, "feat", true},
		{"no such output", backbone, good, "pool", true},
		{"no output named", backbone, good, "", true},
		{"dimension mismatch", backbone, wrongDim, "feat", true},
		{"inconsistent weights", backbone, short, "feat", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.backbone, tt.w, Options{Output: tt.output})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.sentinel != errors.Is(err, ErrBadBackbone) {
				t.Fatalf("errors.Is(ErrBadBackbone) = %v: %v", !tt.sentinel, err)
			}
		})
	}
}

func TestTranspose(t *testing.T) {
	// [[1 2 3] [4 5 6]] -> [[1 4] [2 5] [3 6]]
	got := transpose([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	if !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Fatalf("transpose = %v", got)
	}
}
