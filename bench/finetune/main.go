// Command finetune is the fine-tuning pilot of models/finetune on the
// default backbone and Fashion-MNIST: ONNX Runtime computes the cut
// activations (block_12_add, block_9_add and the frozen inputs) of random
// labelled training images, of unlabelled pool images for the BatchNorm
// calibration and the feature standardisation, and of test images; then,
// at each cut, it trains LP (a linear head on the frozen pooled features),
// FT and LP-FT in Go, and prints the test accuracy of each and the mean
// cosine between the frozen and the fine-tuned features of the test images.
//
//	go run ./bench/finetune -labels 1000 -test 5000 -calib 2000 -seed 0
//
// The activations are cached in -cache (default /tmp/asvp-finetune-pilot)
// so that a second run skips ONNX Runtime.
package main

import (
	"context"
	"encoding/gob"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/models/tail"
)

type options struct {
	model, lib, cacheDir, jsonOut string
	labels, test, calib           int
	seed                          uint64
	cuts, methods                 []string
	epochs                        int
	tailLR, headLR                float64
}

func main() {
	var o options
	var cuts, methods string
	flag.StringVar(&o.model, "model", filepath.Join("third_party", "models", models.DefaultModel+".onnx"), "backbone ONNX file")
	flag.StringVar(&o.lib, "ort", "", "ONNX Runtime library (default: as asvp finds it)")
	flag.StringVar(&o.cacheDir, "cache", filepath.Join(os.TempDir(), "asvp-finetune-pilot"), "activation cache folder (\"\" for none)")
	flag.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	flag.IntVar(&o.labels, "labels", 1000, "random labelled training images")
	flag.IntVar(&o.test, "test", 5000, "test images (the first of the test set)")
	flag.IntVar(&o.calib, "calib", 2000, "unlabelled pool images for the BatchNorm calibration and the standardisation")
	flag.Uint64Var(&o.seed, "seed", 0, "seed of the labelled draw and of training")
	flag.StringVar(&cuts, "cuts", "block_12_add,block_9_add", "cut tensors")
	flag.StringVar(&methods, "methods", "lp,ft,lpft", "methods to train")
	flag.IntVar(&o.epochs, "epochs", 0, "epochs per stage (0: the recipe's rule, 30 at 1,000 labels)")
	flag.Float64Var(&o.tailLR, "tail-lr", 0, "FT tail learning rate (0: the recipe's)")
	flag.Float64Var(&o.headLR, "head-lr", 0, "FT head learning rate (0: the recipe's)")
	flag.Parse()
	o.cuts = strings.Split(cuts, ",")
	o.methods = strings.Split(methods, ",")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "finetune pilot:", err)
		os.Exit(1)
	}
}

// result is one trained model's figures.
type result struct {
	Cut        string  `json:"cut"`
	Method     string  `json:"method"`
	Epochs     int     `json:"epochs"`
	TestAcc    float64 `json:"test_acc"`
	TrainAcc   float64 `json:"train_acc"`
	CosRaw     float64 `json:"mean_cosine_raw"`
	CosStd     float64 `json:"mean_cosine_standardised"`
	TrainSec   float64 `json:"train_seconds"`
	SamplesEps float64 `json:"samples_epochs_per_second"`
}

