package tfjs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"

	"github.com/asvp-dev/asvp/internal/orttest"
	"github.com/asvp-dev/asvp/models/onnxpb"
)

func TestMain(m *testing.M) {
	flag.Parse()
	orttest.Main(m)
}

func nsfwjsDir() string {
	if d := os.Getenv("ASVP_NSFWJS_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "third_party", "nsfwjs", "package", "dist", "models", "mobilenet_v2")
}

var nsfwjs struct {
	once  sync.Once
	model *Model
	conv  *Converted
	dur   time.Duration
	err   error
}

// convertedNSFWJS reads and converts the real nsfwjs model once per test binary.
func convertedNSFWJS(tb testing.TB) (*Model, *Converted) {
	tb.Helper()
	nsfwjs.once.Do(func() {
		start := time.Now()
		m, err := ReadDir(nsfwjsDir())
		if err != nil {
			nsfwjs.err = err
			return
		}
		nsfwjs.model = m
		nsfwjs.conv, nsfwjs.err = m.Convert(Options{Source: NSFWJSSource})
		nsfwjs.dur = time.Since(start)
	})
	if nsfwjs.err != nil {
		tb.Fatalf("nsfwjs model missing or unreadable (run make setup, or set ASVP_NSFWJS_DIR): %v", nsfwjs.err)
	}
	return nsfwjs.model, nsfwjs.conv
}

// ortSession wraps a dynamic session over a converted model.
type ortSession struct {
	s     *ort.DynamicAdvancedSession
	names []string
}

func newORTSession(tb testing.TB, c *Converted, threads int) *ortSession {
	tb.Helper()
	orttest.Require(tb)
	opts, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			tb.Fatal(err)
		}
		if err := opts.SetInterOpNumThreads(1); err != nil {
			tb.Fatal(err)
		}
	}
	var names []string
	for _, o := range c.Outputs {
		names = append(names, o.Name)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(c.ONNX, []string{InputName}, names, opts)
	if err != nil {
		tb.Fatalf("onnxruntime rejects the converted model: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Destroy(); err != nil {
			tb.Errorf("destroy session: %v", err)
		}
	})
	return &ortSession{s: s, names: names}
}

// run runs NHWC input x of n images of size h x w and returns each output's data.
func (o *ortSession) run(tb testing.TB, x []float32, n, h, w int) map[string][]float32 {
	tb.Helper()
	in, err := ort.NewTensor(ort.NewShape(int64(n), int64(h), int64(w), 3), x)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(o.names))
	if err := o.s.Run([]ort.Value{in}, outs); err != nil {
		tb.Fatalf("onnxruntime run: %v", err)
	}
	res := map[string][]float32{}
	for i, v := range outs {
		t, ok := v.(*ort.Tensor[float32])
		if !ok {
			tb.Fatalf("output %s is %T, want float32 tensor", o.names[i], v)
		}
		res[o.names[i]] = append([]float32(nil), t.GetData()...)
		if err := v.Destroy(); err != nil {
			tb.Errorf("destroy output: %v", err)
		}
	}
	return res
}

// refInputs returns testdata/ref_inputs.bin scaled to [0, 1] and the image count.
func refInputs(tb testing.TB) ([]float32, int) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "ref_inputs.bin"))
	if err != nil {
		tb.Fatal(err)
	}
	const per = 224 * 224 * 3
	if len(raw) == 0 || len(raw)%per != 0 {
		tb.Fatalf("ref_inputs.bin: %d bytes, want a multiple of %d", len(raw), per)
	}
	x := make([]float32, len(raw))
	for i, b := range raw {
		x[i] = float32(b) / 255
	}
	return x, len(raw) / per
}

