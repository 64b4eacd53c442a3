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
	Cache      string
	Pool, Test string   // datasets whose features train and measure the probe
	Outputs    []string // outputs to probe (nil: every output cached for Pool)
	Labels     int      // labelled training samples, drawn at random
	Seed       uint64
	Proxy      string // "linear" or "mlp"
}

// ProbeResult is the probe of one output.
type ProbeResult struct {
	Output   string  `json:"output"`
	Dim      int     `json:"dim"`
	Labels   int     `json:"labels"`
	Test     int     `json:"test"`
	Accuracy float64 `json:"accuracy"`
	Seconds  float64 `json:"train_seconds"`
}

// Probe measures how well each cached output serves a classifier trained on
// Labels random oracle-labelled pool samples: the quickest check of which
// backbone layer to select on.
func Probe(opts ProbeOptions) (results []ProbeResult, err error) {
	if err := selector.CheckProxyKind(opts.Proxy); err != nil {
		return nil, invalid("proxy", err)
	}
	db, err := openExisting(opts.Cache, true)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
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
		ps, err := db.FindSet(opts.Pool, out)
		if err != nil {
			return nil, err
		}
		ts, err := db.FindSet(opts.Test, out)
		if err != nil {
			return nil, err
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
		if n := opts.Labels; X.Rows > n { // a seeded random subset of n rows
			perm := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)).Perm(X.Rows)[:n]
			sub := &features.Matrix{Rows: n, Cols: X.Cols}
			ys := make([]int, n)
			for k, i := range perm {
				sub.IDs = append(sub.IDs, X.IDs[i])
				sub.Data = append(sub.Data, X.Row(i)...)
				ys[k] = y[i]
			}
			X, y = sub, ys
		}
		cfg := selector.DefaultProxyConfig(opts.Proxy)
		cfg.Seed = opts.Seed
		t0 := time.Now()
		p, err := selector.TrainProxy(cfg, X, y, len(classes))
		if err != nil {
			return nil, fmt.Errorf("loop: output %s: %w", out, err)
		}
		results = append(results, ProbeResult{Output: out, Dim: X.Cols, Labels: X.Rows, Test: Xt.Rows,
			Accuracy: selector.Accuracy(p, Xt, yt), Seconds: time.Since(t0).Seconds()})
	}
	return results, nil
}
