package loop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/selector"
)

// Output formats of Select.
const (
	FormatCSV         = "csv"         // id,score,rank
	FormatJSONL       = "jsonl"       // one JSON object per pick
	FormatLabelStudio = "labelstudio" // Label Studio tasks with the proxy's pre-annotation
)

// SelectOptions says what Select picks.
type SelectOptions struct {
	Cache           string
	Dataset, Output string // the feature set ("" for the only one)
	Gen             int    // generation to select on; < 0: the newest complete one
	Labeled         string // id,label CSV of the samples labeled so far ("" for none: a first batch)
	Budget          int
	Strategy        string
	StrategyOptions selector.StrategyOptions
	Proxy           string // "linear" or "mlp"
	// Seed and Round derive every random stream (selector.RoundSeed): with a
	// simulation's seed and round, on the same labelled set in the order it
	// was bought, Select picks what that round picked.
	Seed      uint64
	Round     int
	Out       string // file the picks are written to
	Format    string // FormatCSV, FormatJSONL or FormatLabelStudio
	Workers   int
	Indicator realign.IndicatorConfig
	Datasets  datasets.Options
	Log       io.Writer // progress and the indicator's verdict; nil for none
}

// SelectResult is what Select did.
type SelectResult struct {
	Out        string             `json:"out"`
	Format     string             `json:"format"`
	Set        string             `json:"set"`
	Dataset    string             `json:"dataset"`
	Output     string             `json:"output"`
	Generation int                `json:"generation"`
	Strategy   string             `json:"strategy"`
	Proxy      string             `json:"proxy,omitempty"`
	Seed       uint64             `json:"seed"`
	Round      int                `json:"round"`
	Pool       int                `json:"pool"`
	Labeled    int                `json:"labeled"`
	Budget     int                `json:"budget"`
	Seconds    map[string]float64 `json:"seconds"`
	Indicator  *Indicator         `json:"indicator,omitempty"`
}

func (o SelectOptions) validate() (selector.Strategy, error) {
	if err := o.Indicator.Validate(); err != nil {
		return nil, invalid("indicator", err)
	}
	switch {
	case o.Budget <= 0:
		return nil, optionErr("budget", "%d: want a positive number of samples", o.Budget)
	case o.Format != FormatCSV && o.Format != FormatJSONL && o.Format != FormatLabelStudio:
		return nil, optionErr("format", "%q: want csv, jsonl or labelstudio", o.Format)
	case o.Round < 0:
		return nil, optionErr("round", "%d: want 0 or more", o.Round)
	}
	strat, err := selector.NewStrategy(o.Strategy, o.StrategyOptions)
	if err != nil {
		return nil, invalid("strategy", err)
	}
	if err := selector.CheckProxyKind(o.Proxy); err != nil && (selector.NeedsProxy(strat.Name()) || o.Format == FormatLabelStudio) {
		return nil, invalid("proxy", err)
	}
	return strat, nil
}