func TestNSFWJSConversionPinned(t *testing.T) {
	m, c := convertedNSFWJS(t)
	if m.SourceSHA256 != NSFWJSMobileNetV2SourceSHA256 {
		t.Errorf("source sha256 = %s, want %s", m.SourceSHA256, NSFWJSMobileNetV2SourceSHA256)
	}
	sum := sha256.Sum256(c.ONNX)
	if got := hex.EncodeToString(sum[:]); got != NSFWJSMobileNetV2ONNXSHA256 {
		t.Errorf("onnx sha256 = %s, want %s", got, NSFWJSMobileNetV2ONNXSHA256)
	}
	t.Logf("converted %d bytes in %v", len(c.ONNX), nsfwjs.dur)
	// A fresh read and conversion gives the same bytes.
	m2, err := ReadDir(nsfwjsDir())
	if err != nil {
		t.Fatal(err)
	}
	b2, err := m2.ToONNX(Options{Source: NSFWJSSource})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2, c.ONNX) {
		t.Error("second conversion gave different bytes")
	}
	wantDims := map[string]int{"probs": 5, "pool_final": 1280, "pool_block_13": 160, "pool_block_16": 320, "pool_blocks_10_13_16": 576}
	for _, o := range c.Outputs {
		if o.Dim != wantDims[o.Name] {
			t.Errorf("output %s dim %d, want %d", o.Name, o.Dim, wantDims[o.Name])
		}
	}
}

// TestNSFWJSMatchesTFJS compares ONNX Runtime on the converted model with
// @tensorflow/tfjs's CPU backend on the original (testdata/ref_outputs.json,
// made by tools/tfjs-reference/reference.js).
func TestNSFWJSMatchesTFJS(t *testing.T) {
	const absTol, relTol = 1e-4, 1e-3 // |got-want| <= absTol + relTol*|want|
	_, c := convertedNSFWJS(t)
	s := newORTSession(t, c, 0)
	x, n := refInputs(t)
	got := s.run(t, x, n, 224, 224)
	ref := refOutputs(t)
	for _, o := range c.Outputs {
		want := ref.Outputs[o.Name]
		if len(want) != n {
			t.Fatalf("%s: reference has %d rows, want %d", o.Name, len(want), n)
		}
		g := got[o.Name]
		if len(g) != n*o.Dim {
			t.Fatalf("%s: got %d values, want %d", o.Name, len(g), n*o.Dim)
		}
		maxAbs := 0.0
		for i := range n {
			if len(want[i]) != o.Dim {
				t.Fatalf("%s: reference row %d has %d values, want %d", o.Name, i, len(want[i]), o.Dim)
			}
			for j, w := range want[i] {
				d := math.Abs(float64(g[i*o.Dim+j]) - w)
				maxAbs = math.Max(maxAbs, d)
				if !(d <= absTol+relTol*math.Abs(w)) {
					t.Errorf("%s[%d][%d] = %g, tfjs %g", o.Name, i, j, g[i*o.Dim+j], w)
				}
			}
		}
		t.Logf("%-22s max |onnx - tfjs| = %.3g", o.Name, maxAbs)
	}
	// probs rows are distributions.
	for i := range n {
		sum := 0.0
		for _, v := range got["probs"][i*5 : i*5+5] {
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("probs row %d sums to %g", i, sum)
		}
	}
}

// TestNSFWJSBatchIndependence checks that a row's outputs do not depend on
// its batch-mates: a batch of 3 equals the same images run one by one.
func TestNSFWJSBatchIndependence(t *testing.T) {
	_, c := convertedNSFWJS(t)
	s := newORTSession(t, c, 0)
	x, n := refInputs(t)
	if n < 3 {
		t.Fatalf("need 3 reference images, have %d", n)
	}
	const per = 224 * 224 * 3
	batch := s.run(t, x[:3*per], 3, 224, 224)
	for i := range 3 {
		one := s.run(t, x[i*per:(i+1)*per], 1, 224, 224)
		for _, o := range c.Outputs {
			row := batch[o.Name][i*o.Dim : (i+1)*o.Dim]
			for j, v := range one[o.Name] {
				if d := math.Abs(float64(v - row[j])); d > 1e-5+1e-5*math.Abs(float64(v)) {
					t.Fatalf("%s image %d feature %d: alone %g, in batch %g", o.Name, i, j, v, row[j])
				}
			}
		}
	}
}

