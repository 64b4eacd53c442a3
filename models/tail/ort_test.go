package tail

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/internal/half"
	"github.com/asvp-dev/asvp/internal/orttest"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/onnxgraph"
)

func TestMain(m *testing.M) {
	orttest.Main(m)
}

const thirdParty = "../../third_party"

// defaultBackbone returns the default card and its installed file.
func defaultBackbone(tb testing.TB) (models.Card, string) {
	tb.Helper()
	card := models.BuiltinCards()[0]
	p := filepath.Join(thirdParty, "models", card.File)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("default backbone missing (run make setup): %v", err)
	}
	return card, p
}

// testImages returns the first n Fashion-MNIST test images and the five
// photos of testdata/photos, with their names.
func testImages(tb testing.TB, n int) ([]image.Image, []string) {
	tb.Helper()
	ds, err := datasets.Open("fashion-mnist:test", datasets.Options{})
	if err != nil {
		tb.Fatalf("fashion-mnist (run make setup): %v", err)
	}
	var imgs []image.Image
	var names []string
	for i := range n {
		img, err := ds.Image(i)
		if err != nil {
			tb.Fatal(err)
		}
		imgs = append(imgs, img)
		names = append(names, ds.Sample(i).ID)
	}
	photos, err := filepath.Glob(filepath.Join("..", "..", "testdata", "photos", "*.*g"))
	if err != nil || len(photos) < 5 {
		tb.Fatalf("testdata/photos: %v (%d files)", err, len(photos))
	}
	for _, p := range photos {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		img, err := datasets.Decode(f, p, 0)
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		imgs = append(imgs, img)
		names = append(names, filepath.Base(p))
	}
	return imgs, names
}

// cutRun is what ONNX Runtime returns for a batch of images from a
// backbone with the cut and frozen inputs of a tail added as outputs.
type cutRun struct {
	tail   *onnxgraph.Tail
	input  []int   // per-sample shape of the cut
	frozen [][]int // per-sample shapes of the frozen inputs
	x      []float32
	fz     [][]float32
	want   [][]float32 // the tail's outputs as ORT computes them
	n      int
}

// runBackboneCut cuts the default backbone at cut for outputs, and runs
// the images through ONNX Runtime with the sources added as outputs.
func runBackboneCut(tb testing.TB, cut string, outputs []string, imgs []image.Image) *cutRun {
	tb.Helper()
	card, path := defaultBackbone(tb)
	return runCut(tb, card, path, cut, outputs, imgs)
}

// runCut cuts the model at path at cut for outputs, and runs the images
// through ONNX Runtime with the tail's sources added as outputs.
// Preprocessing is the extractor's, from the card.
func runCut(tb testing.TB, card models.Card, path, cut string, outputs []string, imgs []image.Image) *cutRun {
	tb.Helper()
	orttest.Require(tb)
	m, err := onnxgraph.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	tl, err := m.Cut(cut, outputs)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	aug, err := onnxgraph.AddOutputs(raw, tl.Sources()...)
	if err != nil {
		tb.Fatal(err)
	}
	augPath := filepath.Join(tb.TempDir(), "augmented.onnx")
	if err := os.WriteFile(augPath, aug, 0o644); err != nil {
		tb.Fatal(err)
	}
	am, err := onnxgraph.Parse(aug)
	if err != nil {
		tb.Fatal(err)
	}
	r := &cutRun{tail: tl, n: len(imgs)}
	card.File, card.SHA256 = augPath, ""
	names := append(slices.Clone(outputs), tl.Sources()...)
	// The card needs the per-sample size of each new output.
	shapes := map[string][]int{}
	for _, s := range tl.Sources() {
		in := []int{-1, card.Height, card.Width, 3}
		if card.Layout == "NCHW" {
			in = []int{-1, 3, card.Height, card.Width}
		}
		sh, ok := am.Shape(s, map[string][]int{card.Input: in})
		if !ok || slices.Contains(sh[1:], -1) {
			tb.Fatalf("shape of %s: %v", s, sh)
		}
		shapes[s] = sh[1:]
		card.Outputs = append(card.Outputs, models.Output{Name: s, Dim: prod(shapes[s])})
	}
	r.input = shapes[tl.Input]
	for _, f := range tl.Frozen {
		r.frozen = append(r.frozen, shapes[f])
	}
	sess, err := extractor.OpenSession(nil, card, augPath, names, extractor.SessionOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	defer sess.Close()
	per := card.Height * card.Width * 3
	const batch = 64
	res := make([][]float32, len(names))
	buf := make([]float32, batch*per)
	for lo := 0; lo < len(imgs); lo += batch {
		hi := min(lo+batch, len(imgs))
		var wg sync.WaitGroup
		for i := lo; i < hi; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				extractor.Preprocess(card, imgs[i], buf[(i-lo)*per:(i-lo+1)*per])
			}()
		}
		wg.Wait()
		out, err := sess.Run(buf, hi-lo)
		if err != nil {
			tb.Fatal(err)
		}
		for k := range names {
			res[k] = append(res[k], out[k]...)
		}
	}
	r.want = res[:len(outputs)]
	r.x = res[len(outputs)]
	r.fz = res[len(outputs)+1:]
	return r
}

