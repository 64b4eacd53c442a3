package loop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/report"
	"github.com/asvp-dev/asvp/simulate"
	"github.com/asvp-dev/asvp/tuning"
)

// SimulateOptions says what Simulate runs and where it writes the report.
type SimulateOptions struct {
	Cache      string
	Pool, Test string // datasets of the pool and the test set, with oracle labels
	Output     string // backbone output of their feature sets ("" for the only one)
	// Config is the simulation; its Name, when empty, is derived from the
	// settings, so the same settings resume and others start afresh.
	Config simulate.Config
	// PoolLimit uses a random subset of PoolLimit labelled pool samples,
	// drawn with a fixed seed, the same for every pipeline and seed (0: all).
	PoolLimit int
	// Costs prices the results; a negative ExtractSeconds is taken from the
	// cache's extraction record of the pool.
	Costs          simulate.CostConfig
	TargetAccuracy float64 // 0: random's final mean accuracy
	// Out is the folder of the report. A part of a sharded simulation
	// (Config.Shards > 1) writes only its results.json there (a
	// report.Document summarising the part's units); Join makes the report
	// of the whole from every part's.
	Out string
	// ModelFor returns the card and ONNX file of a feature set's backbone,
	// whose tail the pipelines fine-tune when the pool's activations are
	// cached (nil: features-only mode).
	ModelFor func(cache.SetInfo) (models.Card, string, error)
	Log      io.Writer
}

// SimulateResult is what Simulate produced.
type SimulateResult struct {
	Name    string
	Summary *simulate.Summary
	Files   report.Files
	// Warnings are what makes the figures less than they seem (also said
	// on the log): a test set that is the pool, samples without labels.
	Warnings []string `json:",omitempty"`
}

// simulateWarnings says what makes a simulation's figures less than they
// seem: a test set that is the pool itself (accuracy measured on what the
// pipelines train on), and samples the simulation leaves out for want of an
// oracle label (a partly labelled manifest).
func simulateWarnings(pool, test *cache.Set, poolLabels, testLabels map[string]int) []string {
	var out []string
	pi, ti := pool.Info(), test.Info()
	if pi.Dataset == ti.Dataset || (pi.DatasetID != "" && pi.DatasetID == ti.DatasetID) {
		out = append(out, fmt.Sprintf("the test set %s is the pool %s: accuracy is measured on samples the pipelines train on; use held-out data", ti.Dataset, pi.Dataset))
	}
	for _, s := range []struct {
		what   string
		set    *cache.Set
		labels map[string]int
	}{{"pool", pool, poolLabels}, {"test set", test, testLabels}} {
		n, err := s.set.Count(0)
		if err != nil || n <= len(s.labels) {
			continue
		}
		out = append(out, fmt.Sprintf("the %s %s has %d samples but %d with a label: the simulation uses only the %d labelled ones",
			s.what, s.set.Info().Dataset, n, len(s.labels), len(s.labels)))
	}
	return out
}

