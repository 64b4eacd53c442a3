package loop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	Cache string
	// Dataset and Output name the feature set; "" to infer them (the only
	// one, or with a trainer the one holding the labelled samples: see
	// InferDataset).
	Dataset, Output string
	// Model is a fine-tuned ONNX file to re-extract with; or, with
	// TrainerCmd, the trainer writes it (see docs/trainers.md).
	Model      string
	TrainerCmd string // shell command template of the user's trainer
	// TrainerTimeout stops the trainer (its whole process group) when it
	// runs longer; 0 for no limit.
	TrainerTimeout time.Duration
	Labeled        string // id,label CSV the trainer trains on
	WorkDir        string // folder for the trainer's files ("" for a temporary one, removed afterwards)
	ModelOutput    string // output of the new model to store ("" to choose: see Align)
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
	Model       string             `json:"model,omitempty"` // "" for a trainer's model in a removed temporary folder
	ModelSHA256 string             `json:"model_sha256"`
	ModelOutput string             `json:"model_output"`
	Dim         int                `json:"dim"`
	Generation  int                `json:"generation"`
	Reused      bool               `json:"reused_complete_generation,omitempty"`
	Samples     int                `json:"samples"`
	Count       int                `json:"count"`
	Cached      int                `json:"already_cached"`
	Copied      int                `json:"copied"` // vectors copied from another set's generation aligned with the same model (equal content)
	Extracted   int                `json:"extracted"`
	Failed      int                `json:"failed"`
	ImagesPS    float64            `json:"images_per_second"`
	Trainer     *TrainerResult     `json:"trainer,omitempty"`
	Seconds     map[string]float64 `json:"seconds"`
}

// Align re-extracts every sample of a feature set with another ONNX model
// (a fine-tuned backbone, or the one the trainer command writes) into a new
// generation of that set, found again by its provenance when a killed run
// left it, and marked complete at the end. A model whose features the set
// already holds (the same bytes, output and preprocessing, whether given
// with Model or returned by a trainer) reuses that complete generation; a
// sample whose content another set of the same feature space holds in a
// generation aligned with the same model (bytes, output, preprocessing) is
// copied from there (cache.Set.AdoptAligned) and not run again. The
// output stored is ModelOutput, else "features" when the model has it, else
// the set's own output name, else the model's only output: a trainer's
// model is accepted exactly when the same file given as Model would be.
func Align(ctx context.Context, rt *extractor.Runtime, opts AlignOptions) (res *AlignResult, err error) {
	if (opts.Model == "") == (opts.TrainerCmd == "") {
		return nil, optionErr("model", "give either a fine-tuned ONNX model or a trainer command")
	}
	if opts.TrainerCmd != "" && opts.Labeled == "" {
		return nil, optionErr("labeled", "a trainer command needs the labeled set")
	}
	// Read what the set needs, then let go of the cache while a trainer runs.
	db, err := cache.Open(opts.Cache, &cache.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	data, err := InferDataset(db, opts.Dataset, opts.Output, opts.Labeled)
	var set *cache.Set
	if err == nil {
		set, err = db.FindSet(data, opts.Output)
	}
	if err == nil {
		err = refuseImported(set.Info(), "align")
	}
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
	if err := checkDatasetUnchanged(ds, info); err != nil {
		return nil, err
	}
	res = &AlignResult{Cache: opts.Cache, Dataset: info.Dataset, Set: info.Key, SetOutput: info.Output, Seconds: map[string]float64{}}
	m, err := alignModel(ctx, opts, ds, classes, card, res)
	if err != nil {
		return nil, err
	}
	if m.tmpDir != "" {
		defer os.RemoveAll(m.tmpDir)
	}
	sess, err := m.open(rt, info, card, opts, res)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	ex, err := extractor.New(sess, opts.Run)
	if err != nil {
		return nil, invalid("on-error", err)
	}
	if err := reextract(ctx, ex, opts, info, ds, res, m.prov); err != nil {
		return nil, err
	}
	return res, nil
}

// alignedModel is the fine-tuned model Align re-extracts with.
type alignedModel struct {
	path    string
	want    string            // the output to store ("" to choose)
	prov    map[string]string // the new generation's provenance
	trainer bool
	tmpDir  string // a trainer's temporary folder, removed at the end
}

// alignModel returns the model to re-extract with: opts.Model, or the one
// the trainer command writes from the labeled set.
func alignModel(ctx context.Context, opts AlignOptions, ds datasets.Dataset, classes []string, card models.Card, res *AlignResult) (*alignedModel, error) {
	m := &alignedModel{path: opts.Model, want: opts.ModelOutput, prov: map[string]string{}, trainer: opts.TrainerCmd != ""}
	if !m.trainer {
		m.prov["model"] = filepath.Base(m.path)
		return m, nil
	}
	labeled, err := ReadLabeled(opts.Labeled, classes)
	if err != nil {
		return nil, err
	}
	if err := labeled.needClasses("the trainer"); err != nil {
		return nil, err
	}
	classes = labeled.Classes
	// The card tells the trainer the output asvp reads first.
	output := cmp.Or(opts.ModelOutput, "features")
	t0 := time.Now()
	tr, path, err := runTrainer(ctx, opts.TrainerCmd, opts.TrainerTimeout, labeled, opts.WorkDir, ds, classes, card, output, opts.TrainerOut)
	if err != nil {
		return nil, err
	}
	if opts.WorkDir == "" {
		m.tmpDir = filepath.Dir(path)
	}
	tr.Seconds = time.Since(t0).Seconds()
	res.Trainer, res.Seconds["trainer"] = tr, tr.Seconds
	m.path = path
	// The provenance names what made the model (the command, the labels)
	// and, through its sha256, the model itself; never the file, which a
	// temporary folder does not keep.
	m.prov["labeled_sha256"], m.prov["trainer_cmd"] = labeled.SHA256(), opts.TrainerCmd
	return m, nil
}

// blame makes a failure to use a trainer's model the trainer's error: it
// exited 0 (a failed run stops before), so its model is what is wrong.
func (m *alignedModel) blame(err error) error {
	if m.trainer {
		return fmt.Errorf("%w exited 0, but its model is not usable: %w", ErrTrainer, err)
	}
	return err
}

// open checks the model, chooses its output and opens a session on it with
// the set's preprocessing; it fills the result's model fields and the
// provenance.
func (m *alignedModel) open(rt *extractor.Runtime, info cache.SetInfo, card models.Card, opts AlignOptions, res *AlignResult) (*extractor.Session, error) {
	if _, err := os.Stat(m.path); err != nil {
		if m.trainer && errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w exited 0 but wrote no model to {out} (%s)", ErrTrainer, m.path)
		}
		return nil, m.blame(err)
	}
	modelSHA, err := models.FileSHA256(m.path)
	if err != nil {
		return nil, m.blame(err)
	}
	mi, err := extractor.Inspect(m.path)
	if err != nil {
		return nil, m.blame(err)
	}
	var names []string
	for _, o := range mi.Outputs {
		names = append(names, o.Name)
	}
	want := m.want
	switch {
	case want != "":
	case slices.Contains(names, "features"):
		want = "features"
	case slices.Contains(names, info.Output):
		want = info.Output
	case len(names) == 1:
		want = names[0]
	default:
		return nil, optionErr("model-output", "model %s has outputs %s: name the one to store", m.path, strings.Join(names, ", "))
	}
	card.Name, card.File, card.SHA256 = filepath.Base(m.path), m.path, ""
	card.Outputs, card.DefaultOutput = mi.CardOutputs(), want
	if _, ok := card.Output(want); !ok {
		return nil, m.blame(fmt.Errorf("no output %q with a fixed per-sample size (outputs: %s): %w", want, strings.Join(names, ", "), extractor.ErrModelMismatch))
	}
	sess, err := extractor.OpenSession(rt, card, m.path, []string{want}, opts.Session)
	if err != nil {
		return nil, m.blame(err)
	}
	res.ModelSHA256, res.ModelOutput, res.Dim = modelSHA, want, sess.Dims()[0]
	if m.tmpDir == "" {
		res.Model = m.path
	}
	m.prov["model_sha256"], m.prov["model_output"] = modelSHA, want
	m.prov["card_hash"], m.prov["parent_gen"] = card.PreprocessHash(), "0"
	return sess, nil
}

