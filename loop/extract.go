package loop

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/onnxgraph"
)

// ExtractOptions says what Extract runs.
type ExtractOptions struct {
	Cache     string           // cache file, created when missing
	Dataset   datasets.Dataset // the samples
	Card      models.Card      // the backbone's card; ModelPath its ONNX file
	ModelPath string
	// Outputs are the backbone outputs to store (nil: the card's default).
	Outputs []string
	// Limit extracts only the first Limit samples in dataset order (0: all).
	Limit int
	// Shard and Shards fill the Shard-th of Shards contiguous slices of the
	// (limited) dataset; 0 of 1 is the whole.
	Shard, Shards int
	DType         string // storage type: "float32" or "float16"
	// TuneFrom is the cut of the built-in fine-tuning ("" for none): the
	// inputs of the tail above it that computes the first output (the cut
	// activation and the tail's frozen inputs) are stored too, as the set
	// cache.ActivationsOutput(TuneFrom, output), in ActivationsDType
	// ("float16" when empty).
	TuneFrom         string
	ActivationsDType string
	Session          extractor.SessionOptions
	Run              extractor.Config // batch size, workers, on-error, progress
	// Log receives a line per sample that could not be read (the start
	// line and progress go to Run.Progress); nil for none.
	Log io.Writer
}

// ExtractResult is what Extract did.
type ExtractResult struct {
	Cache   string         `json:"cache"`
	Dataset string         `json:"dataset"`
	Model   string         `json:"model"`
	Shard   string         `json:"shard,omitempty"`
	Sets    []ExtractedSet `json:"sets"`
	Samples int            `json:"samples"`
	Cached  int            `json:"already_cached"`
	Done    int            `json:"extracted"`
	Failed  int            `json:"failed"`
	// Hashed counts the files whose content was hashed (new or changed
	// stat); Copied the samples whose features were copied from equal
	// content already in the cache (no model run); Changed the samples
	// whose content changed since their features were stored (extracted
	// again); Removed the samples that left the dataset (and the view).
	// Copied, Changed and Removed count per feature set.
	Hashed  int `json:"hashed"`
	Copied  int `json:"copied"`
	Changed int `json:"changed"`
	Removed int `json:"removed"`
	// ViewSeconds is the time spent bringing the views up to date (stat,
	// hash, copy) before the model ran; Seconds is the model's pass.
	ViewSeconds float64 `json:"view_seconds"`
	Seconds     float64 `json:"seconds"`
	ImagesPS    float64 `json:"images_per_second"`
}

// ExtractedSet is one feature set an extraction filled.
type ExtractedSet struct {
	Key    string `json:"key"`
	Output string `json:"output"`
	Dim    int    `json:"dim"`
	Count  int    `json:"count"`
}

