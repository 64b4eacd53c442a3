package loop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/simulate"
	"github.com/asvp-dev/asvp/tuning"
)

// FinetuneOptions says what Finetune trains and where it writes.
type FinetuneOptions struct {
	Cache string
	// Dataset and Output name the feature set; "" to infer them (the only
	// one, or the one holding the labelled samples: see InferDataset).
	Dataset, Output string
	Labeled         string // id,label CSV
	Recipe          finetune.Recipe
	// Cut picks the cached activations when the set has several ("" for
	// the only one).
	Cut string
	// ModelFor returns the card and ONNX file of the set's backbone, whose
	// tail is fine-tuned.
	ModelFor func(cache.SetInfo) (models.Card, string, error)
	// Test names a dataset whose cached activations and oracle labels
	// measure held-out accuracy; "" for none.
	Test       string
	Round      int    // selection round, recorded in the provenance
	Save       string // file the fine-tuned tail and head are written to ("" for none)
	NoWrite    bool   // train and report only: store no generation
	WriteBatch int    // rows per write transaction (cache.DefaultWriteBatch when <= 0)
	Datasets   datasets.Options
	Log        io.Writer // progress; nil for none
}

// FinetuneResult is what Finetune did.
type FinetuneResult struct {
	Cache          string   `json:"cache"`
	Dataset        string   `json:"dataset"`
	Output         string   `json:"output"`
	Set            string   `json:"set"`
	Cut            string   `json:"cut"`
	Method         string   `json:"method"`
	Seed           uint64   `json:"seed"`
	Epochs         int      `json:"epochs_per_stage"`
	Round          int      `json:"round"`
	Labels         int      `json:"labels"`
	Classes        []string `json:"classes"`
	LabeledSHA256  string   `json:"labeled_sha256"`
	TrainAccuracy  float64  `json:"train_accuracy"`
	Test           string   `json:"test,omitempty"`
	TestSamples    int      `json:"test_samples,omitempty"`
	TestAccuracy   *float64 `json:"test_accuracy,omitempty"`
	MeanCosine     float64  `json:"mean_cosine_with_pretrained"`
	Net            string   `json:"net,omitempty"`
	NetSHA256      string   `json:"net_sha256"`
	Generation     *int     `json:"generation,omitempty"`
	TestGeneration *int     `json:"test_generation,omitempty"`
	Reused         bool     `json:"reused_complete_generation,omitempty"`
	// Copied and TestCopied count the vectors copied from another set's
	// generation of the same tuned network (equal content) instead of
	// being written from this run's features.
	Copied     int                `json:"copied"`
	TestCopied int                `json:"test_copied,omitempty"`
	Note       string             `json:"note,omitempty"`
	Samples    int                `json:"samples"`
	Seconds    map[string]float64 `json:"seconds"`
}

