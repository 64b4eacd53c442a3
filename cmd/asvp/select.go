package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/selector"
)

// selectResult is the JSON line `asvp select` prints to stdout.
type selectResult struct {
	Out        string             `json:"out"`
	Format     string             `json:"format"`
	Set        string             `json:"set"`
	Generation int                `json:"generation"`
	Strategy   string             `json:"strategy"`
	Proxy      string             `json:"proxy,omitempty"`
	Seed       uint64             `json:"seed"`
	Pool       int                `json:"pool"`
	Labeled    int                `json:"labeled"`
	Budget     int                `json:"budget"`
	Seconds    map[string]float64 `json:"seconds"`
	Indicator  *liveIndicator     `json:"indicator,omitempty"`
}

// runSelect picks the next batch to label: trains a proxy on the labeled
// samples' cached features and lets a strategy choose among the rest.
func runSelect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("select", stderr)
	cachePath := fs.String("cache", "", "cache file (required)")
	data := fs.String("data", "", "dataset spec of the pool, as given to extract (default: the cache's only dataset)")
	output := fs.String("output", "", "backbone output of the feature set (needed when the cache has several)")
	gen := fs.Int("gen", -1, "feature generation to select on (default: the newest complete one)")
	labeledPath := fs.String("labeled", "", "CSV id,label of the samples labeled so far (none for a first batch with random, kcenter or typiclust)")
	budget := fs.Int("budget", 0, "number of samples to pick (required)")
	strategy := fs.String("strategy", "margin", "strategy: "+strings.Join(selector.StrategyNames(), ", "))
	proxy := fs.String("proxy", "mlp", "proxy trained on the labeled features: linear or mlp")
	seed := fs.Uint64("seed", 1, "seed of every random choice (same seed, same selection)")
	beta := fs.Float64("beta", 1, "power-sampling exponent of margin-power and entropy-power")
	out := fs.String("out", "", "file to write the picks to (required)")
	format := fs.String("format", "csv", "output format: csv (id,score,rank), jsonl, or labelstudio (Label Studio tasks)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines (results do not depend on it)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	ic := selector.DefaultIndicatorConfig()
	fs.StringVar(&ic.Rule, "indicator", ic.Rule, "re-alignment rule on the labeled set's LogME: plateau, threshold, every or never")
	fs.IntVar(&ic.Patience, "patience", ic.Patience, "plateau: rounds without a LogME gain of --min-gain before re-aligning")
	fs.Float64Var(&ic.MinGain, "min-gain", ic.MinGain, "plateau: smallest LogME rise per sample that counts as a gain")
	fs.Float64Var(&ic.Threshold, "threshold", ic.Threshold, "threshold: re-align when LogME per sample is below this")
	fs.IntVar(&ic.MaxUpdates, "max-updates", ic.MaxUpdates, "most re-alignments (0: no cap)")
	fs.IntVar(&ic.MinLabels, "min-labels", ic.MinLabels, "no re-alignment below this many labels")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := ic.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	switch {
	case *cachePath == "" || *out == "":
		return fmt.Errorf("--cache and --out are required: %w", errUsage)
	case *budget <= 0:
		return fmt.Errorf("--budget %d: want a positive number of samples: %w", *budget, errUsage)
	case *format != "csv" && *format != "jsonl" && *format != "labelstudio":
		return fmt.Errorf("--format %q: want csv, jsonl or labelstudio: %w", *format, errUsage)
	}
	strat, err := selector.NewStrategy(*strategy, selector.StrategyOptions{Beta: *beta})
	if err != nil {
		return fmt.Errorf("--strategy: %v: %w", err, errUsage)
	}
	db, err := openExistingCache(*cachePath, false) // read-write: the indicator's history lives in the cache
	if err != nil {
		return err
	}
	defer db.Close()
	set, spec, err := resolveSet(db, *data, *output)
	if err != nil {
		return err
	}
	g, err := pickGen(db, set, *gen)
	if err != nil {
		return err
	}
	secs := map[string]float64{}
	t0 := time.Now()
	pool, err := set.ReadMatrix(g)
	if err != nil {
		return err
	}
	secs["read"] = time.Since(t0).Seconds()
	classes, err := datasetClasses(db, spec)
	if err != nil {
		return err
	}
	labels := map[string]int{}
	if *labeledPath != "" {
		if labels, _, err = readLabeled(*labeledPath, classes); err != nil {
			return err
		}
	}
	needsProxy := !slices.Contains([]string{"random", "kcenter", "typiclust"}, strat.Name())
	if len(labels) == 0 && (needsProxy || *format == "labelstudio") {
		return fmt.Errorf("--strategy %s (or --format labelstudio) needs labeled samples for its proxy: give --labeled, or pick the first batch with --strategy random, kcenter or typiclust: %w",
			strat.Name(), errUsage)
	}
	row := make(map[string]int, pool.Rows)
	for i, id := range pool.IDs {
		row[id] = i
	}
	labeled := make([]bool, pool.Rows)
	for id := range labels {
		i, ok := row[id]
		if !ok {
			return fmt.Errorf("--labeled %s: id %q (line %d) is not in feature set %s of %s (%d samples, e.g. %q)",
				*labeledPath, id, labelLine(*labeledPath, id), set.Key()[:12], spec, pool.Rows, pool.IDs[0])
		}
		labeled[i] = true
	}
	if free := pool.Rows - len(labels); *budget > free {
		return fmt.Errorf("--budget %d is larger than the unlabeled pool (%d of %d samples): %w", *budget, free, pool.Rows, errUsage)
	}
	req := selector.Request{Pool: pool, Labeled: labeled, Budget: *budget, Seed: *seed, Workers: *workers}
	if !*quiet {
		last := time.Now()
		req.Progress = func(done, total int) {
			if time.Since(last) > 2*time.Second || done == total {
				last = time.Now()
				fmt.Fprintf(stderr, "select: %s %d/%d\n", strat.Name(), done, total)
			}
		}
	}
	X, y := labeledRows(pool, labels)
	t0 = time.Now()
	var indicator *liveIndicator
	if len(labels) > 0 { // a first batch has nothing to measure yet
		li, err := liveLogME(db, set, g, X, y, len(classes), ic)
		if err != nil {
			return err
		}
		indicator = li
		if !*quiet {
			fmt.Fprintf(stderr, "select: indicator: %s\n", li.Reason)
			if li.Realign {
				// Name the set fully: the command must work as printed
				// whatever else the cache holds.
				fmt.Fprintf(stderr, "select: re-align now: asvp finetune --cache %s --data %s --output %s --labeled %s --method ft, then select with --gen -1\n",
					shellQuote(*cachePath), shellQuote(spec), shellQuote(set.Info().Output), shellQuote(*labeledPath))
			}
		}
	}
	secs["indicator"] = time.Since(t0).Seconds()
	var probs []float32
	if needsProxy || *format == "labelstudio" {
		cfg := selector.DefaultProxyConfig(*proxy)
		cfg.Seed = *seed
		t0 = time.Now()
		p, err := selector.TrainProxy(cfg, X, y, len(classes))
		if err != nil {
			return fmt.Errorf("train %s proxy on %d labels from %s: %w", *proxy, X.Rows, *labeledPath, err)
		}
		secs["proxy_train"] = time.Since(t0).Seconds()
		req.Proxy = p
		if *format == "labelstudio" {
			probs = selector.Predict(p, pool)
		}
	}
	if !*quiet {
		fmt.Fprintf(stderr, "select: %s on %d samples (%d labeled), generation %d of %s, budget %d\n",
			strat.Name(), pool.Rows, len(labels), g, set.Key()[:12], *budget)
	}
	t0 = time.Now()
	picks, err := strat.Select(ctx, req)
	if err != nil {
		return err
	}
	secs["select"] = time.Since(t0).Seconds()
	err = atomicfile.Write(*out, func(w io.Writer) error {
		switch *format {
		case "jsonl":
			return selector.WritePicksJSONL(w, picks)
		case "labelstudio":
			paths, err := samplePaths(spec)
			if err != nil {
				return err
			}
			return selector.WriteLabelStudioTasks(w, picks, paths, probs, classes)
		}
		return selector.WritePicksCSV(w, picks)
	})
	if err != nil {
		return err
	}
	res := selectResult{Out: *out, Format: *format, Set: set.Key(), Generation: g, Strategy: strat.Name(),
		Seed: *seed, Pool: pool.Rows, Labeled: len(labels), Budget: len(picks), Seconds: secs, Indicator: indicator}
	if req.Proxy != nil {
		res.Proxy = *proxy
	}
	return json.NewEncoder(stdout).Encode(res)
}