// Extract runs the backbone over the dataset into the cache, one feature
// set per output: batched, pipelined, incremental (samples already stored
// or recorded as failed are skipped, so a rerun after a crash resumes) and
// shardable. It stores the dataset's own labels as its oracle label set
// and adds the pass's wall time to each set's extraction record. On a
// cancelled or failed run the result says what was done before the error.
func Extract(ctx context.Context, rt *extractor.Runtime, opts ExtractOptions) (res *ExtractResult, err error) {
	if opts.Shards <= 0 {
		opts.Shard, opts.Shards = 0, 1
	}
	if opts.Shard < 0 || opts.Shard >= opts.Shards {
		return nil, optionErr("shard", "%d/%d: want i/n with 0 <= i < n", opts.Shard, opts.Shards)
	}
	if opts.DType != "float32" && opts.DType != "float16" {
		return nil, optionErr("dtype", "%q: want float32 or float16", opts.DType)
	}
	if opts.ActivationsDType == "" {
		opts.ActivationsDType = "float16"
	}
	if opts.ActivationsDType != "float32" && opts.ActivationsDType != "float16" {
		return nil, optionErr("activations-dtype", "%q: want float32 or float16", opts.ActivationsDType)
	}
	modelSHA, err := opts.Card.VerifyFile(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	outs := opts.Outputs
	if len(outs) == 0 {
		outs = []string{opts.Card.DefaultOutput}
	}
	var sources []string // the tail's inputs, exposed by the session after outs
	if opts.TuneFrom != "" {
		tl, err := cutTail(opts.ModelPath, opts.TuneFrom, outs[0])
		if err != nil {
			return nil, err
		}
		sources = tl.Sources()
		opts.Session.Expose = sources
	}
	sess, err := extractor.OpenSession(rt, opts.Card, opts.ModelPath, outs, opts.Session)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	ex, err := extractor.New(sess, opts.Run)
	if err != nil {
		return nil, invalid("on-error", err)
	}

	ds := opts.Dataset
	spec := datasets.NormalizeSpec(ds.Spec())
	db, err := cache.Open(opts.Cache, nil)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	sink := &setSink{dims: sess.Dims(), log: opts.Log}
	if m := db.Migrated(); m != nil && opts.Run.Progress != nil {
		fmt.Fprintf(opts.Run.Progress, "extract: migrated %s from format %d (a copy of the old file is %s)\n", opts.Cache, m.From, m.Backup)
	}
	res = &ExtractResult{Cache: opts.Cache, Dataset: spec, Model: opts.Card.Name}
	if opts.Shards > 1 {
		res.Shard = fmt.Sprintf("%d/%d", opts.Shard, opts.Shards)
	}
	// One set per output; the tail's inputs, concatenated, make one more.
	type setOf struct {
		output, dtype string
		parts         []int // session outputs whose values make the set's vector
	}
	var plan []setOf
	for k := range outs {
		plan = append(plan, setOf{outs[k], opts.DType, []int{k}})
	}
	if len(sources) > 0 {
		p := setOf{output: cache.ActivationsOutput(opts.TuneFrom, outs[0]), dtype: opts.ActivationsDType}
		for k := range sources {
			p.parts = append(p.parts, len(outs)+k)
		}
		plan = append(plan, p)
	}
	for _, p := range plan {
		dim := 0
		for _, k := range p.parts {
			dim += sink.dims[k]
		}
		set, err := db.EnsureDatasetSet(cache.SetInfo{
			Model: opts.Card.Name, ModelSHA256: modelSHA, Output: p.output, CardHash: opts.Card.PreprocessHash(),
			Dataset: spec, Dim: dim, DType: p.dtype, Shard: res.Shard,
		})
		if err != nil {
			return nil, err
		}
		sink.sets = append(sink.sets, set)
		sink.parts = append(sink.parts, p.parts)
	}
	if err := storeOracleLabels(db, spec, ds); err != nil {
		return nil, err
	}
	n := ds.Len()
	if opts.Limit > 0 && opts.Limit < n {
		n = opts.Limit
	}
	lo, hi := opts.Shard*n/opts.Shards, (opts.Shard+1)*n/opts.Shards
	indices := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		indices = append(indices, i)
	}
	if opts.Run.Progress != nil {
		fmt.Fprintf(opts.Run.Progress, "extract: %s with %s (%dx%d) -> %s, outputs %s, samples %d..%d\n",
			ds.Spec(), opts.Card.Name, opts.Card.Height, opts.Card.Width, opts.Cache, strings.Join(outs, ","), lo, hi-1)
		if len(sources) > 0 {
			fmt.Fprintf(opts.Run.Progress, "extract: and the inputs of the tail above %s (%s), %s\n", opts.TuneFrom, strings.Join(sources, ", "), opts.ActivationsDType)
		}
	}
	whole := lo == 0 && hi == ds.Len()
	viewStart := time.Now()
	vs, entries, err := reconcileViews(ctx, ds, indices, whole, sink.sets, opts.Run.Workers, opts.Run.Progress)
	if err != nil {
		return nil, err
	}
	res.ViewSeconds = time.Since(viewStart).Round(time.Millisecond).Seconds()
	res.Hashed, res.Copied, res.Changed, res.Removed = vs.hashed, vs.copied, vs.changed, vs.removed
	sink.view = entries
	st, runErr := ex.Run(ctx, ds, indices, sink)
	res.Samples, res.Cached, res.Done, res.Failed = st.Requested, st.Cached, st.Done, st.Failed
	res.Seconds = st.Elapsed.Round(time.Millisecond).Seconds()
	res.ImagesPS = st.ImagesPerSecond()
	for _, set := range sink.sets {
		if err := db.AddExtractionSeconds(set.Key(), opts.Shard, opts.Shards, st.Elapsed.Seconds()); err != nil {
			return res, err
		}
		c, err := set.Count(0)
		if err != nil {
			return res, err
		}
		res.Sets = append(res.Sets, ExtractedSet{Key: set.Key(), Output: set.Info().Output, Dim: set.Info().Dim, Count: c})
	}
	return res, runErr
}