// Simulate runs (or resumes) an offline simulation on cached features with
// the datasets' oracle labels, summarises it and writes the report.
func Simulate(ctx context.Context, opts SimulateOptions) (res *SimulateResult, err error) {
	if opts.PoolLimit < 0 {
		return nil, optionErr("pool-limit", "%d: want 0 or more", opts.PoolLimit)
	}
	res = &SimulateResult{}
	// Locked only while a transaction runs: cache ls and other readers can
	// look at the cache during a simulation of hours.
	db, err := openExistingWith(opts.Cache, &cache.Options{Shared: true, LockTimeout: sharedLockTimeout})
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	pool, err := db.FindSet(opts.Pool, opts.Output)
	if err != nil {
		return nil, err
	}
	if err := checkImportedPipelines(pool.Info(), opts.Config.Pipelines); err != nil {
		return nil, err
	}
	test, err := db.FindSet(opts.Test, opts.Output)
	if err != nil {
		return nil, err
	}
	classes, poolLabels, err := db.OracleLabels(opts.Pool)
	if err != nil {
		return nil, fmt.Errorf("loop: a simulation needs a labeled pool: %w", err)
	}
	testClasses, testLabels, err := db.OracleLabels(opts.Test)
	if err != nil {
		return nil, fmt.Errorf("loop: a simulation needs a labeled test set: %w", err)
	}
	if !slices.Equal(classes, testClasses) {
		return nil, fmt.Errorf("loop: pool classes %q differ from test classes %q", classes, testClasses)
	}
	for _, w := range simulateWarnings(pool, test, poolLabels, testLabels) {
		res.Warnings = append(res.Warnings, w)
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "simulate: warning: %s\n", w)
		}
	}
	data := simulate.Data{DB: db, Pool: pool, Test: test, Classes: classes, PoolLabels: poolLabels, TestLabels: testLabels}
	if err := openTuning(db, &data, opts.ModelFor, opts.Log); err != nil {
		return nil, err
	}
	if opts.PoolLimit > 0 {
		if data.PoolIDs, err = limitPool(pool, poolLabels, opts.PoolLimit); err != nil {
			return nil, err
		}
	}
	costs := opts.Costs
	if costs.ExtractSeconds < 0 {
		if costs.ExtractSeconds, err = db.ExtractionSeconds(pool.Key()); err != nil {
			return nil, err
		}
	}
	cfg := opts.Config
	if cfg.Name == "" {
		cfg.Name = defaultSimName(cfg, pool.Key(), test.Key(), opts.PoolLimit)
	}
	if opts.Log != nil {
		fmt.Fprintf(opts.Log, "simulate %s: pool %s (%s), test %s (%s), pipelines %s, %d seeds, %d rounds\n",
			cfg.Name, opts.Pool, pool.ShortKey(), opts.Test, test.ShortKey(), strings.Join(cfg.Pipelines, ","), len(cfg.Seeds), cfg.Rounds)
	}
	results, err := simulate.Run(ctx, cfg, data)
	if err != nil {
		return nil, err
	}
	sum := simulate.Summarize(results, simulate.SummaryOptions{Costs: costs, TargetAccuracy: opts.TargetAccuracy})
	if results.Shard != "" {
		p, err := writePart(opts.Out, results, sum)
		if err != nil {
			return nil, err
		}
		return &SimulateResult{Name: cfg.Name, Summary: sum, Files: report.Files{JSON: p}}, nil
	}
	files, err := report.Write(opts.Out, results, sum)
	if err != nil {
		return nil, err
	}
	res.Name, res.Summary, res.Files = cfg.Name, sum, files
	return res, nil
}

// checkImportedPipelines refuses the pipelines that fine-tune a backbone
// on an imported pool: its vectors came without one.
func checkImportedPipelines(pool cache.SetInfo, pipelines []string) error {
	if pool.Import == nil {
		return nil
	}
	for _, p := range pipelines {
		if p != simulate.PipelineRandom && p != simulate.PipelineSVPP {
			return fmt.Errorf("loop: pipeline %s fine-tunes the backbone that computed the features, and %s holds embeddings imported from %s (model %s) without one: run --pipelines random,svpp: %w",
				p, pool.Dataset, pool.Import.File, pool.Model, simulate.ErrConfig)
		}
	}
	return nil
}

// writePart writes the results.json of one part of a sharded simulation.
func writePart(dir string, res *simulate.Results, sum *simulate.Summary) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	b, err := json.MarshalIndent(report.Document{Results: res, Summary: sum}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("loop: results.json: %w", err)
	}
	p := filepath.Join(dir, "results.json")
	if err := atomicfile.WriteBytes(p, append(b, '\n')); err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	return p, nil
}

// JoinOptions says which parts of a sharded simulation Join puts together.
type JoinOptions struct {
	// Parts are the results.json files of the parts (or of one whole run,
	// whose report is then written again).
	Parts []string
	// TargetAccuracy is as in SimulateOptions (0: random's final mean).
	TargetAccuracy float64
	Out            string // folder of the report
}

