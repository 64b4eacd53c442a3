package export

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/internal/orttest"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/models/onnxpb"
	"github.com/asvp-dev/asvp/models/tail"
)

const (
	thirdParty = "../../third_party"
	tuneCut    = "block_12_add" // the default card's TuneFrom
)

// defaultBackbone returns the default card and its model's bytes.
func defaultBackbone(tb testing.TB) (models.Card, []byte) {
	tb.Helper()
	card := models.BuiltinCards()[0]
	data, err := os.ReadFile(filepath.Join(thirdParty, "models", card.File))
	if err != nil {
		tb.Fatalf("default backbone missing (run make setup): %v", err)
	}
	return card, data
}

// cutTail cuts the default backbone at tuneCut for the card's default
// output and returns the tail and the per-sample shapes of its sources.
func cutTail(tb testing.TB, card models.Card, backbone []byte) (*onnxgraph.Tail, []int, [][]int) {
	tb.Helper()
	m, err := onnxgraph.Parse(backbone)
	if err != nil {
		tb.Fatal(err)
	}
	tl, err := m.Cut(tuneCut, []string{card.DefaultOutput})
	if err != nil {
		tb.Fatal(err)
	}
	var shapes [][]int
	for _, s := range tl.Sources() {
		sh, ok := m.Shape(s, map[string][]int{card.Input: {-1, card.Height, card.Width, 3}})
		if !ok || slices.Contains(sh[1:], -1) {
			tb.Fatalf("shape of %s: %v", s, sh)
		}
		shapes = append(shapes, sh[1:])
	}
	return tl, shapes[0], shapes[1:]
}

// realRun is what ONNX Runtime computes for n Fashion-MNIST test images
// through the default backbone: their preprocessed pixels, the backbone's
// own features, and the tail's float32 inputs (cut activation and frozen
// inputs).
type realRun struct {
	card     models.Card
	backbone []byte
	net      *tail.Net // the untrained tail, without BatchNorms
	pixels   []float32
	features []float32
	acts     finetune.Activations
	labels   []int
	classes  int
}

func runReal(t *testing.T, n int) *realRun {
	t.Helper()
	orttest.Require(t)
	card, backbone := defaultBackbone(t)
	tl, input, frozen := cutTail(t, card, backbone)
	net, err := tail.New(tl, input, frozen)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.Open("fashion-mnist:test", datasets.Options{})
	if err != nil {
		t.Fatalf("fashion-mnist (run make setup): %v", err)
	}
	r := &realRun{card: card, backbone: backbone, net: net, acts: finetune.Activations{Rows: n}, classes: len(ds.Classes())}
	per := card.Height * card.Width * 3
	r.pixels = make([]float32, n*per)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		r.labels = append(r.labels, ds.Sample(i).Label)
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, err := ds.Image(i)
			if err != nil {
				errs[i] = err
				return
			}
			extractor.Preprocess(card, img, r.pixels[i*per:(i+1)*per])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sess, err := extractor.OpenSession(nil, card, filepath.Join(thirdParty, "models", card.File), []string{card.DefaultOutput},
		extractor.SessionOptions{Expose: tl.Sources()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sess.Close(); err != nil {
			t.Error(err)
		}
	}()
	res := make([][]float32, 2+len(tl.Frozen))
	const batch = 64
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		out, err := sess.Run(r.pixels[lo*per:hi*per], hi-lo)
		if err != nil {
			t.Fatal(err)
		}
		for k := range res {
			res[k] = append(res[k], out[k]...)
		}
	}
	r.features, r.acts.X, r.acts.Frozen = res[0], res[1], res[2:]
	return r
}

