package loop

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
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
	All             bool // pick every unlabeled sample (Budget is ignored)
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
	Images    Images    // the image URLs of Label Studio tasks
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
	// Classes are the class names of the labelled set: the dataset's, then
	// the new names the labels introduce (empty for a first batch).
	Classes []string `json:"classes,omitempty"`
	// DocumentRoot is the Label Studio local-files document root the
	// tasks' image URLs are relative to (Label Studio format only).
	DocumentRoot string `json:"ls_document_root,omitempty"`
}

func (o SelectOptions) validate() (selector.Strategy, error) {
	if err := o.Indicator.Validate(); err != nil {
		return nil, invalid("indicator", err)
	}
	switch {
	case o.Budget <= 0 && !o.All:
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
	data, err := InferDataset(db, opts.Dataset, opts.Output, opts.Labeled)
	if err != nil {
		return nil, err
	}
	set, err := db.FindSet(data, opts.Output)
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
	// The labels the user wrote name the classes: the dataset's own, if it
	// has any, and each new name they use.
	var classes []string
	var labeled *Labeled
	if opts.Labeled != "" {
		base, err := datasetClasses(db, spec, opts.Datasets)
		if err != nil {
			return nil, err
		}
		if labeled, err = ReadLabeled(opts.Labeled, base); err != nil {
			return nil, err
		}
		classes = labeled.Classes
		for _, n := range labeled.New {
			say("new class %q (first on line %d of %s)", n.Name, n.Line, opts.Labeled)
		}
	}
	X, y, missing := labeled.rows(pool)
	if len(missing) > 0 {
		k := missing[0]
		return nil, optionErr("labeled", "%s line %d: id %q is not in feature set %s of %s (%d samples, e.g. %q)",
			opts.Labeled, labeled.Line[k], labeled.IDs[k], set.ShortKey(), spec, pool.Rows, pool.IDs[0])
	}
	if labeled != nil && (selector.NeedsProxy(strat.Name()) || opts.Format == FormatLabelStudio) {
		if err := labeled.needClasses("the " + opts.Proxy + " proxy"); err != nil {
			return nil, err
		}
	}
	row := make(map[string]int, pool.Rows)
	for i, id := range pool.IDs {
		row[id] = i
	}
	mask := make([]bool, pool.Rows)
	for _, id := range X.IDs {
		mask[row[id]] = true
	}
	free := pool.Rows - X.Rows
	if opts.All {
		opts.Budget = free
	}
	switch {
	case free == 0:
		return nil, optionErr("budget", "every sample of the pool (%d) is labeled already", pool.Rows)
	case opts.Budget > free:
		return nil, optionErr("budget", "%d is larger than what is left to label (%d of %d samples): pass --budget %d or --budget all", opts.Budget, free, pool.Rows, free)
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
		Generation: g, Strategy: strat.Name(), Seed: opts.Seed, Round: opts.Round, Pool: pool.Rows, Labeled: X.Rows, Seconds: secs, Classes: classes}
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
	var images func(string) (string, error)
	if opts.Format == FormatLabelStudio {
		if images, res.DocumentRoot, err = imageURLs(spec, opts.Images, opts.Datasets); err != nil {
			return nil, err
		}
		if res.DocumentRoot != "" {
			config := "asvp labels config --classes NAME,NAME,... (the class names you will label with)"
			if len(classes) > 0 {
				config = "asvp labels config --cache " + ShellQuote(opts.Cache) + labeledArg(opts.Labeled)
			}
			say("Label Studio shows these images when started with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=%s "+
				"and a Local files storage of that folder; its labeling config: %s", ShellQuote(res.DocumentRoot), config)
		}
	}
	err = atomicfile.Write(opts.Out, func(w io.Writer) error {
		switch opts.Format {
		case FormatJSONL:
			return selector.WritePicksJSONL(w, picks)
		case FormatLabelStudio:
			return selector.WriteLabelStudioTasks(w, picks, images, probs, classes)
		}
		return selector.WritePicksCSV(w, picks)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// labeledArg is " --labeled FILE" for a command line; "" without one.
func labeledArg(path string) string {
	if path == "" {
		return ""
	}
	return " --labeled " + ShellQuote(path)
}

// rows is Rows for a set that may be nil (no labels yet).
func (l *Labeled) rows(m *features.Matrix) (*features.Matrix, []int, []int) {
	if l == nil {
		return &features.Matrix{Cols: m.Cols}, nil, nil
	}
	return l.Rows(m)
}

// Images are what Select writes as a Label Studio task's data.image.
type Images struct {
	// URL, when set, is a prefix the images are served under: a task shows
	// URL + the sample's path in the dataset (its ID), each part escaped.
	URL string
	// DocumentRoot is Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT:
	// a task shows /data/local-files/?d=<the image's path under it>. ""
	// (and no URL) takes the dataset's own folder as the document root.
	DocumentRoot string
}

// LocalFilesPrefix is the path under which Label Studio serves local files.
const LocalFilesPrefix = "/data/local-files/?d="

// imageURLs maps the sample IDs of a dataset to the image URLs Label Studio
// shows, and returns the document root in use ("" with a URL prefix).
// Samples stored inside a file (IDX) have no image to show: their ID is
// written. An image outside the document root is an error naming it.
func imageURLs(spec string, im Images, opts datasets.Options) (func(string) (string, error), string, error) {
	if cache.IsImportDataset(spec) { // imported vectors: no files behind them
		return func(id string) (string, error) { return id, nil }, "", nil
	}
	ds, err := datasets.Open(spec, opts)
	if err != nil {
		return nil, "", err
	}
	paths := make(map[string]string, ds.Len())
	root := ""
	for i := range ds.Len() {
		s := ds.Sample(i)
		if s.Path == "" {
			continue
		}
		abs, err := filepath.Abs(s.Path)
		if err != nil {
			return nil, "", err
		}
		paths[s.ID] = abs
		if root == "" { // the dataset's folder: the path less the ID (the path in the dataset)
			root = strings.TrimSuffix(abs, string(filepath.Separator)+filepath.FromSlash(s.ID))
		}
	}
	if im.URL != "" {
		prefix := im.URL
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		return func(id string) (string, error) {
			if _, ok := paths[id]; !ok {
				return id, nil
			}
			return prefix + escapePath(id, url.PathEscape), nil
		}, "", nil
	}
	if im.DocumentRoot != "" {
		if root, err = filepath.Abs(im.DocumentRoot); err != nil {
			return nil, "", invalid("ls-document-root", err)
		}
	}
	return func(id string) (string, error) {
		p, ok := paths[id]
		if !ok {
			return id, nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", optionErr("ls-document-root", "image %s is not under the document root %s", p, root)
		}
		return LocalFilesPrefix + escapePath(filepath.ToSlash(rel), url.QueryEscape), nil
	}, root, nil
}

// escapePath escapes each part of a slash path.
func escapePath(p string, escape func(string) string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		parts[i] = escape(part)
	}
	return strings.Join(parts, "/")
}