// maxAbsRel returns max |got - want| and that over max |want|.
func maxAbsRel(got, want []float32) (float64, float64) {
	var d, m float64
	for i := range got {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	return d, d / m
}

func roundFloat16(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = half.ToFloat32(half.FromFloat32(x))
	}
	return out
}

// TestTailMatchesORT is the hard test of the tail: from the cut
// activation (and frozen inputs) that ONNX Runtime computes for real
// images, the Go forward pass reproduces ONNX Runtime's pooled outputs
// within 1e-4 absolute, at the two cut points of the fine-tuning pilot. It
// also measures the error when the activations are rounded to float16, as
// a cache that stores them so would (logged; bound 1e-2 absolute).
func TestTailMatchesORT(t *testing.T) {
	imgs, _ := testImages(t, 59) // 64 images with the 5 photos
	outputs := []string{"pool_blocks_10_13_16", "pool_block_13", "pool_block_16"}
	for _, cut := range []string{"block_12_add", "block_9_add"} {
		t.Run(cut, func(t *testing.T) {
			r := runBackboneCut(t, cut, outputs, imgs)
			net, err := New(r.tail, r.input, r.frozen)
			if err != nil {
				t.Fatal(err)
			}
			got, err := net.Forward(r.x, r.fz, r.n, false)
			if err != nil {
				t.Fatal(err)
			}
			var fz16 [][]float32
			for _, f := range r.fz {
				fz16 = append(fz16, roundFloat16(f))
			}
			got16, err := net.Forward(roundFloat16(r.x), fz16, r.n, false)
			if err != nil {
				t.Fatal(err)
			}
			for k, name := range outputs {
				abs, rel := maxAbsRel(got[k], r.want[k])
				abs16, rel16 := maxAbsRel(got16[k], r.want[k])
				t.Logf("cut %s, %d images, %s: float32 max abs %.2g (rel %.2g); float16 activations max abs %.2g (rel %.2g)",
					cut, r.n, name, abs, rel, abs16, rel16)
				if abs > 1e-4 {
					t.Errorf("%s: Go tail differs from ONNX Runtime by %.3g (max abs), want <= 1e-4", name, abs)
				}
				if abs16 > 1e-2 {
					t.Errorf("%s: from float16 activations the Go tail differs by %.3g (max abs), want <= 1e-2", name, abs16)
				}
			}
		})
	}
}