// Finetune fine-tunes the backbone's tail above the cut, and a fresh
// head, on the labeled samples' cached activations (LP, FT or LP-FT, always
// from the pretrained weights), and stores the tuned tail's features of
// every sample of the set (and of the test set) as a new generation: the
// re-aligned features the proxy selects on next. The generation is found
// again by its provenance when an interrupted run left it, written in
// transactions of WriteBatch rows, and marked complete at the end. LP
// leaves the tail, and so the features, as they are: it writes no
// generation.
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
	data, err := InferDataset(db, opts.Dataset, opts.Output, opts.Labeled)
	if err != nil {
		return nil, err
	}
	set, err := db.FindSet(data, opts.Output)
	if err == nil {
		err = refuseImported(set.Info(), "finetune")
	}
	if err != nil {
		return nil, err
	}
	spec := set.Info().Dataset
	base, err := datasetClasses(db, spec, opts.Datasets)
	if err != nil {
		return nil, err
	}
	labeled, err := ReadLabeled(opts.Labeled, base)
	if err != nil {
		return nil, err
	}
	if err := labeled.needClasses("fine-tuning"); err != nil {
		return nil, err
	}
	classes := labeled.Classes
	card, modelPath, err := opts.ModelFor(set.Info())
	if err != nil {
		return nil, err
	}
	src, err := tuning.Open(db, set, card, modelPath, tuning.Options{Cut: opts.Cut})
	if err != nil {
		return nil, err
	}
	acts, err := src.Acts.ReadMatrix(0)
	if err != nil {
		return nil, err
	}
	rows, y, missing := labeled.rowsOf(acts)
	if len(missing) > 0 {
		return nil, fmt.Errorf("loop: %d of the %d labeled samples have no cached activations in %s (e.g. %q, line %d of %s): extract them first",
			len(missing), labeled.Len(), spec, labeled.IDs[missing[0]], labeled.Line[missing[0]], opts.Labeled)
	}
	lap("prepare")
	r := opts.Recipe
	say("tail of %s above %s (%d BatchNorms calibrated), %d samples in %.1fs; training %s on %d labels, %d classes, %d epochs per stage",
		card.Name, src.Cut, src.Pre.BatchNorm.Inserted, acts.Rows, secs["prepare"], r.Method, len(rows), len(classes), r.EpochsFor(len(rows)))
	tuned, st, err := finetune.Train(src.Pre, r, src.Split(acts, rows), y, len(classes))
	if err != nil {
		return nil, err
	}
	lap("train")
	say("trained in %.1fs, train accuracy %.4f", secs["train"], st.TrainAcc)
	res = &FinetuneResult{
		Cache: opts.Cache, Dataset: spec, Output: set.Info().Output, Set: set.Key(), Cut: src.Cut, Method: r.Method, Seed: r.Seed,
		Epochs: r.EpochsFor(len(rows)), Round: opts.Round, Labels: len(rows), Classes: classes, LabeledSHA256: labeled.SHA256(),
		TrainAccuracy: st.TrainAcc, Samples: acts.Rows, Seconds: secs,
	}
	var netBytes bytes.Buffer
	if err := tuned.Save(&netBytes); err != nil {
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
	pretrained, err := set.ReadRows(0, acts.IDs)
	if err != nil {
		return nil, err
	}
	f, err := src.Features(tuned, acts)
	if err != nil {
		return nil, err
	}
	res.MeanCosine = meanCosine(pretrained, f)
	lap("features")
	say("features of %d samples in %.1fs; mean cosine with the pretrained ones %.3f", f.Rows, secs["features"], res.MeanCosine)

	var testSet *cache.Set
	var testActs *features.Matrix
	var testActsSet *cache.Set
	if opts.Test != "" {
		if testSet, err = db.FindSet(opts.Test, set.Info().Output); err != nil {
			return nil, &OptionError{Option: "test", Err: err}
		}
		ta, _, err := tuning.FindActivations(db, testSet, src.Cut)
		if err != nil {
			return nil, &OptionError{Option: "test", Err: err}
		}
		testActsSet = ta
		if testActs, err = ta.ReadMatrix(0); err != nil {
			return nil, err
		}
		_, testLabels, err := db.OracleLabels(opts.Test)
		if err != nil {
			return nil, &OptionError{Option: "test", Err: err}
		}
		used := labeled.Map()
		var held []int
		var heldY []int
		for i, id := range testActs.IDs {
			c, ok := testLabels[id]
			if _, train := used[id]; ok && (!train || testSet.Key() != set.Key()) {
				held, heldY = append(held, i), append(heldY, c)
			}
		}
		if len(held) == 0 {
			return nil, optionErr("test", "%s: no labeled held-out samples with cached activations", opts.Test)
		}
		p, err := tuned.Predict(src.Split(testActs, held))
		if err != nil {
			return nil, err
		}
		acc := finetune.Accuracy(p, heldY, len(classes))
		res.Test, res.TestSamples, res.TestAccuracy = opts.Test, len(held), &acc
		lap("test")
		say("held-out accuracy %.4f on %d samples of %s", acc, len(held), opts.Test)
	}
	if opts.NoWrite {
		return res, nil
	}
	if r.Method == finetune.MethodLP {
		res.Note = "lp trains the head only: the features are the pretrained ones, so no generation is written"
		return res, nil
	}
	prov := map[string]string{
		"labeled_sha256": res.LabeledSHA256, "labels": strconv.Itoa(len(rows)), "method": r.Method,
		"seed": strconv.FormatUint(r.Seed, 10), "round": strconv.Itoa(opts.Round), "parent_gen": "0",
		"net_sha256": res.NetSHA256, "pool": spec, "cut": src.Cut,
	}
	if cj, err := json.Marshal(classes); err == nil {
		prov["classes"] = string(cj)
	}
	// The tuned net's features of a sample depend on its activations, so
	// on their storage type too: a generation of another set of the same
	// net is copied from (cache.Set.AdoptAligned) only when it matches.
	write := func(s *cache.Set, acts *cache.Set, name string, src *features.Matrix, embed cache.EmbedFunc) (int, bool, int, error) {
		p := maps.Clone(prov)
		p["acts_dtype"] = acts.Info().DType
		g, done, err := s.EnsureGeneration(cache.GenInfo{Dim: s.Info().Dim, Source: simulate.SourceFinetune, Provenance: p})
		if err != nil || done {
			return g, done, 0, err
		}
		what := fmt.Sprintf("generation %d of %s", g, name)
		copied, err := s.AdoptAligned(g, src.IDs)
		if err != nil {
			return g, false, copied, err
		}
		if copied > 0 {
			say("%s: copied %d of %d samples from another set's generation of the same tuned net (equal content)", what, copied, src.Rows)
		}
		if _, err := s.WriteEmbedded(g, src, embed, opts.WriteBatch, progress(opts.Log, "finetune: writing "+what)); err != nil {
			return g, false, copied, err
		}
		return g, false, copied, s.Finish(g, src.Rows)
	}
	g, done, copied, err := write(set, src.Acts, spec, f, func(x []float32, _ int, dst []float32) { copy(dst, x) })
	if err != nil {
		return nil, err
	}
	res.Generation, res.Reused, res.Copied = &g, done, copied
	if testSet != nil && testSet.Key() != set.Key() {
		tg, _, tc, err := write(testSet, testActsSet, opts.Test, testActs, src.Embed(tuned))
		if err != nil {
			return nil, err
		}
		res.TestGeneration, res.TestCopied = &tg, tc
	}
	lap("write")
	return res, ctx.Err()
}

// meanCosine is the mean over rows of the cosine between a and b's rows.
func meanCosine(a, b *features.Matrix) float64 {
	var sum float64
	for i := range a.Rows {
		var ab, aa, bb float64
		for j, x := range a.Row(i) {
			y := float64(b.Row(i)[j])
			ab += float64(x) * y
			aa += float64(x) * float64(x)
			bb += y * y
		}
		if aa > 0 && bb > 0 {
			sum += ab / math.Sqrt(aa*bb)
		}
	}
	return sum / float64(max(a.Rows, 1))
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
