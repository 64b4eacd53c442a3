package extractor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/datasets"
	ort "github.com/yalue/onnxruntime_go"
)

// BenchmarkExtractVsBare measures the whole pipeline (decode, resize,
// normalise, infer, hand to a sink) on Fashion-MNIST against a bare ONNX
// Runtime session running the same model, batch size and threads on tensors
// already in memory. The "ratio" metric is the median over iterations of
// pipeline images/s over bare images/s (target >= 0.95); "ratio-of-totals"
// divides the two sides' total times instead.
func BenchmarkExtractVsBare(b *testing.B) {
	const n = 512
	bb := newBareBench(b)
	ex, _ := New(bb.sess, Config{BatchSize: benchBatch, Workers: 1})
	idx := indicesUpTo(n)
	ds, bare := bb.ds, bb.bare
	runBare := func() time.Duration {
		t0 := time.Now()
		for range n / benchBatch {
			if err := bare.Run(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	runPipe := func() time.Duration {
		t0 := time.Now()
		if _, err := ex.Run(context.Background(), ds, idx, newMemSink()); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	// Each iteration times both sides back to back, in alternating order, and
	// keeps their ratio: on a shared machine a burst of load from elsewhere
	// then spoils one iteration's ratio, which the median ignores, instead of
	// one side's total.
	var bareT, pipeT time.Duration
	var ratios []float64
	b.ResetTimer()
	for b.Loop() {
		var tb, tp time.Duration
		if len(ratios)%2 == 0 {
			tb, tp = runBare(), runPipe()
		} else {
			tp, tb = runPipe(), runBare()
		}
		bareT += tb
		pipeT += tp
		ratios = append(ratios, tb.Seconds()/tp.Seconds())
	}
	bareRate := float64(n*b.N) / bareT.Seconds()
	pipeRate := float64(n*b.N) / pipeT.Seconds()
	b.ReportMetric(bareRate, "bare-images/s")
	b.ReportMetric(pipeRate, "images/s")
	b.ReportMetric(pipeRate/bareRate, "ratio-of-totals")
	b.ReportMetric(median(ratios), "ratio")
}

// benchBatch and benchThreads are the batch size and intra-op threads of
// both sides of the extraction benchmarks.
const benchBatch, benchThreads = 32, 2

// bareBench is a bare ONNX Runtime session with preallocated tensors whose
// input holds real preprocessed images, and this package's Session on the
// same model and threads.
type bareBench struct {
	ds   datasets.Dataset
	bare *ort.AdvancedSession
	sess *Session
	in   []float32 // a copy of the bare session's input
}

func newBareBench(b *testing.B) *bareBench {
	card, path := backbone(b)
	ds, err := openFashionTest()
	if err != nil {
		b.Fatal(err)
	}
	in, _ := ort.NewEmptyTensor[float32](ort.NewShape(benchBatch, int64(card.Height), int64(card.Width), 3))
	b.Cleanup(func() { in.Destroy() })
	out, _ := ort.NewEmptyTensor[float32](ort.NewShape(benchBatch, int64(card.Outputs[0].Dim)))
	b.Cleanup(func() { out.Destroy() })
	so, _ := ort.NewSessionOptions()
	so.SetIntraOpNumThreads(benchThreads)
	bare, err := ort.NewAdvancedSession(path, []string{card.Input}, []string{card.DefaultOutput}, []ort.Value{in}, []ort.Value{out}, so)
	so.Destroy()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bare.Destroy() })
	per := card.Height * card.Width * 3
	for i := range benchBatch { // fill every slot with a real preprocessed image, once
		img, _ := ds.Image(i)
		Preprocess(card, img, in.GetData()[i*per:(i+1)*per])
	}
	sess, err := OpenSession(testRT, card, path, nil, SessionOptions{IntraOpThreads: benchThreads})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sess.Close() })
	return &bareBench{ds: ds, bare: bare, sess: sess, in: slices.Clone(in.GetData())}
}

// BenchmarkSessionVsBare is the control for BenchmarkExtractVsBare: the
// package's Session running the same preprocessed batch as the bare
// session, with no decoding and no pipeline. Its ratio shows what two
// back-to-back timings of the same work differ by on the machine at hand,
// which is the resolution of the pipeline's ratio.
func BenchmarkSessionVsBare(b *testing.B) {
	bb := newBareBench(b)
	const batches = 16
	var ratios []float64
	for b.Loop() {
		t0 := time.Now()
		for range batches {
			if err := bb.bare.Run(); err != nil {
				b.Fatal(err)
			}
		}
		tb := time.Since(t0)
		t0 = time.Now()
		for range batches {
			if _, err := bb.sess.Run(bb.in, benchBatch); err != nil {
				b.Fatal(err)
			}
		}
		ratios = append(ratios, tb.Seconds()/time.Since(t0).Seconds())
	}
	b.ReportMetric(median(ratios), "ratio")
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	return m
}