// TestInsertBatchNormBackbone calibrates BatchNorms after the 12 convs of
// the default backbone's blocks 13-16 on ONNX Runtime's block-12
// activations of real images, and checks that in eval mode the network
// still reproduces ONNX Runtime's pooled outputs within 1e-4 (absolute).
func TestInsertBatchNormBackbone(t *testing.T) {
	imgs, _ := testImages(t, 59)
	outputs := []string{"pool_blocks_10_13_16"}
	r := runBackboneCut(t, "block_12_add", outputs, imgs)
	net, err := New(r.tail, r.input, r.frozen)
	if err != nil {
		t.Fatal(err)
	}
	folded, err := net.Forward(r.x, r.fz, r.n, false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := net.InsertBatchNorm(r.x, r.fz, r.n, BatchNormOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Inserted != 12 {
		t.Errorf("%d BatchNorms inserted, want one per conv of blocks 13-16 (12)", rep.Inserted)
	}
	got, err := net.Forward(r.x, r.fz, r.n, false)
	if err != nil {
		t.Fatal(err)
	}
	absF, relF := maxAbsRel(got[0], folded[0])
	absO, relO := maxAbsRel(got[0], r.want[0])
	t.Logf("%+v; eval mode vs folded Go tail: max abs %.2g (rel %.2g); vs ONNX Runtime: max abs %.2g (rel %.2g)",
		rep, absF, relF, absO, relO)
	if absF > 1e-4 || absO > 1e-4 {
		t.Errorf("with BatchNorms inserted the eval-mode outputs moved by %.3g (folded) / %.3g (ORT), want <= 1e-4", absF, absO)
	}
}

// resnet18Path returns the ResNet-18 test model that `make setup-test`
// generates (testdata/resnet18.py), or $ASVP_RESNET18_ONNX.
func resnet18Path(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("ASVP_RESNET18_ONNX")
	if p == "" {
		p = filepath.Join(thirdParty, "models", "resnet18-random-64.onnx")
	}
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("ResNet-18 test model missing: run make setup-test (it runs models/tail/testdata/resnet18.py): %v", err)
	}
	return p
}

// TestResNet18MatchesORT cuts torchvision's ResNet-18 (random weights,
// exported by testdata/resnet18.py) at layer2's and layer3's outputs and
// checks that the Go tail (3×3 convs with stride 2, 1×1 stride-2
// downsampling, residual adds, global pool, Gemm) reproduces ONNX
// Runtime's pooled features and logits within 1e-4 (absolute) on real
// images.
func TestResNet18MatchesORT(t *testing.T) {
	path := resnet18Path(t)
	card := models.Card{Name: "resnet18-random-64", File: path, Input: "input", Layout: "NCHW", Height: 64, Width: 64,
		ChannelOrder: "RGB", Scale: 1.0 / 255, Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
		Resize: "stretch", Resample: "linear", DefaultOutput: "pooled",
		Outputs: []models.Output{{Name: "pooled", Dim: 512}, {Name: "logits", Dim: 10}}}
	imgs, _ := testImages(t, 27) // 32 images with the 5 photos
	outputs := []string{"pooled", "logits"}
	for _, cut := range []string{"/layer3/layer3.1/relu_1/Relu", "/layer2/layer2.1/relu_1/Relu"} {
		t.Run(cut, func(t *testing.T) {
			r := runCut(t, card, path, cut, outputs, imgs)
			if len(r.tail.Frozen) != 0 {
				t.Errorf("frozen inputs %q, want none", r.tail.Frozen)
			}
			net, err := New(r.tail, r.input, r.frozen)
			if err != nil {
				t.Fatal(err)
			}
			got, err := net.Forward(r.x, r.fz, r.n, false)
			if err != nil {
				t.Fatal(err)
			}
			for k, name := range outputs {
				abs, rel := maxAbsRel(got[k], r.want[k])
				t.Logf("cut %s (input %v), %d images, %s: max abs %.2g (rel %.2g)", cut, r.input, r.n, name, abs, rel)
				if abs > 1e-4 {
					t.Errorf("%s: Go tail differs from ONNX Runtime by %.3g (max abs), want <= 1e-4", name, abs)
				}
			}
		})
	}
}
