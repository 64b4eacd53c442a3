package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
)

// cacheSink stores one extraction pass into one feature set per output.
// Each Put is one bbolt transaction per set; a sample counts as missing
// while any of the sets lacks it, so a crash between two sets' writes is
// repaired by the next run.
type cacheSink struct {
	sets []*cache.Set
	dims []int
	gen  int
	log  io.Writer // receives one line per sample that could not be read; nil for none
}

func (s *cacheSink) Missing(ids []string) ([]string, error) {
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

func (s *cacheSink) Put(ids []string, vecs [][]float32, failed []extractor.Failure) error {
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

// parseShard reads "i/n" with 0 <= i < n.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 <= i < n: %w", s, errUsage)
	}
	return i, n, nil
}

// extractResult is what `asvp extract` prints to stdout.
type extractResult struct {
	Cache    string          `json:"cache"`
	Dataset  string          `json:"dataset"`
	Model    string          `json:"model"`
	Shard    string          `json:"shard,omitempty"`
	Sets     []extractedSet  `json:"sets"`
	Stats    extractor.Stats `json:"-"`
	Samples  int             `json:"samples"`
	Cached   int             `json:"already_cached"`
	Done     int             `json:"extracted"`
	Failed   int             `json:"failed"`
	Seconds  float64         `json:"seconds"`
	ImagesPS float64         `json:"images_per_second"`
}

type extractedSet struct {
	Key    string `json:"key"`
	Output string `json:"output"`
	Dim    int    `json:"dim"`
	Count  int    `json:"count"`
}

func runExtract(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("extract", stderr)
	var mf modelFlags
	mf.register(fs)
	data := fs.String("data", "", "dataset spec: fashion-mnist:train|test, idx:DIR[:PREFIX], folder:DIR, csv:FILE (required)")
	outputs := fs.String("output", "", "backbone outputs to store, comma-separated (default: the card's default output)")
	cachePath := fs.String("cache", "", "cache file to fill (required)")
	limit := fs.Int("limit", 0, "extract only the first N samples in dataset order (0: all)")
	batch := fs.Int("batch", 32, "images per ONNX Runtime call")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines decoding and resizing images")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0: runtime default)")
	shard := fs.String("shard", "", "fill shard i/n only: the i-th of n contiguous slices of the (limited) dataset")
	onError := fs.String("on-error", "skip", "bad image: skip (record it, go on) or fail (stop)")
	dtype := fs.String("dtype", "float32", "storage type: float32 or float16")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" || *cachePath == "" {
		return fmt.Errorf("--data and --cache are required: %w", errUsage)
	}
	si, sn, err := parseShard(*shard)
	if err != nil {
		return err
	}
	ds, err := datasets.Open(*data, datasetOptions())
	if err != nil {
		return err
	}
	lib, err := extractor.FindLibrary(mf.ortLib)
	if err != nil {
		return err
	}
	rt, err := extractor.NewRuntime(lib)
	if err != nil {
		return err
	}
	defer rt.Close()
	card, path, err := mf.resolve()
	if err != nil {
		return err
	}
	modelSHA, err := card.VerifyFile(path)
	if err != nil {
		return err
	}
	var outs []string
	if *outputs != "" {
		outs = strings.Split(*outputs, ",")
	}
	sess, err := extractor.OpenSession(rt, card, path, outs, extractor.SessionOptions{IntraOpThreads: *threads})
	if err != nil {
		return err
	}
	defer sess.Close()

	db, err := cache.Open(*cachePath, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	sink := &cacheSink{dims: sess.Dims(), log: stderr}
	res := extractResult{Cache: *cachePath, Dataset: *data, Model: card.Name}
	if sn > 1 {
		res.Shard = *shard
	}
	for k, out := range sess.Outputs() {
		set, err := db.EnsureSet(cache.SetInfo{
			Model: card.Name, ModelSHA256: modelSHA, Output: out, CardHash: card.PreprocessHash(),
			Dataset: *data, DatasetID: ds.Identity(), Dim: sink.dims[k], DType: *dtype, Shard: res.Shard,
		})
		if err != nil {
			return err
		}
		sink.sets = append(sink.sets, set)
	}

	if err := storeOracleLabels(db, ds); err != nil {
		return err
	}
	n := ds.Len()
	if *limit > 0 && *limit < n {
		n = *limit
	}
	lo, hi := si*n/sn, (si+1)*n/sn
	indices := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		indices = append(indices, i)
	}
	cfg := extractor.Config{BatchSize: *batch, Workers: *workers, OnError: *onError, Progress: stderr}
	if *quiet {
		cfg.Progress = nil
	}
	ex, err := extractor.New(sess, cfg)
	if err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if !*quiet {
		fmt.Fprintf(stderr, "extract: %s with %s (%dx%d) -> %s, outputs %s, samples %d..%d\n",
			*data, card.Name, card.Height, card.Width, *cachePath, strings.Join(sess.Outputs(), ","), lo, hi-1)
	}
	st, runErr := ex.Run(ctx, ds, indices, sink)
	res.Samples, res.Cached, res.Done, res.Failed = st.Requested, st.Cached, st.Done, st.Failed
	res.Seconds = st.Elapsed.Round(time.Millisecond).Seconds()
	res.ImagesPS = st.ImagesPerSecond()
	for k, set := range sink.sets {
		if err := addExtractSeconds(db, extractRecordKey(set.Key(), si, sn), st.Elapsed.Seconds()); err != nil {
			return err
		}
		c, err := set.Count(0)
		if err != nil {
			return err
		}
		res.Sets = append(res.Sets, extractedSet{Key: set.Key(), Output: sess.Outputs()[k], Dim: sink.dims[k], Count: c})
	}
	if runErr != nil {
		return runErr
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// storeOracleLabels records the dataset's own labels, when it has any, as the
// label set "oracle/<spec>" so simulations can play the labeling oracle.
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
	name := OracleLabelSet(ds.Spec())
	// A rerun finds them stored already: leave the file alone (a read-only
	// transaction instead of rewriting every label).
	if classes, have, err := db.Labels(name); err == nil && slices.Equal(classes, ds.Classes()) && maps.Equal(have, labels) {
		return nil
	}
	return db.PutLabels(name, ds.Classes(), labels)
}

// OracleLabelSet names the label set that holds a dataset's own labels.
func OracleLabelSet(spec string) string { return "oracle/" + spec }

// extractRecord is the timing an extraction leaves under record namespace
// "extract", keyed by extractRecordKey; the simulator charges the sum of a
// set's records as compute.
type extractRecord struct {
	Seconds float64 `json:"seconds"`
	Runs    int     `json:"runs"`
}

// extractRecordKey keys the extraction timing of a set, per shard, so that
// merged shard files keep every shard's time instead of conflicting.
func extractRecordKey(setKey string, shard, shards int) string {
	if shards <= 1 {
		return setKey
	}
	return fmt.Sprintf("%s/shard-%d-of-%d", setKey, shard, shards)
}

// addExtractSeconds adds one pass's wall time to a set's extraction record.
// One pass computes all of its outputs, so each output's set is charged the
// whole pass: any one of them alone would have cost as much.
func addExtractSeconds(db *cache.DB, key string, seconds float64) error {
	var rec extractRecord
	if b, err := db.Record(simExtractRecordNS, key); err == nil {
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("extraction record of set %s: %w", key[:12], err)
		}
	} else if !errors.Is(err, cache.ErrNotFound) {
		return err
	}
	rec.Seconds += seconds
	rec.Runs++
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return db.PutRecord(simExtractRecordNS, key, b)
}
