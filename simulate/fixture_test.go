package simulate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/onnxgraph"
	"github.com/asvp-dev/asvp/tuning"
)

// testRT is the one ONNX Runtime of this test binary.
var testRT *extractor.Runtime

func TestMain(m *testing.M) {
	lib, err := extractor.FindLibrary("")
	if err != nil {
		fmt.Fprintf(os.Stderr, "simulate tests need the ONNX Runtime library: %v\n", err)
		os.Exit(1)
	}
	if testRT, err = extractor.NewRuntime(lib); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if tailCache.path != "" {
		os.Remove(tailCache.path)
	}
	if err := testRT.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// backbone returns the default card and its installed ONNX file.
func backbone(t testing.TB) (models.Card, string) {
	t.Helper()
	dir, _, ok := extractor.FindUnderRoots("third_party/models")
	if !ok {
		t.Fatal("third_party/models not found: run `make setup`")
	}
	card, path, err := models.NewRegistry(dir).Lookup(models.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	return card, path
}

// actSink stores an extraction pass as a feature set (output 0) and the
// activations of the tail above the cut (outputs 1.., concatenated).
type actSink struct {
	feats, acts *cache.Set
	dims        []int
}

func (s *actSink) Missing(ids []string) ([]string, error) { return ids, nil }

func (s *actSink) Put(ids []string, vecs [][]float32, failed []extractor.Failure) error {
	if len(failed) > 0 {
		return fmt.Errorf("%d images failed", len(failed))
	}
	var acts []float32
	for i := range ids {
		for k := 1; k < len(vecs); k++ {
			acts = append(acts, vecs[k][i*s.dims[k]:(i+1)*s.dims[k]]...)
		}
	}
	if err := s.feats.PutBatch(0, ids, vecs[0]); err != nil {
		return err
	}
	return s.acts.PutBatch(0, ids, acts)
}

// tailCache is the real-features cache of the tail-mode tests, extracted
// once per test binary.
var tailCache struct {
	once sync.Once
	path string
	err  error
}

// tailFixture returns a copy of a cache with the default backbone's real
// features (pool_blocks_10_13_16) and block-12 activations (float16) of 600
// pool and 300 test Fashion-MNIST images, and the Data of a tail-mode
// simulation on it.
func tailFixture(t testing.TB) (string, Data) {
	t.Helper()
	card, model := backbone(t)
	tailCache.once.Do(func() {
		tailCache.path = filepath.Join(os.TempDir(), fmt.Sprintf("asvp-simulate-tail-%d.cache", os.Getpid()))
		tailCache.err = buildTailCache(tailCache.path, card, model)
	})
	if tailCache.err != nil {
		t.Fatal(tailCache.err)
	}
	b, err := os.ReadFile(tailCache.path)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tail.cache")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := cache.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pool, err := db.FindSet("fashion-mnist:train", "")
	if err != nil {
		t.Fatal(err)
	}
	test, err := db.FindSet("fashion-mnist:test", "")
	if err != nil {
		t.Fatal(err)
	}
	d := simDataOf(t, db, pool, test)
	if d.Tune, err = tuning.Open(db, pool, card, model, tuning.Options{CalibRows: 300}); err != nil {
		t.Fatal(err)
	}
	if d.TestActs, _, err = tuning.FindActivations(db, test, d.Tune.Cut); err != nil {
		t.Fatal(err)
	}
	return path, d
}

func buildTailCache(path string, card models.Card, model string) error {
	const cut = "block_12_add"
	m, err := onnxgraph.ReadFile(model)
	if err != nil {
		return err
	}
	tl, err := m.Cut(cut, []string{card.DefaultOutput})
	if err != nil {
		return err
	}
	sess, err := extractor.OpenSession(testRT, card, model, nil, extractor.SessionOptions{Expose: tl.Sources()})
	if err != nil {
		return err
	}
	defer sess.Close()
	ex, err := extractor.New(sess, extractor.Config{})
	if err != nil {
		return err
	}
	db, err := cache.Open(path, &cache.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	dims := sess.Dims()
	for _, sp := range []struct {
		spec string
		n    int
	}{{"fashion-mnist:train", 600}, {"fashion-mnist:test", 300}} {
		ds, err := datasets.Open(sp.spec, datasets.Options{})
		if err != nil {
			return err
		}
		info := cache.SetInfo{Model: card.Name, ModelSHA256: card.SHA256, Output: card.DefaultOutput, CardHash: card.PreprocessHash(),
			Dataset: sp.spec, DatasetID: ds.Identity(), Dim: dims[0], DType: "float32"}
		feats, err := db.EnsureSet(info)
		if err != nil {
			return err
		}
		info.Output, info.Dim, info.DType = cache.ActivationsOutput(cut, card.DefaultOutput), 0, "float16"
		for _, d := range dims[1:] {
			info.Dim += d
		}
		acts, err := db.EnsureSet(info)
		if err != nil {
			return err
		}
		idx := make([]int, sp.n)
		labels := map[string]int{}
		for i := range idx {
			idx[i] = i
			labels[ds.Sample(i).ID] = ds.Sample(i).Label
		}
		if _, err := ex.Run(context.Background(), ds, idx, &actSink{feats: feats, acts: acts, dims: dims}); err != nil {
			return err
		}
		if err := db.PutOracleLabels(sp.spec, ds.Classes(), labels); err != nil {
			return err
		}
	}
	return nil
}