// Join reads the results.json of every part of one sharded simulation,
// joins them (simulate.Join: the results of the same simulation run in one
// process), summarises them with the prices the parts were run with (they
// must agree) and writes the report.
func Join(opts JoinOptions) (*SimulateResult, error) {
	if len(opts.Parts) == 0 {
		return nil, optionErr("parts", "none given: want the results.json of every part")
	}
	parts := make([]*simulate.Results, len(opts.Parts))
	var costs simulate.CostConfig
	for k, p := range opts.Parts {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("loop: %w", err)
		}
		var doc report.Document
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("loop: %s: %w", p, err)
		}
		if doc.Results == nil || doc.Summary == nil {
			return nil, fmt.Errorf("loop: %s: no results or summary: not a results.json of asvp simulate", p)
		}
		if k == 0 {
			costs = doc.Summary.Costs
		} else if doc.Summary.Costs != costs {
			return nil, fmt.Errorf("loop: %s was priced with %+v, %s with %+v: run every part with the same prices", p, doc.Summary.Costs, opts.Parts[0], costs)
		}
		parts[k] = doc.Results
	}
	res, err := simulate.Join(parts)
	if err != nil {
		return nil, fmt.Errorf("loop: joining %s: %w", strings.Join(opts.Parts, ", "), err)
	}
	sum := simulate.Summarize(res, simulate.SummaryOptions{Costs: costs, TargetAccuracy: opts.TargetAccuracy})
	files, err := report.Write(opts.Out, res, sum)
	if err != nil {
		return nil, err
	}
	return &SimulateResult{Name: res.Name, Summary: sum, Files: files}, nil
}

// limitPool returns a random subset of n labelled pool IDs, drawn with the
// fixed seed 0 so every pipeline and seed shares it.
func limitPool(set *cache.Set, labels map[string]int, n int) ([]string, error) {
	m, err := set.ReadMatrix(0)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range m.IDs {
		if _, ok := labels[id]; ok {
			ids = append(ids, id)
		}
	}
	if n >= len(ids) {
		return ids, nil
	}
	rng := rand.New(rand.NewPCG(0, 0x706f6f6c)) // stream "pool"
	perm := rng.Perm(len(ids))[:n]
	out := make([]string, n)
	for k, i := range perm {
		out[k] = ids[i]
	}
	slices.Sort(out)
	return out, nil
}

// defaultSimName names a simulation after a hash of what shapes its
// results, so the same settings resume and different ones start afresh.
func defaultSimName(cfg simulate.Config, poolKey, testKey string, poolLimit int) string {
	b, _ := json.Marshal(struct {
		S, P, T     any
		Init, B, PL int
		Ind, Sw     any
		FT, LPFT    any
		Pool, Test  string
		Tune        any
	}{cfg.Strategy, cfg.StrategyOptions, cfg.Proxy, cfg.Init, cfg.Budget, poolLimit, cfg.Indicator, cfg.Switch, cfg.FT, cfg.LPFT, poolKey, testKey, cfg.Tune})
	h := sha256.Sum256(b)
	return fmt.Sprintf("%s-%s-%s", cfg.Strategy, cfg.Proxy.Kind, hex.EncodeToString(h[:4]))
}

// openTuning sets data's tail (tail mode) when the pool's activations are
// cached and the backbone's file is at hand; a pool without activations
// stays in features-only mode.
func openTuning(db *cache.DB, data *simulate.Data, modelFor func(cache.SetInfo) (models.Card, string, error), log io.Writer) error {
	if _, _, err := tuning.FindActivations(db, data.Pool, ""); errors.Is(err, tuning.ErrNoActivations) || modelFor == nil {
		if log != nil {
			fmt.Fprintf(log, "simulate features-only mode: no cached activations of %s (random and svpp; their models train on the frozen features)\n", data.Pool.Info().Dataset)
		}
		return nil
	} else if err != nil {
		return err
	}
	card, path, err := modelFor(data.Pool.Info())
	if err != nil {
		return err
	}
	if data.Tune, err = tuning.Open(db, data.Pool, card, path, tuning.Options{}); err != nil {
		return err
	}
	if data.TestActs, _, err = tuning.FindActivations(db, data.Test, data.Tune.Cut); err != nil {
		return fmt.Errorf("loop: the test set: %w", err)
	}
	if log != nil {
		fmt.Fprintf(log, "simulate tail mode: models fine-tune the tail of %s above %s from cached activations (%d BatchNorms calibrated)\n",
			card.Name, data.Tune.Cut, data.Tune.Pre.BatchNorm.Inserted)
	}
	return nil
}