// TestNSFWJSOtherSizes checks that inputs of other multiples of 32 run and
// give outputs of the declared widths, with probabilities that sum to 1.
func TestNSFWJSOtherSizes(t *testing.T) {
	_, c := convertedNSFWJS(t)
	s := newORTSession(t, c, 0)
	r := rand.New(rand.NewPCG(1, 2))
	for _, hw := range [][2]int{{96, 96}, {160, 128}} {
		x := make([]float32, 2*hw[0]*hw[1]*3)
		for i := range x {
			x[i] = r.Float32()
		}
		got := s.run(t, x, 2, hw[0], hw[1])
		for _, o := range c.Outputs {
			if len(got[o.Name]) != 2*o.Dim {
				t.Errorf("%dx%d %s: %d values, want %d", hw[0], hw[1], o.Name, len(got[o.Name]), 2*o.Dim)
			}
		}
		p := got["probs"]
		if sum := p[0] + p[1] + p[2] + p[3] + p[4]; math.Abs(float64(sum)-1) > 1e-5 {
			t.Errorf("%dx%d: probs sum to %g", hw[0], hw[1], sum)
		}
	}
}

// BenchmarkORTMobileNetV2 measures ONNX Runtime throughput of the converted
// model (batch 32, 2 intra-op threads) at several input sizes.
func BenchmarkORTMobileNetV2(b *testing.B) {
	_, c := convertedNSFWJS(b)
	const batch = 32
	for _, size := range []int{96, 128, 160, 224} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			s := newORTSession(b, c, 2)
			r := rand.New(rand.NewPCG(uint64(size), 7))
			x := make([]float32, batch*size*size*3)
			for i := range x {
				x[i] = r.Float32()
			}
			s.run(b, x, batch, size, size) // warm-up
			b.ResetTimer()
			for b.Loop() {
				s.run(b, x, batch, size, size)
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// TestNSFWJSUnfoldedPaths requests the outputs of a ZeroPadding2D and of a
// convolution, which stops the converter from folding them (a Pad node, and
// BatchNormalization as Mul and Add), and checks the results still match tfjs.
func TestNSFWJSUnfoldedPaths(t *testing.T) {
	m, _ := convertedNSFWJS(t)
	c, err := m.Convert(Options{Source: NSFWJSSource, Outputs: []OutputSpec{
		{Name: "probs", Layers: []string{"dense_3"}},
		{Name: "pad", Layers: []string{"Conv1_pad"}},
		{Name: "conv13", Layers: []string{"block_13_project"}},
		{Name: "pool_block_13", Layers: []string{"block_13_project_BN"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(c.ONNX, &mp); err != nil {
		t.Fatal(err)
	}
	ops := map[string]string{}
	for _, nd := range mp.GetGraph().GetNode() {
		ops[nd.GetName()] = nd.GetOpType()
	}
	if ops["Conv1_pad"] != "Pad" || ops["block_13_project_BN/scale"] != "Mul" || ops["block_13_project_BN"] != "Add" {
		t.Fatalf("unfolded nodes missing: Conv1_pad %q, block_13_project_BN/scale %q", ops["Conv1_pad"], ops["block_13_project_BN/scale"])
	}
	s := newORTSession(t, c, 0)
	x, n := refInputs(t)
	got := s.run(t, x, n, 224, 224)
	ref := refOutputs(t)
	for _, name := range []string{"probs", "pool_block_13"} {
		want := ref.Outputs[name]
		d := len(want[0])
		for i := range n {
			for j, w := range want[i] {
				if v := float64(got[name][i*d+j]); math.Abs(v-w) > 1e-4+1e-3*math.Abs(w) {
					t.Fatalf("%s[%d][%d] = %g, tfjs %g", name, i, j, v, w)
				}
			}
		}
	}
	// The padded input keeps its 3 channels; its mean over the padded map is
	// the image mean scaled by 224²/225².
	for i := range n {
		for ch := range 3 {
			sum := 0.0
			for p := range 224 * 224 {
				sum += float64(x[(i*224*224+p)*3+ch])
			}
			want := sum / (225 * 225)
			if v := float64(got["pad"][i*3+ch]); math.Abs(v-want) > 1e-5 {
				t.Errorf("pad mean image %d channel %d = %g, want %g", i, ch, v, want)
			}
		}
	}
}

// tfjsReference is testdata/ref_outputs.json: the outputs @tensorflow/tfjs
// computed for refInputs, by output name, one row per image.
type tfjsReference struct {
	Outputs map[string][][]float64 `json:"outputs"`
}

// refOutputs reads testdata/ref_outputs.json.
func refOutputs(t *testing.T) (ref tfjsReference) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ref_outputs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}
