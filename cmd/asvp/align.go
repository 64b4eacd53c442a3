package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/models"
)

// errTrainer marks a failure of the user's trainer command: it exited with
// an error or did not write a usable ONNX model. No generation is added.
var errTrainer = errors.New("trainer command failed")

// cardFlags are the modelFlags that describe preprocessing; any of them
// given on `asvp align` overrides the feature set's card.
var cardFlags = []string{"input-name", "input-size", "layout", "channel-order", "resize", "scale", "mean", "std"}

// alignResult is what `asvp align` prints.
type alignResult struct {
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
	Trainer     *trainerResult     `json:"trainer,omitempty"`
	Seconds     map[string]float64 `json:"seconds"`
}

// trainerResult describes a run of the user's trainer command.
type trainerResult struct {
	Command string  `json:"command"`
	Labels  int     `json:"labels"`
	WorkDir string  `json:"work_dir,omitempty"`
	Seconds float64 `json:"seconds"`
}

// runAlign re-extracts every sample of a feature set with another ONNX model
// (a fine-tuned backbone, or the one a trainer command writes) into a new
// generation of that set.
func runAlign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("align", stderr)
	var mf modelFlags
	mf.register(fs)
	fs.Lookup("model").Usage = "fine-tuned .onnx file to re-extract with (not with --trainer-cmd, which writes it)"
	fs.Lookup("model").DefValue = ""
	mf.model = ""
	cachePath := fs.String("cache", "", "cache file (required)")
	data := fs.String("data", "", "dataset spec of the feature set (required)")
	output := fs.String("output", "", "backbone output of the feature set (needed when the cache has several)")
	modelOutput := fs.String("model-output", "", "output of the new model to store (default: \"features\" when it has one, else the set's output name, else its only output)")
	trainerCmd := fs.String("trainer-cmd", "", "shell command that fine-tunes a model: placeholders {manifest} {out} {classes} {num_classes} {card} {workdir}; see docs/trainers.md")
	labeledPath := fs.String("labeled", "", "labeled set for --trainer-cmd: CSV of id,label")
	workDir := fs.String("work-dir", "", "folder for the trainer's files (default: a temporary folder, removed afterwards)")
	batch := fs.Int("batch", 32, "images per ONNX Runtime call")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines decoding and resizing images")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0: runtime default)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cachePath == "" || *data == "" {
		return fmt.Errorf("--cache and --data are required: %w", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if (mf.model == "") == (*trainerCmd == "") {
		return fmt.Errorf("give either --model FILE.onnx or --trainer-cmd: %w", errUsage)
	}
	if *trainerCmd != "" && *labeledPath == "" {
		return fmt.Errorf("--trainer-cmd needs --labeled: %w", errUsage)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	secs := map[string]float64{}

	// Read what the set needs, then let go of the cache while a trainer runs.
	db, err := cache.Open(*cachePath, &cache.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	set, err := findSet(db, *data, *output)
	var classes []string
	if err == nil && *trainerCmd != "" {
		classes, err = datasetClasses(db, *data)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	info := set.Info()
	card, err := alignCard(info, &mf, given)
	if err != nil {
		return err
	}
	ds, err := datasets.Open(*data, datasetOptions())
	if err != nil {
		return err
	}
	if ds.Identity() != info.DatasetID {
		return fmt.Errorf("dataset %s has changed since its features were extracted (identity %s, cached %s)",
			*data, ds.Identity()[:12], info.DatasetID[:12])
	}
	want := *modelOutput
	if want == "" && *trainerCmd != "" {
		want = "features"
	}

	res := alignResult{Cache: *cachePath, Dataset: *data, Set: info.Key, SetOutput: info.Output, Seconds: secs}
	prov := map[string]string{}
	modelPath := mf.model
	if *trainerCmd != "" {
		t0 := time.Now()
		tr, path, labeledSHA, err := runTrainer(ctx, *trainerCmd, *labeledPath, *workDir, ds, classes, card, want, stderr)
		if err != nil {
			return err
		}
		if *workDir == "" {
			defer os.RemoveAll(filepath.Dir(path))
		}
		tr.Seconds = time.Since(t0).Seconds()
		res.Trainer = tr
		secs["trainer"] = tr.Seconds
		modelPath = path
		prov["labeled_sha256"] = labeledSHA
		prov["trainer_cmd"] = *trainerCmd
	}
	// A trainer's failure to produce a model is the trainer's error.
	blame := func(err error) error {
		if *trainerCmd != "" {
			return fmt.Errorf("%w: its model %s: %w", errTrainer, modelPath, err)
		}
		return err
	}
	if _, err := os.Stat(modelPath); err != nil {
		return blame(err)
	}
	modelSHA, err := models.FileSHA256(modelPath)
	if err != nil {
		return blame(err)
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
	mi, err := extractor.Inspect(modelPath)
	if err != nil {
		return blame(err)
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
		return fmt.Errorf("model %s has outputs %s: pick one with --model-output: %w", modelPath, strings.Join(names, ", "), errUsage)
	}
	card.Name, card.File, card.SHA256 = filepath.Base(modelPath), modelPath, ""
	card.Outputs, card.DefaultOutput = mi.CardOutputs(), want
	if _, ok := card.Output(want); !ok {
		return blame(fmt.Errorf("no output %q with a fixed per-sample size (outputs: %s): %w", want, strings.Join(names, ", "), extractor.ErrModelMismatch))
	}
	sess, err := extractor.OpenSession(rt, card, modelPath, []string{want}, extractor.SessionOptions{IntraOpThreads: *threads})
	if err != nil {
		return blame(err)
	}
	defer sess.Close()
	dim := sess.Dims()[0]
	res.Model, res.ModelSHA256, res.ModelOutput, res.Dim = modelPath, modelSHA, want, dim
	prov["model"], prov["model_sha256"], prov["model_output"] = filepath.Base(modelPath), modelSHA, want
	prov["card_hash"], prov["parent_gen"] = card.PreprocessHash(), "0"

	db, err = cache.Open(*cachePath, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if set, err = db.Set(info.Key); err != nil {
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
	for i, id := range ids {
		if !notInSet[id] {
			indices = append(indices, i)
		}
	}
	gen, done, err := ensureGen(db, set, dim, "onnx", prov)
	if err != nil {
		return err
	}
	res.Generation, res.Reused, res.Samples = gen, done, len(indices)
	if !done {
		cfg := extractor.Config{BatchSize: *batch, Workers: *workers, Progress: stderr}
		if *quiet {
			cfg.Progress = nil
		}
		ex, err := extractor.New(sess, cfg)
		if err != nil {
			return fmt.Errorf("%v: %w", err, errUsage)
		}
		if !*quiet {
			fmt.Fprintf(stderr, "align: %s with %s (output %s) -> generation %d of set %s\n", *data, modelPath, want, gen, info.Key[:12])
		}
		st, err := ex.Run(ctx, ds, indices, &cacheSink{sets: []*cache.Set{set}, dims: []int{dim}, gen: gen, log: stderr})
		res.Cached, res.Extracted, res.Failed, res.ImagesPS = st.Cached, st.Done, st.Failed, st.ImagesPerSecond()
		secs["extract"] = st.Elapsed.Seconds()
		if err != nil {
			return err
		}
		sel := make([]string, len(indices))
		for k, i := range indices {
			sel[k] = ids[i]
		}
		left, err := set.Missing(gen, sel)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("generation %d still misses %d samples (e.g. %q)", gen, len(left), left[0])
		}
	}
	if res.Count, err = set.Count(gen); err != nil {
		return err
	}
	if !done {
		if err := set.MarkComplete(gen, res.Count); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// alignCard returns the preprocessing card for re-extraction: the feature
// set's own card, with the card flags the user gave overriding its fields.
// When the set's model is not in the registry (a user's file), the card
// comes from the flags alone.
func alignCard(info cache.SetInfo, mf *modelFlags, given map[string]bool) (models.Card, error) {
	card, _, err := registry().Lookup(info.Model)
	if err != nil || card.PreprocessHash() != info.CardHash {
		if !slices.ContainsFunc(cardFlags, func(f string) bool { return given[f] }) {
			return card, fmt.Errorf("the feature set's model %q has no matching card in the registry: give its preprocessing with --input-name, --input-size, --layout, --channel-order, --resize, --scale, --mean and --std: %w",
				info.Model, errUsage)
		}
		card = models.Card{Layout: "NCHW", ChannelOrder: "RGB", Resize: "center-crop", Resample: "linear", Height: 224, Width: 224,
			Scale: 1.0 / 255, Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}}
		given = map[string]bool{}
		for _, f := range cardFlags {
			given[f] = true
		}
	}
	var perr error
	set := func(name string, f func() error) {
		if given[name] && perr == nil {
			perr = f()
		}
	}
	set("input-name", func() error { card.Input = mf.input; return nil })
	set("input-size", func() error { var e error; card.Height, card.Width, e = parseSize(mf.size); return e })
	set("layout", func() error { card.Layout = strings.ToUpper(mf.layout); return nil })
	set("channel-order", func() error { card.ChannelOrder = strings.ToUpper(mf.order); return nil })
	set("resize", func() error { card.Resize = mf.resize; return nil })
	set("scale", func() error { card.Scale = float32(mf.scale); return nil })
	set("mean", func() error { var e error; card.Mean, e = parseTriple("mean", mf.mean); return e })
	set("std", func() error { var e error; card.Std, e = parseTriple("std", mf.std); return e })
	if perr != nil {
		return card, perr
	}
	if card.Input == "" {
		return card, fmt.Errorf("name the model's input with --input-name: %w", errUsage)
	}
	return card, nil
}

// runTrainer writes the labeled set as a manifest of image files, runs the
// user's trainer command, and returns where it wrote its model and the
// labeled set's hash. The model is not checked here.
func runTrainer(ctx context.Context, template, labeledPath, workDir string, ds datasets.Dataset, classes []string,
	card models.Card, output string, stderr io.Writer) (*trainerResult, string, string, error) {
	labels, _, err := readLabeled(labeledPath, classes)
	if err != nil {
		return nil, "", "", err
	}
	dir := workDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "asvp-trainer-*"); err != nil {
			return nil, "", "", err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, "", "", err
	}
	fail := func(err error) (*trainerResult, string, string, error) {
		if workDir == "" {
			os.RemoveAll(dir)
		}
		return nil, "", "", err
	}
	index := make(map[string]int, ds.Len())
	for i := range ds.Len() {
		index[ds.Sample(i).ID] = i
	}
	ids := make([]string, 0, len(labels))
	for id := range labels {
		if _, ok := index[id]; !ok {
			return fail(fmt.Errorf("--labeled: sample %q is not in dataset %s", id, ds.Spec()))
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return index[a] - index[b] })
	imgDir := filepath.Join(dir, "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return fail(err)
	}
	var manifest strings.Builder
	manifest.WriteString("path,label\n")
	for _, id := range ids {
		i := index[id]
		p := ds.Sample(i).Path
		if p == "" { // the image lives inside the dataset file: write it out
			img, err := ds.Image(i)
			if err != nil {
				return fail(err)
			}
			p = filepath.Join(imgDir, fmt.Sprintf("%08d.png", i))
			f, err := os.Create(p)
			if err != nil {
				return fail(err)
			}
			err = png.Encode(f, img)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fail(fmt.Errorf("write %s: %w", p, err))
			}
		} else if p, err = filepath.Abs(p); err != nil {
			return fail(err)
		}
		if strings.ContainsAny(p, "\",\n\r") {
			p = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
		}
		label := classes[labels[id]]
		if strings.ContainsAny(label, "\",\n\r") {
			label = `"` + strings.ReplaceAll(label, `"`, `""`) + `"`
		}
		fmt.Fprintf(&manifest, "%s,%s\n", p, label)
	}
	paths := map[string]string{
		"manifest": filepath.Join(dir, "manifest.csv"),
		"classes":  filepath.Join(dir, "classes.txt"),
		"card":     filepath.Join(dir, "card.json"),
		"out":      filepath.Join(dir, "model.onnx"),
	}
	cardJSON, _ := json.MarshalIndent(struct {
		models.Card
		Output string `json:"output"`
	}{card, output}, "", "  ")
	for _, w := range []struct{ path, body string }{
		{paths["manifest"], manifest.String()},
		{paths["classes"], strings.Join(classes, "\n") + "\n"},
		{paths["card"], string(cardJSON) + "\n"},
	} {
		if err := os.WriteFile(w.path, []byte(w.body), 0o644); err != nil {
			return fail(err)
		}
	}
	os.Remove(paths["out"]) // a stale model must not pass for the trainer's
	repl := []string{"{workdir}", shellQuote(dir), "{num_classes}", strconv.Itoa(len(classes))}
	for k, v := range paths {
		repl = append(repl, "{"+k+"}", shellQuote(v))
	}
	cmdline := strings.NewReplacer(repl...).Replace(template)
	// The command runs where asvp was started, so that relative paths in it
	// (python3 examples/trainer.py) mean what they mean in the user's shell;
	// the files it reads and writes are named by absolute paths.
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	fmt.Fprintf(stderr, "align: running trainer: %s\n", cmdline)
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("%w: %s: %w", errTrainer, cmdline, err))
	}
	tr := &trainerResult{Command: cmdline, Labels: len(ids)}
	if workDir != "" {
		tr.WorkDir = dir
	}
	return tr, paths["out"], labeledSHA256(labels), nil
}
