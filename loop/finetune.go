package loop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models/nn"
)

// FinetuneOptions says what Finetune trains and where it writes.
type FinetuneOptions struct {
	Cache           string
	Dataset, Output string // the feature set ("" for the only one)
	Labeled         string // id,label CSV
	Recipe          nn.Recipe
	// Test names a dataset whose cached features (same output) and oracle
	// labels measure held-out accuracy; "" for none.
	Test string
	// Gen is the generation to train on: 0 (the pre-trained features; a
	// re-alignment restarts from the pre-trained model) or < 0 for the
	// newest complete one.
	Gen        int
	Round      int    // selection round, recorded in the provenance
	Save       string // file the trained network is written to ("" for none)
	NoWrite    bool   // train and report only: store no generation
	WriteBatch int    // rows per write transaction (cache.DefaultWriteBatch when <= 0)
	Datasets   datasets.Options
	Log        io.Writer // progress; nil for none
}

// FinetuneResult is what Finetune did.
type FinetuneResult struct {
	Cache          string             `json:"cache"`
	Dataset        string             `json:"dataset"`
	Output         string             `json:"output"`
	Set            string             `json:"set"`
	Method         string             `json:"method"`
	Seed           uint64             `json:"seed"`
	Round          int                `json:"round"`
	ParentGen      int                `json:"parent_generation"`
	Labels         int                `json:"labels"`
	Classes        []string           `json:"classes"`
	LabeledSHA256  string             `json:"labeled_sha256"`
	TrainAccuracy  float64            `json:"train_accuracy"`
	Test           string             `json:"test,omitempty"`
	TestSamples    int                `json:"test_samples,omitempty"`
	TestAccuracy   *float64           `json:"test_accuracy,omitempty"`
	Net            string             `json:"net,omitempty"`
	NetSHA256      string             `json:"net_sha256"`
	Generation     *int               `json:"generation,omitempty"`
	TestGeneration *int               `json:"test_generation,omitempty"`
	Reused         bool               `json:"reused_complete_generation,omitempty"`
	Samples        int                `json:"samples"`
	Seconds        map[string]float64 `json:"seconds"`
}