// reextract runs ex over the samples of the set into the generation with
// provenance prov (found again, or added), and marks it complete.
func reextract(ctx context.Context, ex *extractor.Extractor, opts AlignOptions, info cache.SetInfo, ds datasets.Dataset, res *AlignResult, prov map[string]string) (err error) {
	db, err := cache.Open(opts.Cache, nil)
	if err != nil {
		return err
	}
	defer closeInto(db, &err)
	set, err := db.Set(info.Key)
	if err != nil {
		return err
	}
	ids := make([]string, ds.Len())
	for i := range ids {
		ids[i] = ds.Sample(i).ID
	}
	absent, err := set.Missing(0, ids)
	if err != nil {
		return err
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
	// The same model (bytes, output, preprocessing) makes the same features:
	// reuse its complete generation, whatever command or file brought it.
	// The set's own backbone, output and preprocessing make generation 0.
	g := cache.GenInfo{Dim: res.Dim, Source: "onnx", Provenance: prov}
	gen, done := 0, prov["model_sha256"] == info.ModelSHA256 && prov["model_output"] == info.Output && prov["card_hash"] == info.CardHash
	if !done {
		gen, err = set.FindAligned(g)
		done = gen > 0
	}
	if err == nil && !done {
		gen, done, err = set.EnsureGeneration(g)
	}
	if err != nil {
		return err
	}
	res.Generation, res.Reused, res.Samples = gen, done, len(indices)
	if !done {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "align: %s with model %s (output %s) -> generation %d of set %s\n",
				info.Dataset, cmp.Or(res.Model, "sha256 "+cache.ShortKey(res.ModelSHA256)), res.ModelOutput, gen, set.ShortKey())
		}
		// Another view's generation aligned with the same model serves the
		// samples of equal content: copied, only the rest runs.
		if res.Copied, err = set.AdoptAligned(gen, sel); err != nil {
			return err
		}
		if opts.Log != nil && res.Copied > 0 {
			fmt.Fprintf(opts.Log, "align: copied %d of %d samples from another set's generation aligned with the same model (equal content)\n", res.Copied, len(sel))
		}
		st, err := ex.Run(ctx, ds, indices, &setSink{sets: []*cache.Set{set}, dims: []int{res.Dim}, gen: gen, log: opts.Log})
		res.Cached, res.Extracted, res.Failed, res.ImagesPS = st.Cached, st.Done, st.Failed, st.ImagesPerSecond()
		res.Seconds["extract"] = st.Elapsed.Seconds()
		if err != nil {
			return err
		}
		left, err := set.Missing(gen, sel)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("loop: generation %d still misses %d samples (e.g. %q)", gen, len(left), left[0])
		}
	}
	if res.Count, err = set.Count(gen); err != nil {
		return err
	}
	if !done {
		return set.Finish(gen, res.Count)
	}
	if gen == 0 && opts.Log != nil {
		fmt.Fprintf(opts.Log, "align: the model is the set's own backbone (same sha256, output and preprocessing): its features are generation 0\n")
	}
	return nil
}
