package loop

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/models"
)

// AlignOptions says which model re-extracts which feature set.
type AlignOptions struct {
	Cache           string
	Dataset, Output string // the feature set ("" for the only one)
	// Model is a fine-tuned ONNX file to re-extract with; or, with
	// TrainerCmd, the trainer writes it (see docs/trainers.md).
	Model       string
	TrainerCmd  string // shell command template of the user's trainer
	Labeled     string // id,label CSV the trainer trains on
	WorkDir     string // folder for the trainer's files ("" for a temporary one, removed afterwards)
	ModelOutput string // output of the new model to store ("" to choose: see Align)
	// CardFor returns the preprocessing card of the set's model (the
	// registry's, or one from the user's flags); Align replaces its file,
	// outputs and name with the new model's.
	CardFor  func(cache.SetInfo) (models.Card, error)
	Session  extractor.SessionOptions
	Run      extractor.Config
	Datasets datasets.Options
	Log      io.Writer // progress; nil for none
	// TrainerOut receives the trainer's command line and its output; nil
	// discards them.
	TrainerOut io.Writer
}

// AlignResult is what Align did.
type AlignResult struct {
	Cache       string             `json:"cache"`
	Dataset     string             `json:"dataset"`
	Set         string             `json:"set"`
	SetOutput   string             `json:"set_output"`
	Model       string             `json:"model"`
	ModelSHA256 string             `json:"model_sha256"`
	ModelOutput string             `json:"model_output"`
	Dim         int                `json:"dim"`
	Generation  int                `json:"generation"`
	Reused      bool               `json:"reused_complete_generation,omitempty"`
	Samples     int                `json:"samples"`
	Count       int                `json:"count"`
	Cached      int                `json:"already_cached"`
	Extracted   int                `json:"extracted"`
	Failed      int                `json:"failed"`
	ImagesPS    float64            `json:"images_per_second"`
	Trainer     *TrainerResult     `json:"trainer,omitempty"`
	Seconds     map[string]float64 `json:"seconds"`
}

