package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/selector"
)

// labeledRows returns the rows of m that have an oracle label, and the labels.
func labeledRows(m *features.Matrix, labels map[string]int) (*features.Matrix, []int) {
	out := &features.Matrix{Cols: m.Cols}
	var y []int
	for i, id := range m.IDs {
		if l, ok := labels[id]; ok {
			out.IDs = append(out.IDs, id)
			out.Data = append(out.Data, m.Row(i)...)
			y = append(y, l)
		}
	}
	out.Rows = len(out.IDs)
	return out, y
}

// probeResult is one row of `asvp probe`.
type probeResult struct {
	Output   string  `json:"output"`
	Dim      int     `json:"dim"`
	Labels   int     `json:"labels"`
	Test     int     `json:"test"`
	Accuracy float64 `json:"accuracy"`
	Seconds  float64 `json:"train_seconds"`
}

// runProbe measures how well each cached output serves a linear classifier:
// the quickest check of which backbone layer to select on.
func runProbe(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", stderr)
	cachePath := fs.String("cache", "", "cache file (required)")
	pool := fs.String("pool", "fashion-mnist:train", "dataset whose features train the probe")
	test := fs.String("test", "fashion-mnist:test", "dataset whose features measure it")
	outputs := fs.String("outputs", "", "outputs to probe, comma-separated (default: every output cached for both)")
	n := fs.Int("labels", 5000, "labeled training samples, drawn at random")
	seed := fs.Uint64("seed", 1, "seed of the draw and the training")
	proxy := fs.String("proxy", "linear", "probe: linear or mlp")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cachePath == "" {
		return fmt.Errorf("--cache is required: %w", errUsage)
	}
	db, err := openExistingCache(*cachePath, true)
	if err != nil {
		return err
	}
	defer db.Close()
	var outs []string
	if *outputs != "" {
		outs = strings.Split(*outputs, ",")
	} else {
		infos, err := db.Sets()
		if err != nil {
			return err
		}
		for _, in := range infos {
			if in.Dataset == *pool {
				outs = append(outs, in.Output)
			}
		}
	}
	_, trainLabels, err := db.Labels(OracleLabelSet(*pool))
	if err != nil {
		return err
	}
	classes, testLabels, err := db.Labels(OracleLabelSet(*test))
	if err != nil {
		return err
	}
	var results []probeResult
	for _, out := range outs {
		ps, err := findSet(db, *pool, out)
		if err != nil {
			return err
		}
		ts, err := findSet(db, *test, out)
		if err != nil {
			return err
		}
		pm, err := ps.ReadMatrix(0)
		if err != nil {
			return err
		}
		tm, err := ts.ReadMatrix(0)
		if err != nil {
			return err
		}
		X, y := labeledRows(pm, trainLabels)
		Xt, yt := labeledRows(tm, testLabels)
		if X.Rows > *n { // a seeded random subset of n rows
			perm := rand.New(rand.NewPCG(*seed, 0x9e3779b97f4a7c15)).Perm(X.Rows)[:*n]
			sub := &features.Matrix{Rows: *n, Cols: X.Cols}
			ys := make([]int, *n)
			for k, i := range perm {
				sub.IDs = append(sub.IDs, X.IDs[i])
				sub.Data = append(sub.Data, X.Row(i)...)
				ys[k] = y[i]
			}
			X, y = sub, ys
		}
		cfg := selector.DefaultProxyConfig(*proxy)
		cfg.Seed = *seed
		t0 := time.Now()
		p, err := selector.TrainProxy(cfg, X, y, len(classes))
		if err != nil {
			return fmt.Errorf("output %s: %w", out, err)
		}
		results = append(results, probeResult{Output: out, Dim: X.Cols, Labels: X.Rows, Test: Xt.Rows,
			Accuracy: selector.Accuracy(p, Xt, yt), Seconds: time.Since(t0).Seconds()})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPUT\tDIM\tLABELS\tTEST\tACCURACY\tTRAIN S")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.1f\n", r.Output, r.Dim, r.Labels, r.Test, r.Accuracy, r.Seconds)
	}
	return tw.Flush()
}
