package extractor

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/models"
	ort "github.com/yalue/onnxruntime_go"
)

// memSink keeps features in memory; it stands beside the real cache, which
// cmd/asvp's tests drive end to end.
type memSink struct {
	mu       sync.Mutex
	vecs     map[string][][]float32
	failed   map[string]Failure
	puts     int
	failPut  int // Put number (1-based) that fails; 0 never
	putOrder []string
}

func newMemSink() *memSink {
	return &memSink{vecs: map[string][][]float32{}, failed: map[string]Failure{}}
}

func (s *memSink) Missing(ids []string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range ids {
		_, ok := s.vecs[id]
		_, bad := s.failed[id]
		if !ok && !bad {
			out = append(out, id)
		}
	}
	return out, nil
}

var errInjected = errors.New("injected write failure")

func (s *memSink) Put(ids []string, vecs [][]float32, failed []Failure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.puts == s.failPut {
		return errInjected
	}
	for i, id := range ids {
		per := make([][]float32, len(vecs))
		for k, v := range vecs {
			d := len(v) / len(ids)
			per[k] = slices.Clone(v[i*d : (i+1)*d])
		}
		s.vecs[id] = per
		s.putOrder = append(s.putOrder, id)
	}
	for _, f := range failed {
		s.failed[f.ID] = f
	}
	return nil
}