// Align re-extracts every sample of a feature set with another ONNX model
// (a fine-tuned backbone, or the one the trainer command writes) into a new
// generation of that set, found again by the model's hash when a killed run
// left it, and marked complete at the end. The output stored is
// ModelOutput, else "features" when the model has it (always, with a
// trainer), else the set's own output name, else the model's only output.
func Align(ctx context.Context, rt *extractor.Runtime, opts AlignOptions) (res *AlignResult, err error) {
	if (opts.Model == "") == (opts.TrainerCmd == "") {
		return nil, optionErr("model", "give either a fine-tuned ONNX model or a trainer command")
	}
	if opts.TrainerCmd != "" && opts.Labeled == "" {
		return nil, optionErr("labeled", "a trainer command needs the labeled set")
	}
	secs := map[string]float64{}
	// Read what the set needs, then let go of the cache while a trainer runs.
	db, err := cache.Open(opts.Cache, &cache.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	set, err := db.FindSet(opts.Dataset, opts.Output)
	var classes []string
	if err == nil && opts.TrainerCmd != "" {
		classes, err = datasetClasses(db, set.Info().Dataset, opts.Datasets)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	info := set.Info()
	card, err := opts.CardFor(info)
	if err != nil {
		return nil, err
	}
	ds, err := datasets.Open(info.Dataset, opts.Datasets)
	if err != nil {
		return nil, err
	}
	if ds.Identity() != info.DatasetID {
		return nil, fmt.Errorf("loop: dataset %s has changed since its features were extracted (identity %s, cached %s)",
			info.Dataset, cache.ShortKey(ds.Identity()), cache.ShortKey(info.DatasetID))
	}
	want := opts.ModelOutput
	if want == "" && opts.TrainerCmd != "" {
		want = "features"
	}
	res = &AlignResult{Cache: opts.Cache, Dataset: info.Dataset, Set: info.Key, SetOutput: info.Output, Seconds: secs}
	prov := map[string]string{}
	modelPath := opts.Model
	if opts.TrainerCmd != "" {
		labeled, err := ReadLabeled(opts.Labeled, classes)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		tr, path, err := runTrainer(ctx, opts.TrainerCmd, labeled, opts.WorkDir, ds, classes, card, want, opts.TrainerOut)
		if err != nil {
			return nil, err
		}
		if opts.WorkDir == "" {
			defer os.RemoveAll(filepath.Dir(path))
		}
		tr.Seconds = time.Since(t0).Seconds()
		res.Trainer, secs["trainer"] = tr, tr.Seconds
		modelPath = path
		prov["labeled_sha256"], prov["trainer_cmd"] = labeled.SHA256(), opts.TrainerCmd
	}
	// A trainer's failure to produce a model is the trainer's error.
	blame := func(err error) error {
		if opts.TrainerCmd != "" {
			return fmt.Errorf("%w: its model %s: %w", ErrTrainer, modelPath, err)
		}
		return err
	}
	if _, err := os.Stat(modelPath); err != nil {
		return nil, blame(err)
	}
	modelSHA, err := models.FileSHA256(modelPath)
	if err != nil {
		return nil, blame(err)
	}
	mi, err := extractor.Inspect(modelPath)
	if err != nil {
		return nil, blame(err)
	}
	var names []string
	for _, o := range mi.Outputs {
		names = append(names, o.Name)
	}
	switch {
	case want != "":
	case slices.Contains(names, "features"):
		want = "features"
	case slices.Contains(names, info.Output):
		want = info.Output
	case len(names) == 1:
		want = names[0]
	default:
		return nil, optionErr("model-output", "model %s has outputs %s: name the one to store", modelPath, strings.Join(names, ", "))
	}
	card.Name, card.File, card.SHA256 = filepath.Base(modelPath), modelPath, ""
	card.Outputs, card.DefaultOutput = mi.CardOutputs(), want
	if _, ok := card.Output(want); !ok {
		return nil, blame(fmt.Errorf("no output %q with a fixed per-sample size (outputs: %s): %w", want, strings.Join(names, ", "), extractor.ErrModelMismatch))
	}
	sess, err := extractor.OpenSession(rt, card, modelPath, []string{want}, opts.Session)
	if err != nil {
		return nil, blame(err)
	}
	defer sess.Close()
	ex, err := extractor.New(sess, opts.Run)
	if err != nil {
		return nil, invalid("on-error", err)
	}
	dim := sess.Dims()[0]
	res.Model, res.ModelSHA256, res.ModelOutput, res.Dim = modelPath, modelSHA, want, dim
	prov["model"], prov["model_sha256"], prov["model_output"] = filepath.Base(modelPath), modelSHA, want
	prov["card_hash"], prov["parent_gen"] = card.PreprocessHash(), "0"

	if db, err = cache.Open(opts.Cache, nil); err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	if set, err = db.Set(info.Key); err != nil {
		return nil, err
	}
	ids := make([]string, ds.Len())
	for i := range ids {
		ids[i] = ds.Sample(i).ID
	}
	absent, err := set.Missing(0, ids)
	if err != nil {
		return nil, err
	}
	notInSet := make(map[string]bool, len(absent))
	for _, id := range absent {
		notInSet[id] = true
	}
	var indices []int
	var sel []string
	for i, id := range ids {
		if !notInSet[id] {
			indices = append(indices, i)
			sel = append(sel, id)
		}
	}
	gen, done, err := set.EnsureGeneration(cache.GenInfo{Dim: dim, Source: "onnx", Provenance: prov})
	if err != nil {
		return nil, err
	}
	res.Generation, res.Reused, res.Samples = gen, done, len(indices)
	if !done {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "align: %s with %s (output %s) -> generation %d of set %s\n", info.Dataset, modelPath, want, gen, set.ShortKey())
		}
		st, err := ex.Run(ctx, ds, indices, &setSink{sets: []*cache.Set{set}, dims: []int{dim}, gen: gen, log: opts.Log})
		res.Cached, res.Extracted, res.Failed, res.ImagesPS = st.Cached, st.Done, st.Failed, st.ImagesPerSecond()
		secs["extract"] = st.Elapsed.Seconds()
		if err != nil {
			return nil, err
		}
		left, err := set.Missing(gen, sel)
		if err != nil {
			return nil, err
		}
		if len(left) > 0 {
			return nil, fmt.Errorf("loop: generation %d still misses %d samples (e.g. %q)", gen, len(left), left[0])
		}
	}
	if res.Count, err = set.Count(gen); err != nil {
		return nil, err
	}
	if !done {
		if err := set.Finish(gen, res.Count); err != nil {
			return nil, err
		}
	}
	return res, nil
}
