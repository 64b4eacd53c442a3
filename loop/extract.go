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
	Session       extractor.SessionOptions
	Run           extractor.Config // batch size, workers, on-error, progress
	// Log receives a line per sample that could not be read (the start
	// line and progress go to Run.Progress); nil for none.
	Log io.Writer
}

// ExtractResult is what Extract did.
type ExtractResult struct {
	Cache    string         `json:"cache"`
	Dataset  string         `json:"dataset"`
	Model    string         `json:"model"`
	Shard    string         `json:"shard,omitempty"`
	Sets     []ExtractedSet `json:"sets"`
	Samples  int            `json:"samples"`
	Cached   int            `json:"already_cached"`
	Done     int            `json:"extracted"`
	Failed   int            `json:"failed"`
	Seconds  float64        `json:"seconds"`
	ImagesPS float64        `json:"images_per_second"`
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
	modelSHA, err := opts.Card.VerifyFile(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	sess, err := extractor.OpenSession(rt, opts.Card, opts.ModelPath, opts.Outputs, opts.Session)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	ex, err := extractor.New(sess, opts.Run)
	if err != nil {
		return nil, invalid("on-error", err)
	}

	ds := opts.Dataset
	db, err := cache.Open(opts.Cache, nil)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	sink := &setSink{dims: sess.Dims(), log: opts.Log}
	res = &ExtractResult{Cache: opts.Cache, Dataset: ds.Spec(), Model: opts.Card.Name}
	if opts.Shards > 1 {
		res.Shard = fmt.Sprintf("%d/%d", opts.Shard, opts.Shards)
	}
	for k, out := range sess.Outputs() {
		set, err := db.EnsureSet(cache.SetInfo{
			Model: opts.Card.Name, ModelSHA256: modelSHA, Output: out, CardHash: opts.Card.PreprocessHash(),
			Dataset: ds.Spec(), DatasetID: ds.Identity(), Dim: sink.dims[k], DType: opts.DType, Shard: res.Shard,
		})
		if err != nil {
			return nil, err
		}
		sink.sets = append(sink.sets, set)
	}
	if err := storeOracleLabels(db, ds); err != nil {
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
			ds.Spec(), opts.Card.Name, opts.Card.Height, opts.Card.Width, opts.Cache, strings.Join(sess.Outputs(), ","), lo, hi-1)
	}
	st, runErr := ex.Run(ctx, ds, indices, sink)
	res.Samples, res.Cached, res.Done, res.Failed = st.Requested, st.Cached, st.Done, st.Failed
	res.Seconds = st.Elapsed.Round(time.Millisecond).Seconds()
	res.ImagesPS = st.ImagesPerSecond()
	for k, set := range sink.sets {
		if err := db.AddExtractionSeconds(set.Key(), opts.Shard, opts.Shards, st.Elapsed.Seconds()); err != nil {
			return res, err
		}
		c, err := set.Count(0)
		if err != nil {
			return res, err
		}
		res.Sets = append(res.Sets, ExtractedSet{Key: set.Key(), Output: sess.Outputs()[k], Dim: sink.dims[k], Count: c})
	}
	return res, runErr
}

// storeOracleLabels records the dataset's own labels, when it has any, as
// its oracle label set, so simulations can play the labelling oracle.
func storeOracleLabels(db *cache.DB, ds datasets.Dataset) error {
	labels := make(map[string]int)
	for i := range ds.Len() {
		if s := ds.Sample(i); s.Label >= 0 {
			labels[s.ID] = s.Label
		}
	}
	if len(labels) == 0 {
		return nil
	}
	return db.PutOracleLabels(ds.Spec(), ds.Classes(), labels)
}

// setSink stores one extraction pass into one feature set per output, in
// generation gen. Each Put is one bbolt transaction per set; a sample
// counts as missing while any of the sets lacks it, so a crash between two
// sets' writes is repaired by the next run.
type setSink struct {
	sets []*cache.Set
	dims []int
	gen  int
	log  io.Writer // receives one line per sample that could not be read; nil for none
}

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

func (s *setSink) Put(ids []string, vecs [][]float32, failed []extractor.Failure) error {
	errs := make([]cache.SampleError, len(failed))
	for i, f := range failed {
		errs[i] = cache.SampleError{ID: f.ID, Path: f.Path, Reason: f.Reason}
	}
	for k, set := range s.sets {
		var v []float32
		if len(ids) > 0 {
			v = vecs[k]
		}
		if err := set.PutBatchWithErrors(s.gen, ids, v, errs); err != nil {
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