// runExported runs an exported model on n preprocessed NHWC images.
func runExported(t *testing.T, model []byte, card models.Card, pixels []float32, n int) (features, probs []float32) {
	t.Helper()
	in, err := ort.NewTensor(ort.NewShape(int64(n), int64(card.Height), int64(card.Width), 3), pixels)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{card.Input}, []string{FeaturesOutput, ProbsOutput}, nil)
	if err != nil {
		t.Fatalf("ONNX Runtime cannot load the exported model: %v", err)
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

// TestBuildTunedMatchesTuned is the end-to-end test of BuildTuned on the
// default backbone cut at block_12_add, with real images through ONNX
// Runtime: BatchNorms calibrated on 200 Fashion-MNIST images, a fine-tune
// on 100 others with their labels, then the exported model run by ONNX
// Runtime on the raw images of all 300 must give Tuned.Features and
// Tuned.Predict of their float32 activations within 1e-4 (max abs). The
// fine-tuned features must have moved away from the backbone's (so the
// tuned weights are what the file holds); a linear probe leaves the tail
// as it was, and its exported features must be the backbone's own.
func TestBuildTunedMatchesTuned(t *testing.T) {
	const n, calib = 300, 200
	r := runReal(t, n)
	pre, err := finetune.Prepare(r.net, r.acts.Range(0, calib), finetune.PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method string
		// moved says whether the tail's features must differ from the
		// backbone's (by more than 1e-2), else equal them within 1e-4.
		moved bool
	}{
		{finetune.MethodFT, true},
		{finetune.MethodLP, false},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			rec := finetune.DefaultRecipe(tc.method)
			rec.Epochs, rec.Seed = 3, 1
			tuned, stats, err := finetune.Train(pre, rec, r.acts.Range(calib, n), r.labels[calib:], r.classes)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			model, err := BuildTuned(r.backbone, tuned, Options{Metadata: map[string]string{"asvp.run": "test"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: train acc %.2f, final loss %.3f; exported %d bytes (backbone %d) in %v",
				tc.method, stats.TrainAcc, stats.FinalLoss(), len(model), len(r.backbone), time.Since(start).Round(time.Millisecond))

			feats, probs := runExported(t, model, r.card, r.pixels, n)
			wantF, err := tuned.Features(r.acts)
			if err != nil {
				t.Fatal(err)
			}
			wantP, err := tuned.Predict(r.acts)
			if err != nil {
				t.Fatal(err)
			}
			dF, dP, dB := maxAbsDiff(feats, wantF), maxAbsDiff(probs, wantP), maxAbsDiff(feats, r.features)
			t.Logf("%s, %d images: features vs Tuned.Features max abs %.3g (max |feature| %.3g); probs vs Tuned.Predict max abs %.3g; features vs the backbone's max abs %.3g",
				tc.method, n, dF, maxAbs(wantF), dP, dB)
			if dF > 1e-4 {
				t.Errorf("exported features differ from Tuned.Features by %.3g, want <= 1e-4", dF)
			}
			if dP > 1e-4 {
				t.Errorf("exported probs differ from Tuned.Predict by %.3g, want <= 1e-4", dP)
			}
			if tc.moved && dB < 1e-2 {
				t.Errorf("fine-tuned features equal the backbone's (diff %.3g): the tuned weights are not in the file", dB)
			}
			if !tc.moved && dB > 1e-4 {
				t.Errorf("the untuned tail's exported features differ from the backbone's by %.3g, want <= 1e-4", dB)
			}
			if acc := finetune.Accuracy(probs, r.labels, r.classes); acc < 0.2 {
				t.Errorf("exported model's accuracy %.2f on its own data: the head is not applied", acc)
			}
			checkTunedGraph(t, model, tuned)
		})
	}
}

// checkTunedGraph checks the exported graph's interface, that every tail
// weight it reads is a new float32 initializer, and the metadata.
func checkTunedGraph(t *testing.T, model []byte, tuned *finetune.Tuned) {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(model, &m); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, o := range m.Graph.Output {
		outs = append(outs, o.GetName())
	}
	if !slices.Equal(outs, []string{FeaturesOutput, ProbsOutput}) {
		t.Errorf("outputs %v", outs)
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, x := range m.Graph.Initializer {
		inits[x.GetName()] = x
	}
	tuned32 := 0
	producer := map[string]*onnxpb.NodeProto{}
	for _, n := range m.Graph.Node {
		producer[n.Output[0]] = n
		for _, in := range n.Input {
			if strings.HasPrefix(in, tunedPrefix) {
				tuned32++
				if x := inits[in]; x == nil || x.DataType != int32(onnxpb.TensorProto_FLOAT) {
					t.Errorf("node %q reads %q, not a float32 initializer", n.GetName(), in)
				}
			}
		}
	}
	// Every weight of the nodes the features need is a tuned one.
	want := 0
	for _, w := range tuned.Net().EvalWeights() {
		n := producer[w.Node]
		if n == nil {
			continue // a node of another tail output, pruned
		}
		want++
		if w.Name != "" && slices.Contains(n.Input, w.Name) {
			t.Errorf("node %q still reads the backbone's %q", n.GetName(), w.Name)
		}
	}
	if want == 0 || tuned32 != want {
		t.Errorf("%d tuned weights read, want %d", tuned32, want)
	}
	meta := map[string]string{}
	for _, e := range m.MetadataProps {
		meta[e.GetKey()] = e.GetValue()
	}
	if meta["asvp.cut"] != tuneCut || meta["asvp.backbone_output"] != "pool_blocks_10_13_16" || meta["asvp.tail_sha256"] != tuned.Net().Digest() ||
		meta["asvp.method"] != tuned.Recipe.Method || meta["asvp.run"] != "test" || meta["backbone.source"] == "" {
		t.Errorf("metadata %v", meta)
	}
}

func maxAbs(v []float32) float64 {
	var m float64
	for _, x := range v {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

// syntheticTuned returns a one-epoch fine-tune of the default backbone's tail at
// tuneCut trained on random activations: a real Tuned, without ONNX
// Runtime, for the checks that do not run the model.
func syntheticTuned(tb testing.TB) (*finetune.Tuned, []byte) {
	tb.Helper()
	card, backbone := defaultBackbone(tb)
	tl, input, frozen := cutTail(tb, card, backbone)
	net, err := tail.New(tl, input, frozen)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const rows = 16 // the Go tail's float32 products are the portable reference here: slow
	random := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	a := finetune.Activations{X: random(rows * prodInts(input)), Rows: rows}
	for _, f := range frozen {
		a.Frozen = append(a.Frozen, random(rows*prodInts(f)))
	}
	pre, err := finetune.Prepare(net, a, finetune.PrepareOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	y := make([]int, rows)
	for i := range y {
		y[i] = i % 3
	}
	rec := finetune.DefaultRecipe(finetune.MethodFT)
	rec.Epochs = 1
	tuned, _, err := finetune.Train(pre, rec, a, y, 3)
	if err != nil {
		tb.Fatal(err)
	}
	return tuned, backbone
}

func prodInts(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}

// editModel returns backbone with edit applied to its graph.
func editModel(t *testing.T, backbone []byte, edit func(g *onnxpb.GraphProto)) []byte {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(backbone, &m); err != nil {
		t.Fatal(err)
	}
	edit(m.Graph)
	out, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBuildTunedMismatch checks that a backbone other than the tuned
// tail's model is refused with an error that says what differs.
func TestBuildTunedMismatch(t *testing.T) {
	tuned, backbone := syntheticTuned(t)
	if _, err := BuildTuned(backbone, tuned, Options{}); err != nil {
		t.Fatalf("the tail's own backbone: %v", err)
	}
	resnet, err := os.ReadFile(filepath.Join(thirdParty, "models", "resnet18-random-64.onnx"))
	if err != nil {
		t.Fatalf("ResNet-18 test model missing: run make setup-test: %v", err)
	}
	toy, _, _ := toyBackbone(t)
	// The first convolution above the cut: its weight and output.
	tl := tailOf(t, tuned, backbone)
	first := tl.Nodes[slices.IndexFunc(tl.Nodes, func(n onnxgraph.Node) bool { return n.Op == "Conv" })]
	tests := []struct {
		name     string
		backbone []byte
		opts     Options
		is       error
		says     []string
	}{
		{"another model (ResNet-18)", resnet, Options{}, ErrMismatch, []string{`no tensor "block_12_add"`, "cut"}},
		{"another model (toy)", toy, Options{}, ErrMismatch, []string{`"block_12_add"`}},
		{"a tail weight changed", editModel(t, backbone, func(g *onnxpb.GraphProto) {
			for _, x := range g.Initializer {
				if x.GetName() == first.Inputs[1] {
					bumpFirst(t, x)
				}
			}
		}), Options{}, ErrMismatch, []string{"other weights or attributes", tuneCut}},
		{"a tail conv's strides changed", editModel(t, backbone, func(g *onnxpb.GraphProto) {
			for _, n := range g.Node {
				if n.GetOutput()[0] == first.Output {
					n.Attribute = append(slices.DeleteFunc(n.Attribute, func(a *onnxpb.AttributeProto) bool { return a.GetName() == "strides" }),
						&onnxpb.AttributeProto{Name: "strides", Type: onnxpb.AttributeProto_INTS, Ints: []int64{2, 2}})
				}
			}
		}), Options{}, ErrMismatch, []string{"other weights or attributes"}},
		{"a tail tensor renamed", editModel(t, backbone, func(g *onnxpb.GraphProto) {
			renameTensors(g, map[string]string{first.Output: first.Output + "_renamed"})
		}), Options{}, ErrMismatch, []string{first.Output}},
		{"not a model", []byte("garbage"), Options{}, ErrBadBackbone, nil},
		{"another output asked", backbone, Options{Output: "pool_final"}, nil, []string{`"pool_final"`, "pool_blocks_10_13_16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildTuned(tc.backbone, tuned, tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error is not %v", tc.is)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say %q", s)
				}
			}
		})
	}
}

// tailOf cuts backbone as the tuned tail was cut.
func tailOf(t *testing.T, tuned *finetune.Tuned, backbone []byte) *onnxgraph.Tail {
	t.Helper()
	m, err := onnxgraph.Parse(backbone)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := m.Cut(tuned.Net().InputName(), tuned.Net().OutputNames())
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// bumpFirst changes the first value of a float32 initializer.
func bumpFirst(t *testing.T, x *onnxpb.TensorProto) {
	t.Helper()
	switch {
	case x.DataType != int32(onnxpb.TensorProto_FLOAT):
		t.Fatalf("initializer %q has data type %d, the test edits float32 ones", x.GetName(), x.DataType)
	case len(x.RawData) >= 4:
		x.RawData = slices.Clone(x.RawData)
		x.RawData[3] ^= 0x01 // the sign/exponent byte of the first value
	case len(x.FloatData) > 0:
		x.FloatData[0] += 1
	default:
		t.Fatalf("initializer %q is empty", x.GetName())
	}
}

// BenchmarkBuildTuned measures the export of a fine-tuned default
// backbone (cut at block_12_add) and reports the exported file's size.
// On the 2-core test machine (2026-12-01, shared, load ~3): 16.5 ms per
// export; 7,217,350 bytes from the 10,295,402-byte backbone (what the
// features do not need, the final 1280-channel layer and nsfwjs' classifier,
// is dropped; the tail's weights stay float32).
func BenchmarkBuildTuned(b *testing.B) {
	tuned, backbone := syntheticTuned(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = BuildTuned(backbone, tuned, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "bytes")
	b.ReportMetric(float64(len(backbone)), "backbone-bytes")
}
