package loop

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/selector"
)

// ProbeOptions says which outputs Probe measures.
type ProbeOptions struct {
	Cache string
	// Pool and Test are the datasets whose features train and measure the
	// probe; "" to infer them (see Probe). When they are the same dataset,
	// the probe is measured on the samples not drawn for training.
	Pool, Test string
	// Set names the pool's feature set by key or unique prefix of at least
	// 8 hex digits (asvp cache ls), in place of Pool and Outputs: the probe
	// trains on that set's dataset and measures that set's output.
	Set     string
	Outputs []string // outputs to probe (nil: every output cached for Pool)
	Labels  int      // labelled training samples, drawn at random
	Seed    uint64
	Proxy   string // "linear" or "mlp"
}

// ProbeResult is the probe of one output.
type ProbeResult struct {
	Pool     string  `json:"pool"`
	TestSet  string  `json:"test_set"`
	Output   string  `json:"output"`
	Dim      int     `json:"dim"`
	Labels   int     `json:"labels"`
	Test     int     `json:"test"`
	Accuracy float64 `json:"accuracy"`
	Seconds  float64 `json:"train_seconds"`
}

// Probe measures how well each cached output serves a classifier trained on
// Labels random oracle-labelled pool samples: the quickest check of which
// backbone layer to select on. Without Pool, the pool is the cache's only
// dataset with labels (other than Test), or the "X:train" of an
// "X:train"/"X:test" pair; without Test, the test is the pool's "X:test"
// partner when cached, else the pool itself: then the probe trains on at
// most Labels samples and four fifths of the pool, and is measured on the
// rest.
func Probe(opts ProbeOptions) (results []ProbeResult, err error) {
	if err := selector.CheckProxyKind(opts.Proxy); err != nil {
		return nil, invalid("proxy", err)
	}
	db, err := openExisting(opts.Cache, true)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	var poolSet *cache.Set
	if opts.Set != "" {
		if opts.Pool != "" || opts.Outputs != nil {
			return nil, optionErr("set", "give either --set or --pool/--outputs, not both")
		}
		if poolSet, err = db.FindSet(cache.SetSpec(opts.Set), ""); err != nil {
			return nil, &OptionError{Option: "set", Err: err}
		}
		opts.Pool, opts.Outputs = poolSet.Info().Dataset, []string{poolSet.Info().Output}
	}
	pool, test, err := inferProbeData(db, opts.Pool, opts.Test)
	if err != nil {
		return nil, err
	}
	opts.Pool, opts.Test = pool, test
	heldOut := pool == test
	outs := opts.Outputs
	if outs == nil {
		infos, err := db.Sets()
		if err != nil {
			return nil, err
		}
		for _, in := range infos {
			if _, _, acts := cache.ParseActivationsOutput(in.Output); in.Dataset == opts.Pool && !acts {
				outs = append(outs, in.Output)
			}
		}
	}
	_, trainLabels, err := db.OracleLabels(opts.Pool)
	if err != nil {
		return nil, err
	}
	classes, testLabels, err := db.OracleLabels(opts.Test)
	if err != nil {
		return nil, err
	}
	for _, out := range outs {
		ps := poolSet
		if ps == nil {
			if ps, err = db.FindSet(opts.Pool, out); err != nil {
				return nil, err
			}
		}
		ts := ps
		if !heldOut {
			if ts, err = db.FindSet(opts.Test, out); err != nil {
				return nil, err
			}
		}
		pm, err := ps.ReadMatrix(0)
		if err != nil {
			return nil, err
		}
		tm, err := ts.ReadMatrix(0)
		if err != nil {
			return nil, err
		}
		X, y := oracleRows(pm, trainLabels)
		Xt, yt := oracleRows(tm, testLabels)
		if heldOut { // train on a seeded random draw, test on the rest
			n := min(opts.Labels, X.Rows-max(1, X.Rows/5))
			if n < 2 {
				return nil, optionErr("pool", "%s has %d labelled samples with features of output %s: too few to train and test a probe on", pool, X.Rows, out)
			}
			perm := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)).Perm(X.Rows)
			X, y, Xt, yt = pick(X, perm[:n]), pickY(y, perm[:n]), pick(X, perm[n:]), pickY(y, perm[n:])
		} else if n := opts.Labels; X.Rows > n { // a seeded random subset of n rows
			perm := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)).Perm(X.Rows)[:n]
			X, y = pick(X, perm), pickY(y, perm)
		}
		cfg := selector.DefaultProxyConfig(opts.Proxy)
		cfg.Seed = opts.Seed
		t0 := time.Now()
		p, err := selector.TrainProxy(cfg, X, y, len(classes))
		if err != nil {
			return nil, fmt.Errorf("loop: output %s: %w", out, err)
		}
		results = append(results, ProbeResult{Pool: pool, TestSet: test, Output: out, Dim: X.Cols, Labels: X.Rows, Test: Xt.Rows,
			Accuracy: selector.Accuracy(p, Xt, yt), Seconds: time.Since(t0).Seconds()})
	}
	return results, nil
}

// pick returns the rows of X at rows, in that order.
func pick(X *features.Matrix, rows []int) *features.Matrix {
	sub := &features.Matrix{Rows: len(rows), Cols: X.Cols}
	for _, i := range rows {
		sub.IDs = append(sub.IDs, X.IDs[i])
		sub.Data = append(sub.Data, X.Row(i)...)
	}
	return sub
}

// pickY returns y at rows, in that order.
func pickY(y []int, rows []int) []int {
	out := make([]int, len(rows))
	for k, i := range rows {
		out[k] = y[i]
	}
	return out
}