func openSession(t *testing.T, outputs ...string) *Session {
	t.Helper()
	card, path := backbone(t)
	s, err := OpenSession(testRT, card, path, outputs, SessionOptions{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func fashion(t *testing.T) datasets.Dataset {
	t.Helper()
	ds, err := datasets.Open("fashion-mnist:test", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func indicesUpTo(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// TestBatchIndependence checks that a sample's features do not depend on its
// batch-mates, the batch size or the number of decode workers.
func TestBatchIndependence(t *testing.T) {
	sess := openSession(t, "pool_blocks_10_13_16", "pool_final")
	ds := fashion(t)
	idx := indicesUpTo(45)
	var ref *memSink
	for _, cfg := range []Config{{BatchSize: 1, Workers: 1}, {BatchSize: 7, Workers: 3}, {BatchSize: 32, Workers: 2}} {
		ex, err := New(sess, cfg)
		if err != nil {
			t.Fatal(err)
		}
		sink := newMemSink()
		st, err := ex.Run(context.Background(), ds, idx, sink)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done != len(idx) || len(sink.vecs) != len(idx) {
			t.Fatalf("batch %d: stored %d of %d", cfg.BatchSize, len(sink.vecs), len(idx))
		}
		for i, id := range sink.putOrder {
			if id != ds.Sample(i).ID {
				t.Fatalf("batch %d: put order %d is %s, want %s", cfg.BatchSize, i, id, ds.Sample(i).ID)
			}
		}
		if ref == nil {
			ref = sink
			continue
		}
		for id, v := range sink.vecs {
			for k := range v {
				if d := maxAbsDiff(v[k], ref.vecs[id][k]); d > 1e-4 {
					t.Errorf("batch %d workers %d: %s output %d differs from batch 1 by %g", cfg.BatchSize, cfg.Workers, id, k, d)
				}
			}
		}
	}
	if d := len(ref.vecs[ds.Sample(0).ID][0]); d != 576 {
		t.Errorf("pool_blocks_10_13_16 has %d values, want 576", d)
	}
}

// TestResumeAfterFailedWrite checks that a run stopped by a failing write
// keeps the batches before it, and that a rerun completes to the same features.
func TestResumeAfterFailedWrite(t *testing.T) {
	sess := openSession(t)
	ds := fashion(t)
	idx := indicesUpTo(40)
	ex, err := New(sess, Config{BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	full := newMemSink()
	if _, err := ex.Run(context.Background(), ds, idx, full); err != nil {
		t.Fatal(err)
	}
	crashy := newMemSink()
	crashy.failPut = 3
	if _, err := ex.Run(context.Background(), ds, idx, crashy); !errors.Is(err, errInjected) {
		t.Fatalf("run with failing write: err = %v, want the injected failure", err)
	}
	if got := len(crashy.vecs); got != 16 {
		t.Fatalf("after failing 3rd write: %d samples stored, want the first 2 batches (16)", got)
	}
	crashy.failPut = 0
	st, err := ex.Run(context.Background(), ds, idx, crashy)
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached != 16 || st.Done != 24 {
		t.Errorf("resume: cached %d done %d, want 16 and 24", st.Cached, st.Done)
	}
	for id, v := range full.vecs {
		if d := maxAbsDiff(v[0], crashy.vecs[id][0]); d != 0 {
			t.Errorf("%s: resumed features differ by %g", id, d)
		}
	}
	// A second run adds nothing.
	st, err = ex.Run(context.Background(), ds, idx, crashy)
	if err != nil || st.Done != 0 || st.Cached != len(idx) {
		t.Errorf("third run: %+v, %v; want nothing to do", st, err)
	}
}

// TestCancel checks that cancelling mid-run returns promptly with the
// context's error and leaves whole batches only.
func TestCancel(t *testing.T) {
	sess := openSession(t)
	ds := fashion(t)
	ex, err := New(sess, Config{BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sink := &cancelSink{memSink: newMemSink(), after: 2, cancel: cancel}
	_, err = ex.Run(ctx, ds, indicesUpTo(200), sink)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(sink.vecs); n%16 != 0 || n == 0 || n == 200 {
		t.Errorf("%d samples stored after cancel, want whole batches of 16, fewer than 200", n)
	}
}

type cancelSink struct {
	*memSink
	after  int
	cancel func()
}

func (s *cancelSink) Put(ids []string, vecs [][]float32, failed []Failure) error {
	err := s.memSink.Put(ids, vecs, failed)
	if s.puts == s.after {
		s.cancel()
	}
	return err
}

// TestBadImages checks that unreadable files are recorded and the good ones
// stored (skip), or that the run stops naming the file (fail).
func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	photo, err := os.ReadFile("../testdata/photos/rocket.jpg")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"a/good.jpg":      photo,
		"a/truncated.jpg": photo[:len(photo)/3],
		"b/empty.png":     {},
		"b/text.jpg":      []byte("this is not an image"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := datasets.Open("folder:"+dir, datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sess := openSession(t)
	ex, _ := New(sess, Config{BatchSize: 2})
	sink := newMemSink()
	st, err := ex.Run(context.Background(), ds, nil, sink)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != 1 || st.Failed != 3 {
		t.Fatalf("done %d failed %d, want 1 and 3", st.Done, st.Failed)
	}
	if _, ok := sink.vecs["a/good.jpg"]; !ok {
		t.Error("good image not stored")
	}
	for _, id := range []string{"a/truncated.jpg", "b/empty.png", "b/text.jpg"} {
		f, ok := sink.failed[id]
		if !ok || f.Reason == "" || f.Path == "" {
			t.Errorf("%s: failure %+v not recorded with path and reason", id, f)
		}
	}
	exFail, _ := New(sess, Config{BatchSize: 2, OnError: "fail"})
	_, err = exFail.Run(context.Background(), ds, nil, newMemSink())
	if !errors.Is(err, ErrBadSample) {
		t.Fatalf("fail mode: err = %v, want ErrBadSample", err)
	}
}

// TestCheckCard checks that a card that does not fit the model is refused with a reason.
func TestCheckCard(t *testing.T) {
	card, path := backbone(t)
	mi, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mi.CheckCard(path, card, card.OutputNames()); err != nil {
		t.Fatalf("installed card does not fit its model: %v", err)
	}
	wrongInput := card
	wrongInput.Input = "images"
	nchw := card
	nchw.Layout = "NCHW"
	wrongDim := card
	wrongDim.Outputs = slices.Clone(card.Outputs)
	wrongDim.Outputs[0].Dim = 512
	for name, tc := range map[string]struct {
		card    models.Card
		outputs []string
	}{
		"input name":     {wrongInput, nil},
		"layout":         {nchw, nil},
		"unknown output": {card, []string{"logits"}},
		"output dim":     {wrongDim, []string{wrongDim.Outputs[0].Name}},
	} {
		if _, err := mi.CheckCard(path, tc.card, tc.outputs); !errors.Is(err, ErrModelMismatch) {
			t.Errorf("%s: err = %v, want ErrModelMismatch", name, err)
		}
	}
	if _, err := Inspect("../testdata/photos/rocket.jpg"); err == nil {
		t.Error("a JPEG loaded as an ONNX model")
	}
}

func TestPreprocess(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.NRGBA{R: 255, G: 0, B: 51, A: 255})
	img.Set(1, 0, color.NRGBA{R: 0, G: 102, B: 255, A: 10}) // alpha is dropped
	base := models.Card{Height: 1, Width: 2, Scale: 1.0 / 255, Std: [3]float32{1, 1, 1}, Resize: "stretch", Resample: "linear"}
	tests := []struct {
		name   string
		layout string
		order  string
		mean   [3]float32
		std    [3]float32
		want   []float32
	}{
		{"NHWC RGB", "NHWC", "RGB", [3]float32{}, [3]float32{1, 1, 1}, []float32{1, 0, 0.2, 0, 0.4, 1}},
		{"NCHW RGB", "NCHW", "RGB", [3]float32{}, [3]float32{1, 1, 1}, []float32{1, 0, 0, 0.4, 0.2, 1}},
		{"NHWC BGR", "NHWC", "BGR", [3]float32{}, [3]float32{1, 1, 1}, []float32{0.2, 0, 1, 1, 0.4, 0}},
		{"mean std", "NHWC", "RGB", [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.25, 0.5}, []float32{1, -2, -0.6, -1, -0.4, 1}},
	}
	for _, tc := range tests {
		c := base
		c.Layout, c.ChannelOrder, c.Mean, c.Std = tc.layout, tc.order, tc.mean, tc.std
		got := make([]float32, 6)
		Preprocess(c, img, got)
		for i := range got {
			if math.Abs(float64(got[i]-tc.want[i])) > 1e-6 {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
	// A 28x28 gray image is resized to the card's size and replicated to three channels.
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range g.Pix {
		g.Pix[i] = 128
	}
	c := base
	c.Layout, c.ChannelOrder, c.Height, c.Width = "NHWC", "RGB", 96, 96
	out := make([]float32, 96*96*3)
	Preprocess(c, g, out)
	for i, v := range out {
		if math.Abs(float64(v)-128.0/255) > 1e-6 {
			t.Fatalf("value %d = %g, want %g", i, v, 128.0/255)
		}
	}
}

// TestSampleDim checks the per-sample size of an output from its shape: any
// dynamic axis after the batch makes it -1, even two of them, whose product
// would be positive.
func TestSampleDim(t *testing.T) {
	for _, tc := range []struct {
		dims []int64
		want int64
	}{
		{[]int64{-1, 576}, 576},
		{[]int64{32, 7, 7, 3}, 147},
		{[]int64{-1, 3, -1}, -1},
		{[]int64{-1, -1, -1}, -1},
		{[]int64{-1}, 1},
	} {
		if got := SampleDim(ort.InputOutputInfo{Dimensions: tc.dims}); got != tc.want {
			t.Errorf("SampleDim(%v) = %d, want %d", tc.dims, got, tc.want)
		}
	}
}
