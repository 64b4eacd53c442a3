package simulate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/internal/fmnisttest"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/selector"
)

const (
	simDim = 196
)

// simFillSet stores the first n images of split ("train" or "t10k") as a
// feature set (pixels/255 averaged over 2x2 blocks, 196-d, to keep the
// tests fast) and their labels as the oracle label set.
func simFillSet(t testing.TB, db *cache.DB, split, spec string, n int) *cache.Set {
	t.Helper()
	px, lb := fmnisttest.Pixels(t, map[string]string{"train": "fashion-mnist:train", "t10k": "fashion-mnist:test"}[split], n)
	set, err := db.EnsureSet(cache.SetInfo{
		Model: "pixels", ModelSHA256: "00", Output: "pixels", CardHash: "raw", Dataset: spec, DatasetID: spec, Dim: simDim,
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	vecs := make([]float32, n*simDim)
	labels := make(map[string]int, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s/%05d", split, i)
		labels[ids[i]] = lb[i]
		img := px[i*784 : (i+1)*784]
		for r := range 14 {
			for c := range 14 {
				sum := int(img[2*r*28+2*c]) + int(img[2*r*28+2*c+1]) + int(img[(2*r+1)*28+2*c]) + int(img[(2*r+1)*28+2*c+1])
				vecs[i*simDim+r*14+c] = float32(sum) / (4 * 255)
			}
		}
	}
	if err := set.PutBatch(0, ids, vecs); err != nil {
		t.Fatal(err)
	}
	classes := []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	if err := db.PutOracleLabels(spec, classes, labels); err != nil {
		t.Fatal(err)
	}
	return set
}

// simFixture is a cache with 600 pool and 300 test Fashion-MNIST samples.
func simFixture(t testing.TB) (string, Data) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sim.cache")
	db, err := cache.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return path, simDataOf(t, db, simFillSet(t, db, "train", "fashion-mnist:train", 600), simFillSet(t, db, "t10k", "fashion-mnist:test", 300))
}

func simDataOf(t testing.TB, db *cache.DB, pool, test *cache.Set) Data {
	t.Helper()
	classes, pl, err := db.OracleLabels("fashion-mnist:train")
	if err != nil {
		t.Fatal(err)
	}
	_, tl, err := db.OracleLabels("fashion-mnist:test")
	if err != nil {
		t.Fatal(err)
	}
	return Data{DB: db, Pool: pool, Test: test, Classes: classes, PoolLabels: pl, TestLabels: tl}
}

// simTestConfig is a small, fast configuration: asvp re-aligns after
// rounds 1 and 3 ("every 2" with MinLabels 0), so resumption has to find
// stored generations again.
func simTestConfig(name string, rounds int) Config {
	ft := nn.DefaultRecipe(nn.MethodFT)
	ft.Epochs, ft.Hidden = 8, 32
	lpft := nn.DefaultRecipe(nn.MethodLPFT)
	lpft.Epochs, lpft.LPEpochs, lpft.Hidden = 8, 8, 32
	proxy := selector.DefaultProxyConfig("mlp")
	proxy.Epochs = 15
	ind := realign.DefaultIndicatorConfig()
	ind.Rule, ind.Every, ind.MinLabels = realign.RuleEvery, 2, 0
	tune := finetune.DefaultRecipe(finetune.MethodFT)
	tune.Epochs = 2
	return Config{
		Name: name, Pipelines: PipelineNames(), Strategy: "margin", Proxy: proxy,
		Init: 40, Budget: 30, Rounds: rounds, Seeds: []uint64{1, 2},
		Indicator: ind, Switch: realign.SwitchConfig{Mode: realign.SwitchAuto}, FT: ft, LPFT: lpft, Tune: tune, Workers: 2,
	}
}

func accuracies(res *Results) map[string]float64 {
	out := make(map[string]float64)
	for _, r := range res.Records {
		out[fmt.Sprintf("%s/%d/%04d", r.Pipeline, r.Seed, r.Round)] = r.Accuracy
	}
	return out
}

// TestSimulateResume runs 2 rounds, then resumes to 4, and compares with an
// uninterrupted 4-round run in a second cache: every accuracy, pick and
// generation must be equal.
// TestSimulateResume runs the four pipelines in tail mode (the real
// backbone's tail fine-tuned from cached activations) for 2 rounds, then
// resumes to 4, and compares every round with an uninterrupted run.
func TestSimulateResume(t *testing.T) {
	ctx := context.Background()
	_, a := tailFixture(t)
	part, err := Run(ctx, simTestConfig("r", 2), a)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(part.Records); got != 5*2*3 { // asvp-ft derived from asvp
		t.Fatalf("2-round run: %d records, want %d", got, 5*2*3)
	}
	var resumed int
	cfg := simTestConfig("r", 4)
	cfg.Progress = func(rec RoundRecord, wasResumed bool) {
		if wasResumed {
			resumed++
		}
	}
	res, err := Run(ctx, cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	if resumed != 4*2*3 {
		t.Errorf("resumed %d rounds, want %d", resumed, 4*2*3)
	}

	_, b := tailFixture(t)
	full, err := Run(ctx, simTestConfig("r", 4), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != len(full.Records) || len(full.Records) != 5*2*5 {
		t.Fatalf("records: resumed %d, uninterrupted %d, want %d", len(res.Records), len(full.Records), 5*2*5)
	}
	for i, r := range res.Records {
		f := full.Records[i]
		if r.Pipeline != f.Pipeline || r.Seed != f.Seed || r.Round != f.Round {
			t.Fatalf("record %d: %s/%d/%d vs %s/%d/%d", i, r.Pipeline, r.Seed, r.Round, f.Pipeline, f.Seed, f.Round)
		}
		if r.Accuracy != f.Accuracy || r.Labeled != f.Labeled || r.Method != f.Method || r.Updates != f.Updates {
			t.Errorf("%s seed %d round %d: resumed acc %v labeled %.8s %s, uninterrupted acc %v labeled %.8s %s",
				r.Pipeline, r.Seed, r.Round, r.Accuracy, r.Labeled, r.Method, f.Accuracy, f.Labeled, f.Method)
		}
		if r.Labels != 40+30*r.Round {
			t.Errorf("%s round %d: %d labels, want %d", r.Pipeline, r.Round, r.Labels, 40+30*r.Round)
		}
	}
	// asvp re-aligned after rounds 1 and 3 (every 2 rounds on the same
	// features, counting round 0), and switched from lpft to ft; asvp-ft
	// has its selections with ft models (the same model once asvp uses ft).
	asvp := map[string]RoundRecord{}
	for _, r := range full.Records {
		if r.Pipeline == PipelineASVP {
			asvp[fmt.Sprint(r.Seed, r.Round)] = r
			wantUpd := map[int]int{0: 0, 1: 1, 2: 1, 3: 2, 4: 2}[r.Round]
			if r.Updates != wantUpd || (r.Updates == 0) != (r.Method == finetune.MethodLPFT) || r.Indicator == nil || r.AccuracyFT == nil {
				t.Errorf("asvp seed %d round %d: updates %d method %s indicator %+v, want updates %d", r.Seed, r.Round, r.Updates, r.Method, r.Indicator, wantUpd)
			}
		}
	}
	for _, r := range full.Records {
		if r.Pipeline != PipelineASVPFT {
			continue
		}
		a := asvp[fmt.Sprint(r.Seed, r.Round)]
		if r.Method != finetune.MethodFT || r.Labeled != a.Labeled || (a.Method == finetune.MethodFT && r.Accuracy != a.Accuracy) {
			t.Errorf("asvp-ft seed %d round %d: method %s acc %v, asvp: method %s acc %v (same labels %v)", r.Seed, r.Round, r.Method, r.Accuracy, a.Method, a.Accuracy, r.Labeled == a.Labeled)
		}
	}
	// Standard AL selected with its fine-tuned models: it paid passes over the pool.
	for _, r := range full.Records {
		if r.Pipeline == PipelineStandard && r.Round > 0 && r.Seconds.Realign <= 0 {
			t.Errorf("standard round %d: no pass over the pool with its fine-tuned model", r.Round)
		}
	}
	// Every pipeline and seed starts from the same initial batch.
	first := map[uint64]string{}
	for _, r := range full.Records {
		if r.Round != 0 {
			continue
		}
		if h, ok := first[r.Seed]; ok && h != r.Labeled {
			t.Errorf("seed %d: %s starts from a different batch", r.Seed, r.Pipeline)
		}
		first[r.Seed] = r.Labeled
	}
	if first[1] == first[2] {
		t.Error("seeds 1 and 2 start from the same batch")
	}
	// Both runs wrote the same generations: 2 re-alignments x 2 seeds.
	gens, err := a.Pool.Generations()
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 5 {
		t.Errorf("pool set has %d generations after resume, want 5", len(gens))
	}
}

// TestSimulateCrashAfterRealign removes the record of a round that
// re-aligned (as if the process died after storing the generation): the
// rerun must reuse that generation, not add another, and give the same
// accuracy.
func TestSimulateCrashAfterRealign(t *testing.T) {
	ctx := context.Background()
	_, d := tailFixture(t)
	cfg := simTestConfig("c", 1)
	cfg.Pipelines, cfg.Seeds = []string{PipelineASVP}, []uint64{7}
	res, err := Run(ctx, cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	last := res.Records[1]
	if !last.Realigned {
		t.Fatalf("round 1 did not re-align: %+v", last.Indicator)
	}
	gensBefore, _ := d.Pool.Generations()
	// Drop round 1's record; keep round 0.
	if err := d.DB.DeleteSimRounds("c", PipelineASVP, 7, 1); err != nil {
		t.Fatal(err)
	}
	again, err := Run(ctx, cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	gensAfter, _ := d.Pool.Generations()
	if len(gensAfter) != len(gensBefore) {
		t.Errorf("generations: %d before, %d after the rerun; want the stored one reused", len(gensBefore), len(gensAfter))
	}
	if got := again.Records[1]; got.Accuracy != last.Accuracy || got.PoolGen != last.PoolGen {
		t.Errorf("rerun round 1: acc %v gen %d, first run acc %v gen %d", got.Accuracy, got.PoolGen, last.Accuracy, last.PoolGen)
	}
}

func TestSimulateSettingsConflict(t *testing.T) {
	_, d := simFixture(t)
	cfg := simTestConfig("x", 0)
	cfg.Pipelines = []string{PipelineRandom}
	if _, err := Run(context.Background(), cfg, d); err != nil {
		t.Fatal(err)
	}
	cfg.Budget = 31
	if _, err := Run(context.Background(), cfg, d); !errors.Is(err, ErrConflict) {
		t.Fatalf("changed budget under the same name: err %v, want ErrConflict", err)
	}
}

func TestSimulateConfigErrors(t *testing.T) {
	_, d := simFixture(t)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"unknown pipeline", func(c *Config) { c.Pipelines = []string{"nope"} }},
		{"no seeds", func(c *Config) { c.Seeds = nil }},
		{"zero budget", func(c *Config) { c.Budget = 0 }},
		{"budget beyond pool", func(c *Config) { c.Rounds = 100 }},
		{"bad name", func(c *Config) { c.Name = "a/b" }},
		{"bad indicator", func(c *Config) { c.Indicator.Rule = "sometimes" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simTestConfig("e", 1)
			tc.edit(&cfg)
			if _, err := Run(context.Background(), cfg, d); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestSimulateFeaturesOnly runs a cache without activations (features
// computed elsewhere: here, pixels): random and svpp run, their models
// trained on the frozen features; standard and asvp, which fine-tune the
// backbone, are refused with a reason.
func TestSimulateFeaturesOnly(t *testing.T) {
	ctx := context.Background()
	_, d := simFixture(t)
	cfg := simTestConfig("f", 2)
	cfg.Pipelines = []string{PipelineRandom, PipelineSVPP}
	res, err := Run(ctx, cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 2*2*3 {
		t.Fatalf("%d records, want %d", len(res.Records), 2*2*3)
	}
	for _, r := range res.Records {
		if r.Accuracy < 0.3 {
			t.Errorf("%s round %d: accuracy %v on real pixels, want well above chance", r.Pipeline, r.Round, r.Accuracy)
		}
	}
	for _, p := range []string{PipelineStandard, PipelineASVP} {
		cfg := simTestConfig("f-"+p, 1)
		cfg.Pipelines = []string{p}
		if _, err := Run(ctx, cfg, d); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "activations") {
			t.Errorf("%s without activations: %v, want ErrConfig naming the activations", p, err)
		}
	}
}