// onlyDataset returns the dataset spec of a cache that holds one dataset.
func onlyDataset(db *cache.DB) (string, error) {
	infos, err := db.Sets()
	if err != nil {
		return "", err
	}
	var specs []string
	for _, in := range infos {
		if !slices.Contains(specs, in.Dataset) {
			specs = append(specs, in.Dataset)
		}
	}
	if len(specs) != 1 {
		return "", fmt.Errorf("cache %s holds %d datasets (%s): name one with --data: %w", db.Path(), len(specs), strings.Join(specs, ", "), errUsage)
	}
	return specs[0], nil
}

// samplePaths maps sample IDs of a dataset to their image files, for
// labeling tools; samples stored inside a file (IDX) map to their ID.
func samplePaths(spec string) (func(string) string, error) {
	ds, err := datasets.Open(spec, datasetOptions())
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

// labelLine finds the line of id in a labels CSV, for error messages; 0 when unknown.
func labelLine(path, id string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	rows, err := datasets.ReadLabels(bufio.NewReader(f), path)
	if err != nil {
		return 0
	}
	for _, r := range rows {
		if r.ID == id {
			return r.Line
		}
	}
	return 0
}

// runLabels handles `asvp labels import`: merges labels from a Label Studio
// JSON export or a CSV into the labeled file.
func runLabels(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, "usage: asvp labels import --from EXPORT.json|LABELS.csv --labeled LABELED.csv")
		return nil
	}
	if len(args) == 0 || args[0] != "import" {
		return fmt.Errorf("labels: want the subcommand import: %w", errUsage)
	}
	fs := newFlagSet("labels import", stderr)
	from := fs.String("from", "", "Label Studio JSON export (.json) or CSV id,label to import (required)")
	labeledPath := fs.String("labeled", "", "labeled file (CSV id,label) to add to; created when missing (required)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *from == "" || *labeledPath == "" {
		return fmt.Errorf("--from and --labeled are required: %w", errUsage)
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer f.Close()
	var incoming []datasets.Label
	if strings.HasSuffix(strings.ToLower(*from), ".json") {
		incoming, err = datasets.ReadLabelStudio(f, *from)
	} else {
		incoming, err = datasets.ReadLabels(f, *from)
	}
	if err != nil {
		return err
	}
	// Annotators who disagreed: the latest annotation was taken; say so.
	disagree := 0
	for _, l := range incoming {
		if len(l.Others) > 0 {
			if disagree == 0 {
				fmt.Fprintf(stderr, "labels import: annotations disagree on %s (line %d): took the latest, %q, over %q\n",
					l.ID, l.Line, l.Label, l.Others)
			}
			disagree++
		}
	}
	if disagree > 1 {
		fmt.Fprintf(stderr, "labels import: %d tasks in all have disagreeing annotations; the latest annotation of each was taken\n", disagree)
	}
	var have []datasets.Label
	if b, err := os.ReadFile(*labeledPath); err == nil {
		if have, err = datasets.ReadLabels(strings.NewReader(string(b)), *labeledPath); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	known := make(map[string]datasets.Label, len(have))
	for _, l := range have {
		known[l.ID] = l
	}
	added, same := 0, 0
	for _, l := range incoming {
		if old, ok := known[l.ID]; ok {
			if old.Label != l.Label {
				return fmt.Errorf("%s: sample %q is labeled %q there but %q in %s line %d: resolve the conflict first",
					*from, l.ID, l.Label, old.Label, *labeledPath, old.Line)
			}
			same++
			continue
		}
		known[l.ID] = l
		have = append(have, l)
		added++
	}
	if err := atomicfile.Write(*labeledPath, func(w io.Writer) error { return datasets.WriteLabels(w, have) }); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"labeled": *labeledPath, "added": added, "already_present": same,
		"total": len(have), "disagreeing": disagree})
}