// Finetune trains the built-in network (nn.Train with Recipe) on the
// labelled samples' features, and stores its features of every sample of
// the set (and of the test set) as a new generation: found again by its
// provenance when an interrupted run left it, written in transactions of
// WriteBatch rows, and marked complete at the end.
func Finetune(ctx context.Context, opts FinetuneOptions) (res *FinetuneResult, err error) {
	if err := opts.Recipe.Validate(); err != nil {
		return nil, invalid("method", err)
	}
	say := func(format string, a ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "finetune: "+format+"\n", a...)
		}
	}
	secs := map[string]float64{}
	phase := time.Now()
	lap := func(name string) {
		secs[name] = time.Since(phase).Seconds()
		phase = time.Now()
	}
	db, err := openExisting(opts.Cache, opts.NoWrite)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	set, err := db.FindSet(opts.Dataset, opts.Output)
	if err != nil {
		return nil, err
	}
	spec := set.Info().Dataset
	gen, err := set.PickGeneration(opts.Gen)
	if err != nil {
		return nil, err
	}
	classes, err := datasetClasses(db, spec, opts.Datasets)
	if err != nil {
		return nil, err
	}
	labeled, err := ReadLabeled(opts.Labeled, classes)
	if err != nil {
		return nil, err
	}
	m, err := set.ReadMatrix(gen)
	if err != nil {
		return nil, err
	}
	X, y, missing := labeled.Rows(m)
	if len(missing) > 0 {
		return nil, fmt.Errorf("loop: %d of the %d labeled samples have no features in generation %d of %s/%s (e.g. %q, line %d of %s): extract them first",
			len(missing), labeled.Len(), gen, spec, set.Info().Output, labeled.IDs[missing[0]], labeled.Line[missing[0]], opts.Labeled)
	}
	lap("read")
	r := opts.Recipe
	say("read %d samples of generation %d (dimension %d) in %.1fs; training %s on %d labels, %d classes",
		m.Rows, gen, m.Cols, secs["read"], r.Method, X.Rows, len(classes))
	net, st, err := nn.Train(r, X.Data, X.Rows, X.Cols, y, len(classes))
	if err != nil {
		return nil, err
	}
	lap("train")
	say("trained in %.1fs, train accuracy %.4f", secs["train"], st.TrainAcc)
	res = &FinetuneResult{
		Cache: opts.Cache, Dataset: spec, Output: set.Info().Output, Set: set.Key(), Method: r.Method, Seed: r.Seed,
		Round: opts.Round, ParentGen: gen, Labels: X.Rows, Classes: classes, LabeledSHA256: labeled.SHA256(),
		TrainAccuracy: st.TrainAcc, Samples: m.Rows, Seconds: secs,
	}
	var netBytes bytes.Buffer
	if err := net.Save(&netBytes); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(netBytes.Bytes())
	res.NetSHA256 = hex.EncodeToString(sum[:])
	if opts.Save != "" {
		if err := atomicfile.WriteBytes(opts.Save, netBytes.Bytes()); err != nil {
			return nil, &OptionError{Option: "save", Err: err}
		}
		res.Net = opts.Save
	}

	var testSet *cache.Set
	var testM *features.Matrix
	if opts.Test != "" {
		if testSet, testM, err = heldOut(db, set, gen, opts.Test); err != nil {
			return nil, err
		}
		_, testLabels, err := db.OracleLabels(opts.Test)
		if err != nil {
			return nil, &OptionError{Option: "test", Err: err}
		}
		used := labeled.Map()
		held := make(map[string]int, len(testLabels))
		for id, c := range testLabels {
			if _, ok := used[id]; !ok || testSet.Key() != set.Key() {
				held[id] = c
			}
		}
		Xt, yt := oracleRows(testM, held)
		if Xt.Rows == 0 {
			return nil, optionErr("test", "%s: no labeled held-out samples with features", opts.Test)
		}
		acc := net.Accuracy(Xt.Data, Xt.Rows, yt)
		res.Test, res.TestSamples, res.TestAccuracy = opts.Test, Xt.Rows, &acc
		lap("test")
		say("held-out accuracy %.4f on %d samples of %s", acc, Xt.Rows, opts.Test)
	}
	if opts.NoWrite {
		return res, nil
	}
	prov := map[string]string{
		"labeled_sha256": res.LabeledSHA256, "labels": strconv.Itoa(X.Rows), "method": r.Method,
		"seed": strconv.FormatUint(r.Seed, 10), "round": strconv.Itoa(opts.Round), "parent_gen": strconv.Itoa(gen),
		"net_sha256": res.NetSHA256, "pool": spec,
	}
	if cj, err := json.Marshal(classes); err == nil {
		prov["classes"] = string(cj)
	}
	write := func(s *cache.Set, name string, src *features.Matrix) (int, bool, error) {
		g, done, err := s.EnsureGeneration(cache.GenInfo{Dim: src.Cols, Source: "adapter", Provenance: prov})
		if err != nil || done {
			return g, done, err
		}
		what := fmt.Sprintf("generation %d of %s", g, name)
		if _, err := s.WriteEmbedded(g, src, net.Embed, opts.WriteBatch, progress(opts.Log, "finetune: writing "+what)); err != nil {
			return g, false, err
		}
		return g, false, s.Finish(g, src.Rows)
	}
	g, done, err := write(set, spec, m)
	if err != nil {
		return nil, err
	}
	res.Generation, res.Reused = &g, done
	if testSet != nil && testSet.Key() != set.Key() {
		tg, _, err := write(testSet, opts.Test, testM)
		if err != nil {
			return nil, err
		}
		res.TestGeneration = &tg
	}
	lap("write")
	return res, ctx.Err()
}

// heldOut returns the test set of dataset test (same output as set) and
// its features aligned like generation gen of set: generation 0 when gen
// is 0, else the generation of the test set written with gen's provenance.
func heldOut(db *cache.DB, set *cache.Set, gen int, test string) (*cache.Set, *features.Matrix, error) {
	testSet, err := db.FindSet(test, set.Info().Output)
	if err != nil {
		return nil, nil, &OptionError{Option: "test", Err: err}
	}
	testGen := 0
	if gen > 0 {
		g, err := set.Generation(gen)
		if err != nil {
			return nil, nil, err
		}
		if testSet.Key() == set.Key() {
			testGen = gen
		} else if testGen, err = testSet.FindAligned(g); err != nil {
			return nil, nil, err
		} else if testGen < 0 {
			return nil, nil, optionErr("test", "%s has no complete generation aligned like generation %d of %s (re-align it the same way): it cannot be compared",
				test, gen, set.Info().Dataset)
		}
	}
	m, err := testSet.ReadMatrix(testGen)
	return testSet, m, err
}

// progress returns a write-progress reporter that prints at most every two
// seconds, and at the end, to log; nil when log is nil.
func progress(log io.Writer, what string) func(done, total int) {
	if log == nil {
		return nil
	}
	t0, last := time.Now(), time.Now()
	return func(done, total int) {
		if done < total && time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		el := time.Since(t0).Seconds()
		fmt.Fprintf(log, "%s: %d/%d samples (%.1f%%), %.0f samples/s\n", what, done, total, 100*float64(done)/float64(max(total, 1)), float64(done)/max(el, 1e-9))
	}
}
