package loop

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/simulate"
)

// TestRealignmentCap: only complete generations that changed the features
// count toward the re-alignment cap. A cache holding a simulation's
// generation, an lp fine-tune's (older versions wrote one), an interrupted
// fine-tune's and a re-extraction with the set's own backbone has had no
// re-alignment: with a cap of 1 and a rule that asks every round, the
// verdict is to re-align, with lp-ft for the final model. One complete ft
// generation reaches the cap.
func TestRealignmentCap(t *testing.T) {
	db, err := cache.Open(filepath.Join(t.TempDir(), "c.asvp"), &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n, dim = 80, 8
	info := cache.SetInfo{Model: "m", ModelSHA256: strings.Repeat("ab", 32), Output: "feat", CardHash: "card", Dataset: "folder:pool", DatasetID: "pool", Dim: dim}
	set, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	X := &features.Matrix{Rows: n, Cols: dim}
	y := make([]int, n)
	for i := range n {
		X.IDs = append(X.IDs, fmt.Sprintf("s%03d", i))
		y[i] = i % 2
		for j := range dim {
			X.Data = append(X.Data, float32(rng.NormFloat64())+float32(y[i]*j))
		}
	}
	addGen := func(src string, prov map[string]string, done bool) {
		t.Helper()
		g, err := set.AddGeneration(cache.GenInfo{Dim: dim, Source: src, Provenance: prov})
		if err != nil {
			t.Fatal(err)
		}
		if err := set.PutBatch(g, X.IDs, X.Data); err != nil {
			t.Fatal(err)
		}
		if done {
			if err := set.MarkComplete(g, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := set.PutBatch(0, X.IDs, X.Data); err != nil {
		t.Fatal(err)
	}
	addGen(simulate.SourceFinetune, map[string]string{cache.ProvenanceSimulation: "sim", "method": "ft"}, true)
	addGen(simulate.SourceFinetune, map[string]string{"method": "lp", "labeled_sha256": "x"}, true)
	addGen(simulate.SourceFinetune, map[string]string{"method": "ft", "labeled_sha256": "y"}, false)
	addGen("onnx", map[string]string{"model_sha256": info.ModelSHA256, "model_output": info.Output, "card_hash": info.CardHash}, true)

	cfg := realign.DefaultIndicatorConfig()
	cfg.Rule, cfg.Every, cfg.MaxUpdates = realign.RuleEvery, 1, 1
	ind, err := observeIndicator(set, 0, X, y, 2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ind.Realignments != 0 || !ind.Realign || ind.Method != "lpft" {
		t.Fatalf("no feature-changing generation yet: %+v, want 0 re-alignments, a re-align verdict and lpft", ind)
	}

	addGen(simulate.SourceFinetune, map[string]string{"method": "ft", "labeled_sha256": "z"}, true)
	ind, err = observeIndicator(set, 5, X, y, 2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ind.Realignments != 1 || ind.Realign || !strings.Contains(ind.Reason, "the cap") || ind.Method != "ft" {
		t.Fatalf("one ft generation: %+v, want 1 re-alignment, at the cap, ft", ind)
	}
}