// Select picks the next Budget samples to label: it trains a proxy on the
// labelled samples' features (strategies that need one), lets the strategy
// choose among the rest, writes the picks to Out, and reports the
// re-alignment indicator on the labelled set (stored in the cache, so the
// rule sees every round of the live loop).
func Select(ctx context.Context, opts SelectOptions) (res *SelectResult, err error) {
	strat, err := opts.validate()
	if err != nil {
		return nil, err
	}
	say := func(format string, a ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "select: "+format+"\n", a...)
		}
	}
	db, err := openExisting(opts.Cache, false) // read-write: the indicator's history lives in the cache
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	if opts.Labeled == "" && selector.NeedsProxy(strat.Name()) {
		return nil, optionErr("labeled", "strategy %s needs labeled samples for its proxy; pick a first batch with random, kcenter or typiclust", strat.Name())
	}
	set, err := db.FindSet(opts.Dataset, opts.Output)
	if err != nil {
		return nil, err
	}
	spec := set.Info().Dataset
	g, err := set.PickGeneration(opts.Gen)
	if err != nil {
		return nil, err
	}
	secs := map[string]float64{}
	t0 := time.Now()
	pool, err := set.ReadMatrix(g)
	if err != nil {
		return nil, err
	}
	secs["read"] = time.Since(t0).Seconds()
	// Classes matter once there are labels: a first batch of an unlabeled
	// pool (a flat folder, a manifest without labels) needs none.
	var classes []string
	var labeled *Labeled
	if opts.Labeled != "" {
		classes, err = datasetClasses(db, spec, opts.Datasets)
		if errors.Is(err, errNoImportClasses) {
			classes, err = labeledClasses(opts.Labeled)
		}
		if err != nil {
			return nil, err
		}
		if labeled, err = ReadLabeled(opts.Labeled, classes); err != nil {
			return nil, err
		}
	}
	X, y, missing := labeled.rows(pool)
	if len(missing) > 0 {
		k := missing[0]
		return nil, optionErr("labeled", "%s line %d: id %q is not in feature set %s of %s (%d samples, e.g. %q)",
			opts.Labeled, labeled.Line[k], labeled.IDs[k], set.ShortKey(), spec, pool.Rows, pool.IDs[0])
	}
	row := make(map[string]int, pool.Rows)
	for i, id := range pool.IDs {
		row[id] = i
	}
	mask := make([]bool, pool.Rows)
	for _, id := range X.IDs {
		mask[row[id]] = true
	}
	if free := pool.Rows - X.Rows; opts.Budget > free {
		return nil, optionErr("budget", "%d is larger than the unlabeled pool (%d of %d samples)", opts.Budget, free, pool.Rows)
	}
	req := selector.Request{Pool: pool, Labeled: mask, Budget: opts.Budget, Workers: opts.Workers,
		Seed: selector.RoundSeed(opts.Seed, opts.Round, selector.PurposeSelect)}
	if opts.Log != nil {
		last := time.Now()
		req.Progress = func(done, total int) {
			if time.Since(last) > 2*time.Second || done == total {
				last = time.Now()
				say("%s %d/%d", strat.Name(), done, total)
			}
		}
	}
	res = &SelectResult{Out: opts.Out, Format: opts.Format, Set: set.Key(), Dataset: spec, Output: set.Info().Output,
		Generation: g, Strategy: strat.Name(), Seed: opts.Seed, Round: opts.Round, Pool: pool.Rows, Labeled: X.Rows, Seconds: secs}
	t0 = time.Now()
	if X.Rows > 0 { // a first batch has nothing to measure yet
		if res.Indicator, err = observeIndicator(set, g, X, y, len(classes), opts.Indicator); err != nil {
			return nil, err
		}
		say("indicator: %s", res.Indicator.Reason)
	}
	secs["indicator"] = time.Since(t0).Seconds()
	var probs []float32
	if selector.NeedsProxy(strat.Name()) || opts.Format == FormatLabelStudio && X.Rows > 0 {
		// Label Studio tasks carry the proxy's prediction once there are
		// labels to train it on; a first batch's tasks carry none.
		cfg := selector.DefaultProxyConfig(opts.Proxy)
		cfg.Seed = selector.RoundSeed(opts.Seed, opts.Round, selector.PurposeProxy)
		t0 = time.Now()
		p, err := selector.TrainProxy(cfg, X, y, len(classes))
		if err != nil {
			return nil, fmt.Errorf("loop: train %s proxy on %d labels of %s: %w", opts.Proxy, X.Rows, opts.Labeled, err)
		}
		secs["proxy_train"] = time.Since(t0).Seconds()
		req.Proxy, res.Proxy = p, opts.Proxy
		if opts.Format == FormatLabelStudio {
			probs = selector.Predict(p, pool)
		}
	}
	say("%s on %d samples (%d labeled), generation %d of %s, budget %d", strat.Name(), pool.Rows, X.Rows, g, set.ShortKey(), opts.Budget)
	t0 = time.Now()
	picks, err := strat.Select(ctx, req)
	if err != nil {
		return nil, err
	}
	secs["select"] = time.Since(t0).Seconds()
	res.Budget = len(picks)
	err = atomicfile.Write(opts.Out, func(w io.Writer) error {
		switch opts.Format {
		case FormatJSONL:
			return selector.WritePicksJSONL(w, picks)
		case FormatLabelStudio:
			paths, err := samplePaths(spec, opts.Datasets)
			if err != nil {
				return err
			}
			return selector.WriteLabelStudioTasks(w, picks, paths, probs, classes)
		}
		return selector.WritePicksCSV(w, picks)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// rows is Rows for a set that may be nil (no labels yet).
func (l *Labeled) rows(m *features.Matrix) (*features.Matrix, []int, []int) {
	if l == nil {
		return &features.Matrix{Cols: m.Cols}, nil, nil
	}
	return l.Rows(m)
}

// samplePaths maps sample IDs of a dataset to their image files, for
// labelling tools; samples stored inside a file (IDX) map to their ID.
func samplePaths(spec string, opts datasets.Options) (func(string) string, error) {
	if cache.IsImportDataset(spec) { // imported vectors: no files behind them
		return func(id string) string { return id }, nil
	}
	ds, err := datasets.Open(spec, opts)
	if err != nil {
		return nil, err
	}
	paths := make(map[string]string, ds.Len())
	for i := range ds.Len() {
		if s := ds.Sample(i); s.Path != "" {
			paths[s.ID] = s.Path
		}
	}
	return func(id string) string {
		if p, ok := paths[id]; ok {
			return p
		}
		return id
	}, nil
}