// storeOracleLabels records the dataset's own labels, when it has any, as
// its oracle label set, so simulations can play the labelling oracle.
func storeOracleLabels(db *cache.DB, spec string, ds datasets.Dataset) error {
	labels := make(map[string]int)
	for i := range ds.Len() {
		if s := ds.Sample(i); s.Label >= 0 {
			labels[s.ID] = s.Label
		}
	}
	if len(labels) == 0 {
		return nil
	}
	return db.PutOracleLabels(spec, ds.Classes(), labels)
}

// setSink stores one extraction pass into one feature set per output, in
// generation gen. Each Put is one bbolt transaction per set; a sample
// counts as missing while any of the sets lacks it, so a crash between two
// sets' writes is repaired by the next run.
type setSink struct {
	sets  []*cache.Set
	dims  []int   // per-sample size of each session output
	parts [][]int // per set, the session outputs its vector concatenates (nil: output k for set k)
	gen   int
	log   io.Writer // receives one line per sample that could not be read; nil for none
	// view holds the samples' view entries, written with their vectors
	// (generation 0); nil for none.
	view map[string]cache.ViewEntry
}

// Missing implements extractor.Sink.
func (s *setSink) Missing(ids []string) ([]string, error) {
	seen := make(map[string]bool)
	for _, set := range s.sets {
		m, err := set.Missing(s.gen, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range m {
			seen[id] = true
		}
	}
	out := make([]string, 0, len(seen))
	for _, id := range ids {
		if seen[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// Put implements extractor.Sink.
func (s *setSink) Put(ids []string, vecs [][]float32, failed []extractor.Failure) error {
	errs := make([]cache.SampleError, len(failed))
	for i, f := range failed {
		errs[i] = cache.SampleError{ID: f.ID, Path: f.Path, Reason: f.Reason}
	}
	var entries []cache.ViewEntry
	if s.gen == 0 && s.view != nil {
		entries = make([]cache.ViewEntry, len(ids))
		for i, id := range ids {
			e, ok := s.view[id]
			if !ok { // read now but not when hashed: its next extraction adopts it
				entries = nil
				break
			}
			entries[i] = e
		}
	}
	for k, set := range s.sets {
		var v []float32
		if len(ids) > 0 {
			v = s.vector(k, len(ids), vecs)
		}
		var err error
		if entries != nil {
			err = set.PutViewBatch(ids, v, errs, entries)
		} else {
			err = set.PutBatchWithErrors(s.gen, ids, v, errs)
		}
		if err != nil {
			return err
		}
	}
	if s.log != nil {
		for _, f := range failed {
			fmt.Fprintf(s.log, "extract: skipped %s (%s): %s\n", f.ID, f.Path, f.Reason)
		}
	}
	return nil
}

// vector returns the batch of set k: its session output, or the
// concatenation, sample by sample, of its parts.
func (s *setSink) vector(k, n int, vecs [][]float32) []float32 {
	if s.parts == nil {
		return vecs[k]
	}
	parts := s.parts[k]
	if len(parts) == 1 {
		return vecs[parts[0]]
	}
	dim := 0
	for _, p := range parts {
		dim += s.dims[p]
	}
	out := make([]float32, 0, n*dim)
	for i := range n {
		for _, p := range parts {
			d := s.dims[p]
			out = append(out, vecs[p][i*d:(i+1)*d]...)
		}
	}
	return out
}

// cutTail reads the backbone at path and cuts the tail above cut that
// computes output. An operator the Go tail cannot run, above the cut, is an
// error naming it and its node.
func cutTail(path, cut, output string) (*onnxgraph.Tail, error) {
	m, err := onnxgraph.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tl, err := m.Cut(cut, []string{output})
	if err != nil {
		return nil, invalid("tune-from", fmt.Errorf("%s above %s: %w", path, cut, err))
	}
	return tl, nil
}