func run(o options) error {
	start := time.Now()
	card := models.BuiltinCards()[0]
	m, err := onnxgraph.ReadFile(o.model)
	if err != nil {
		return err
	}
	tails := map[string]*onnxgraph.Tail{}
	var sources []string
	for _, c := range o.cuts {
		t, err := m.Cut(c, []string{card.DefaultOutput})
		if err != nil {
			return err
		}
		tails[c] = t
		for _, s := range t.Sources() {
			if !slices.Contains(sources, s) {
				sources = append(sources, s)
			}
		}
	}
	shapes := map[string][]int{}
	for _, s := range sources {
		sh, ok := m.Shape(s, map[string][]int{card.Input: {-1, card.Height, card.Width, 3}})
		if !ok || slices.Contains(sh[1:], -1) {
			return fmt.Errorf("shape of %s: %v", s, sh)
		}
		shapes[s] = sh[1:]
	}
	names := append([]string{card.DefaultOutput}, sources...)

	train, err := datasets.Open("fashion-mnist:train", datasets.Options{})
	if err != nil {
		return err
	}
	test, err := datasets.Open("fashion-mnist:test", datasets.Options{})
	if err != nil {
		return err
	}
	perm := rand.New(rand.NewPCG(o.seed, 0x70696c6f74)).Perm(train.Len()) // stream "pilot"
	labIdx, calIdx := perm[:o.labels], perm[o.labels:o.labels+o.calib]
	testIdx := make([]int, o.test)
	for i := range testIdx {
		testIdx[i] = i
	}
	key := fmt.Sprintf("seed%d-l%d-c%d-t%d-%s", o.seed, o.labels, o.calib, o.test, strings.Join(sources, "+"))
	key = strings.NewReplacer("/", "_").Replace(key)
	acts, err := cachedActivations(o, key, card, names, shapes, []datasets.Dataset{train, train, test}, [][]int{labIdx, calIdx, testIdx})
	if err != nil {
		return err
	}
	lab, cal, tst := acts[0], acts[1], acts[2]
	labY := labels(train, labIdx)
	testY := labels(test, testIdx)
	fmt.Printf("activations ready in %.1fs (%d labelled, %d calibration, %d test)\n", time.Since(start).Seconds(), o.labels, o.calib, o.test)

	var results []result
	for _, c := range o.cuts {
		t := tails[c]
		var fz [][]int
		for _, f := range t.Frozen {
			fz = append(fz, shapes[f])
		}
		net, err := tail.New(t, shapes[t.Input], fz)
		if err != nil {
			return err
		}
		pick := func(set map[string][]float32, rows int) finetune.Activations {
			a := finetune.Activations{X: set[t.Input], Rows: rows}
			for _, f := range t.Frozen {
				a.Frozen = append(a.Frozen, set[f])
			}
			return a
		}
		la, ca, ta := pick(lab, o.labels), pick(cal, o.calib), pick(tst, o.test)
		t0 := time.Now()
		pre, err := finetune.Prepare(net, ca, finetune.PrepareOptions{})
		if err != nil {
			return err
		}
		frozen, err := pre.Features(ta)
		if err != nil {
			return err
		}
		var d float64
		for i, v := range frozen {
			d = math.Max(d, math.Abs(float64(v)-float64(tst[card.DefaultOutput][i])))
		}
		fmt.Printf("cut %s: %d BatchNorms over %d channels (%d near-constant), prepared in %.1fs; pretrained features vs ONNX Runtime: max abs %.2g\n",
			c, pre.BatchNorm.Inserted, pre.BatchNorm.Channels, pre.BatchNorm.NearConstant, time.Since(t0).Seconds(), d)
		for _, meth := range o.methods {
			r := finetune.DefaultRecipe(meth)
			r.Seed = o.seed
			r.Epochs = o.epochs
			if o.tailLR > 0 {
				r.TailLR = o.tailLR
			}
			if o.headLR > 0 {
				r.HeadLR = o.headLR
			}
			tu, st, err := finetune.Train(pre, r, la, labY, len(train.Classes()))
			if err != nil {
				return err
			}
			tuned, err := tu.Features(ta)
			if err != nil {
				return err
			}
			res := result{Cut: c, Method: meth, Epochs: r.EpochsFor(o.labels), TrainAcc: st.TrainAcc,
				TestAcc:  finetune.Accuracy(tu.PredictFeatures(tuned, o.test), testY, len(test.Classes())),
				TrainSec: st.Elapsed.Seconds()}
			res.CosRaw, res.CosStd = meanCosines(frozen, tuned, o.test, pre.Mean, pre.Std)
			sampleEpochs := 0
			for _, s := range st.Stages {
				if s.TailLR > 0 {
					sampleEpochs += s.Epochs * o.labels
				}
			}
			if sampleEpochs > 0 {
				res.SamplesEps = float64(sampleEpochs) / st.Elapsed.Seconds()
			}
			results = append(results, res)
			fmt.Printf("cut %s %-4s: test acc %.4f (train %.3f, final loss %.3f), mean cosine frozen vs tuned %.3f raw / %.3f standardised, %d epochs in %.0fs\n",
				c, meth, res.TestAcc, st.TrainAcc, st.FinalLoss(), res.CosRaw, res.CosStd, res.Epochs, res.TrainSec)
		}
	}
	fmt.Printf("total %.0fs\n", time.Since(start).Seconds())
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(o.jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

func labels(ds datasets.Dataset, idx []int) []int {
	y := make([]int, len(idx))
	for i, k := range idx {
		y[i] = ds.Sample(k).Label
	}
	return y
}

// meanCosines returns the mean over samples of the cosine between frozen
// and tuned features, raw and standardised with the pretrained statistics.
func meanCosines(a, b []float32, rows int, mean, std []float64) (raw, standardised float64) {
	dim := len(a) / rows
	cos := func(f func(j int, v float32) float64, i int) float64 {
		var ab, aa, bb float64
		for j := range dim {
			x, y := f(j, a[i*dim+j]), f(j, b[i*dim+j])
			ab += x * y
			aa += x * x
			bb += y * y
		}
		return ab / math.Sqrt(aa*bb)
	}
	for i := range rows {
		raw += cos(func(_ int, v float32) float64 { return float64(v) }, i)
		standardised += cos(func(j int, v float32) float64 { return (float64(v) - mean[j]) / std[j] }, i)
	}
	return raw / float64(rows), standardised / float64(rows)
}

// memSink keeps extracted vectors in memory by sample id.
type memSink struct {
	vecs map[string][][]float32
	dims []int
}

func (s *memSink) Missing(ids []string) ([]string, error) { return ids, nil }

func (s *memSink) Put(ids []string, vecs [][]float32, failed []extractor.Failure) error {
	if len(failed) > 0 {
		return fmt.Errorf("%d images failed, first %s: %s", len(failed), failed[0].ID, failed[0].Reason)
	}
	for i, id := range ids {
		v := make([][]float32, len(vecs))
		for k := range vecs {
			v[k] = vecs[k][i*s.dims[k] : (i+1)*s.dims[k]]
		}
		s.vecs[id] = v
	}
	return nil
}

// cachedActivations returns, per set of (dataset, indices), the outputs
// names of ONNX Runtime for those images, by name, row-major in index
// order; from the cache file when there is one.
func cachedActivations(o options, key string, card models.Card, names []string, shapes map[string][]int,
	sets []datasets.Dataset, idx [][]int) ([]map[string][]float32, error) {
	var path string
	if o.cacheDir != "" {
		path = filepath.Join(o.cacheDir, key+".gob")
		if f, err := os.Open(path); err == nil {
			defer f.Close()
			var out []map[string][]float32
			if err := gob.NewDecoder(f).Decode(&out); err == nil && len(out) == len(sets) {
				return out, nil
			}
		}
	}
	lib, err := extractor.FindLibrary(o.lib)
	if err != nil {
		return nil, err
	}
	rt, err := extractor.NewRuntime(lib)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	raw, err := os.ReadFile(o.model)
	if err != nil {
		return nil, err
	}
	aug, err := onnxgraph.AddOutputs(raw, names[1:]...)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "asvp-pilot")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	augPath := filepath.Join(dir, "augmented.onnx")
	if err := os.WriteFile(augPath, aug, 0o644); err != nil {
		return nil, err
	}
	card.File, card.SHA256 = augPath, ""
	for _, s := range names[1:] {
		card.Outputs = append(card.Outputs, models.Output{Name: s, Dim: prod(shapes[s])})
	}
	sess, err := extractor.OpenSession(rt, card, augPath, names, extractor.SessionOptions{})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	ex, err := extractor.New(sess, extractor.Config{BatchSize: 64})
	if err != nil {
		return nil, err
	}
	var out []map[string][]float32
	for k, ds := range sets {
		sink := &memSink{vecs: map[string][][]float32{}, dims: sess.Dims()}
		st, err := ex.Run(context.Background(), ds, idx[k], sink)
		if err != nil {
			return nil, err
		}
		fmt.Printf("onnx runtime: %d images of %s at %.0f images/s\n", st.Done, ds.Spec(), st.ImagesPerSecond())
		set := map[string][]float32{}
		for _, i := range idx[k] {
			v := sink.vecs[ds.Sample(i).ID]
			for j, name := range names {
				set[name] = append(set[name], v[j]...)
			}
		}
		out = append(out, set)
	}
	if path != "" {
		if err := os.MkdirAll(o.cacheDir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		if err := gob.NewEncoder(f).Encode(out); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func prod(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}
