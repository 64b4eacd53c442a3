package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models/nn"
)

// defaultWriteBatch is the number of rows per write transaction.
const defaultWriteBatch = 4096

// pickGen returns gen when it is given (>= 0) and complete, else the newest
// complete generation.
func pickGen(db *cache.DB, set *cache.Set, gen int) (int, error) {
	if gen < 0 {
		return set.LatestComplete()
	}
	if _, err := set.Generation(gen); err != nil {
		return 0, err
	}
	ok, err := set.Complete(gen)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("generation %d of set %s is incomplete (its writer was interrupted): rerun the command that made it", gen, set.Key()[:12])
	}
	return gen, nil
}

// findGen returns the generation above 0 of set with exactly this source and
// provenance, or -1.
func findGen(set *cache.Set, source string, prov map[string]string) (int, error) {
	gens, err := set.Generations()
	if err != nil {
		return 0, err
	}
	for _, g := range gens {
		if g.N > 0 && g.Source == source && maps.Equal(g.Provenance, prov) {
			return g.N, nil
		}
	}
	return -1, nil
}

// alignmentKeys are the provenance keys that say which model produced an
// "onnx" generation; the rest (trainer command, labeled set) is history.
var alignmentKeys = []string{"model_sha256", "model_output", "card_hash"}

// findAligned returns the newest complete generation of set aligned like g:
// for "onnx" generations, extracted by the same model, output and
// preprocessing; for others, with the same provenance. -1 when none.
func findAligned(db *cache.DB, set *cache.Set, g cache.GenInfo) (int, error) {
	gens, err := set.Generations()
	if err != nil {
		return 0, err
	}
	for i := len(gens) - 1; i > 0; i-- {
		h := gens[i]
		same := h.Source == g.Source
		if same && g.Source == "onnx" {
			for _, k := range alignmentKeys {
				same = same && h.Provenance[k] == g.Provenance[k]
			}
		} else if same {
			same = maps.Equal(h.Provenance, g.Provenance)
		}
		if !same {
			continue
		}
		done, err := set.Complete(h.N)
		if err != nil {
			return 0, err
		}
		if done {
			return h.N, nil
		}
	}
	return -1, nil
}

// ensureGen returns the generation of set with this source and provenance,
// adding it when missing, and whether it is already complete.
func ensureGen(db *cache.DB, set *cache.Set, dim int, source string, prov map[string]string) (int, bool, error) {
	gen, err := findGen(set, source, prov)
	if err != nil {
		return 0, false, err
	}
	if gen > 0 {
		if g, err := set.Generation(gen); err != nil {
			return 0, false, err
		} else if g.Dim != dim {
			return 0, false, fmt.Errorf("generation %d has dimension %d, want %d: %w", gen, g.Dim, dim, cache.ErrMismatch)
		}
		done, err := set.Complete(gen)
		return gen, done, err
	}
	gen, err = set.AddGeneration(cache.GenInfo{Dim: dim, Source: source, Provenance: prov})
	return gen, false, err
}

// writeEmbedded stores net.Embed of every row of m into generation gen of
// set, in batches of batch rows, one transaction each; rows already stored
// (by an interrupted run) are skipped. Then it marks the generation done.
func writeEmbedded(db *cache.DB, set *cache.Set, gen int, net *nn.Net, m *features.Matrix, batch int, progress func(done, total int)) error {
	missing, err := set.Missing(gen, m.IDs)
	if err != nil {
		return err
	}
	done := 0
	want := make(map[string]bool, len(missing))
	for _, id := range missing {
		want[id] = true
	}
	ids := make([]string, 0, batch)
	x := make([]float32, 0, batch*m.Cols)
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		out := make([]float32, len(x))
		net.Embed(x, len(ids), out)
		if err := set.PutBatch(gen, ids, out); err != nil {
			return err
		}
		done += len(ids)
		progress(done, len(missing))
		ids, x = ids[:0], x[:0]
		return nil
	}
	for i, id := range m.IDs {
		if !want[id] {
			continue
		}
		ids = append(ids, id)
		x = append(x, m.Row(i)...)
		if len(ids) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	n, err := set.Count(gen)
	if err != nil {
		return err
	}
	if n != m.Rows {
		return fmt.Errorf("generation %d of set %s holds %d samples after writing, want %d", gen, set.Key()[:12], n, m.Rows)
	}
	return set.MarkComplete(gen, n)
}

// readLabeled reads an id,label CSV; a label is a class name or, when it
// is not one, a class index.
func readLabeled(path string, classes []string) (map[string]int, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--labeled: %w", err)
	}
	rows, err := datasets.ReadLabels(bytes.NewReader(raw), path)
	if err != nil {
		return nil, nil, err
	}
	index := make(map[string]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		c, ok := index[r.Label]
		if !ok {
			k, err := strconv.Atoi(r.Label)
			if err != nil || k < 0 || k >= len(classes) {
				return nil, nil, fmt.Errorf("%s:%d: label %q of %q is neither a class name nor an index 0..%d (classes: %q)",
					path, r.Line, r.Label, r.ID, len(classes)-1, classes)
			}
			c = k
		}
		out[r.ID] = c
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("--labeled %s holds no labels", path)
	}
	return out, raw, nil
}

// labeledSHA256 is the hash of a labeled set, independent of row order and
// of how labels were written: sorted "id\tclass-index" lines.
func labeledSHA256(labels map[string]int) string {
	ids := make([]string, 0, len(labels))
	for id := range labels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s\t%d\n", id, labels[id])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// datasetClasses returns the class names of a dataset spec: those of its
// oracle label set when the cache has one, else the dataset's own.
func datasetClasses(db *cache.DB, spec string) ([]string, error) {
	classes, _, err := db.Labels(OracleLabelSet(spec))
	if err == nil {
		return classes, nil
	}
	if !errors.Is(err, cache.ErrNotFound) {
		return nil, err
	}
	ds, err := datasets.Open(spec, datasetOptions())
	if err != nil {
		return nil, err
	}
	if len(ds.Classes()) < 2 {
		return nil, fmt.Errorf("dataset %s has %d classes: a labeled set needs at least 2", spec, len(ds.Classes()))
	}
	return ds.Classes(), nil
}

// finetuneResult is what `asvp finetune` prints.
type finetuneResult struct {
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

// runFinetune trains the built-in adapter and head on a labeled subset of a
// cached feature set and stores the aligned features of every sample as a
// new generation.
func runFinetune(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("finetune", stderr)
	cachePath := fs.String("cache", "", "cache file (required)")
	data := fs.String("data", "", "dataset spec of the feature set to align (required)")
	output := fs.String("output", "", "backbone output of the feature set (needed when the cache has several)")
	labeledPath := fs.String("labeled", "", "labeled set: CSV of id,label with label a class name or index (required)")
	method := fs.String("method", nn.MethodFT, "training method: lp (head only), ft (adapter and head) or lpft")
	seed := fs.Uint64("seed", 1, "seed of the initial weights and batch order")
	test := fs.String("test", "", "dataset spec whose cached features (same output) measure held-out accuracy, with labels oracle/SPEC")
	genFlag := fs.Int("gen", 0, "generation to train on (default 0, the pre-trained features: like a fine-tune of the real backbone, a re-alignment restarts from the pre-trained model; -1: the newest complete one)")
	round := fs.Int("round", 0, "selection round, recorded in the provenance")
	save := fs.String("save", "", "write the trained net to this file (asvp export reads it)")
	noWrite := fs.Bool("no-write", false, "train and report only: store no generation")
	epochs := fs.Int("epochs", 0, "epochs per stage (0: the recipe's default)")
	hidden := fs.Int("hidden", 0, "adapter hidden width (0: min(256, dim/2))")
	writeBatch := fs.Int("write-batch", defaultWriteBatch, "rows per write transaction")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cachePath == "" || *data == "" || *labeledPath == "" {
		return fmt.Errorf("--cache, --data and --labeled are required: %w", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if *writeBatch < 1 || *epochs < 0 || *hidden < 0 {
		return fmt.Errorf("--write-batch must be positive, --epochs and --hidden non-negative: %w", errUsage)
	}
	recipe := nn.DefaultRecipe(*method)
	switch *method {
	case nn.MethodLP, nn.MethodFT, nn.MethodLPFT:
	default:
		return fmt.Errorf("--method %q: want lp, ft or lpft: %w", *method, errUsage)
	}
	recipe.Seed = *seed
	if *epochs > 0 {
		recipe.Epochs = *epochs
		if recipe.LPEpochs > 0 {
			recipe.LPEpochs = *epochs
		}
	}
	recipe.Hidden = *hidden

	say := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "finetune: "+format+"\n", a...)
		}
	}
	// writing reports a write's progress at most every two seconds, and its end.
	writing := func(what string) func(done, total int) {
		t0, last := time.Now(), time.Now()
		return func(done, total int) {
			if done < total && time.Since(last) < 2*time.Second {
				return
			}
			last = time.Now()
			el := time.Since(t0).Seconds()
			say("writing %s: %d/%d samples (%.1f%%), %.0f samples/s", what, done, total, 100*float64(done)/float64(max(total, 1)), float64(done)/max(el, 1e-9))
		}
	}
	secs := map[string]float64{}
	phase := time.Now()
	lap := func(name string) {
		secs[name] = time.Since(phase).Seconds()
		phase = time.Now()
	}
	db, err := openExistingCache(*cachePath, *noWrite)
	if err != nil {
		return err
	}
	defer db.Close()
	set, err := findSet(db, *data, *output)
	if err != nil {
		return err
	}
	gen, err := pickGen(db, set, *genFlag)
	if err != nil {
		return err
	}
	classes, err := datasetClasses(db, *data)
	if err != nil {
		return err
	}
	labels, _, err := readLabeled(*labeledPath, classes)
	if err != nil {
		return err
	}
	m, err := set.ReadMatrix(gen)
	if err != nil {
		return err
	}
	X, y := labeledRows(m, labels)
	if X.Rows < len(labels) {
		return fmt.Errorf("%d of the %d labeled samples have no features in generation %d of %s/%s (e.g. %q): extract them first",
			len(labels)-X.Rows, len(labels), gen, *data, set.Info().Output, firstMissing(labels, X.IDs))
	}
	lap("read")
	say("read %d samples of generation %d (dimension %d) in %.1fs; training %s on %d labels, %d classes",
		m.Rows, gen, m.Cols, secs["read"], *method, X.Rows, len(classes))

	net, st, err := nn.Train(recipe, X.Data, X.Rows, X.Cols, y, len(classes))
	if err != nil {
		return err
	}
	lap("train")
	say("trained in %.1fs, train accuracy %.4f", secs["train"], st.TrainAcc)
	res := finetuneResult{
		Cache: *cachePath, Dataset: *data, Output: set.Info().Output, Set: set.Key(), Method: *method, Seed: *seed,
		Round: *round, ParentGen: gen, Labels: X.Rows, Classes: classes, LabeledSHA256: labeledSHA256(labels),
		TrainAccuracy: st.TrainAcc, Samples: m.Rows, Seconds: secs,
	}
	var netBytes bytes.Buffer
	if err := net.Save(&netBytes); err != nil {
		return err
	}
	sum := sha256.Sum256(netBytes.Bytes())
	res.NetSHA256 = hex.EncodeToString(sum[:])
	if *save != "" {
		if err := atomicfile.WriteBytes(*save, netBytes.Bytes()); err != nil {
			return fmt.Errorf("--save %s: %w", *save, err)
		}
		res.Net = *save
	}

	var testSet *cache.Set
	var testM *features.Matrix
	if *test != "" {
		if testSet, err = findSet(db, *test, set.Info().Output); err != nil {
			return err
		}
		testGen := 0
		if gen > 0 {
			g, err := set.Generation(gen)
			if err != nil {
				return err
			}
			if testSet.Key() == set.Key() {
				testGen = gen
			} else if testGen, err = findAligned(db, testSet, g); err != nil {
				return err
			} else if testGen < 0 {
				return fmt.Errorf("test set %s has no complete generation aligned like generation %d of %s (run the same finetune or align on it): it cannot be compared", *test, gen, *data)
			}
		}
		if testM, err = testSet.ReadMatrix(testGen); err != nil {
			return err
		}
		_, testLabels, err := db.Labels(OracleLabelSet(*test))
		if err != nil {
			return fmt.Errorf("--test %s: %w", *test, err)
		}
		held := make(map[string]int, len(testLabels))
		for id, c := range testLabels {
			if _, used := labels[id]; !used || testSet.Key() != set.Key() {
				held[id] = c
			}
		}
		Xt, yt := labeledRows(testM, held)
		if Xt.Rows == 0 {
			return fmt.Errorf("--test %s: no labeled held-out samples with features", *test)
		}
		acc := netAccuracy(net, Xt, yt)
		res.Test, res.TestSamples, res.TestAccuracy = *test, Xt.Rows, &acc
		lap("test")
		say("held-out accuracy %.4f on %d samples of %s", acc, Xt.Rows, *test)
	}

	if !*noWrite {
		prov := map[string]string{
			"labeled_sha256": res.LabeledSHA256, "labels": strconv.Itoa(X.Rows), "method": *method,
			"seed": strconv.FormatUint(*seed, 10), "round": strconv.Itoa(*round), "parent_gen": strconv.Itoa(gen),
			"net_sha256": res.NetSHA256, "pool": *data,
		}
		if cj, err := json.Marshal(classes); err == nil {
			prov["classes"] = string(cj)
		}
		newGen, done, err := ensureGen(db, set, m.Cols, "adapter", prov)
		if err != nil {
			return err
		}
		res.Generation, res.Reused = &newGen, done
		if !done {
			if err := writeEmbedded(db, set, newGen, net, m, *writeBatch, writing(fmt.Sprintf("generation %d of %s", newGen, *data))); err != nil {
				return err
			}
		}
		if testSet != nil && testSet.Key() != set.Key() {
			tg, tdone, err := ensureGen(db, testSet, testM.Cols, "adapter", prov)
			if err != nil {
				return err
			}
			res.TestGeneration = &tg
			if !tdone {
				if err := writeEmbedded(db, testSet, tg, net, testM, *writeBatch, writing(fmt.Sprintf("generation %d of %s", tg, *test))); err != nil {
					return err
				}
			}
		}
		lap("write")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// netAccuracy is the share of rows of X whose most probable class is y's.
func netAccuracy(net *nn.Net, X *features.Matrix, y []int) float64 {
	p := net.Predict(X.Data, X.Rows)
	c := net.Classes
	right := 0
	for i := range X.Rows {
		row := p[i*c : (i+1)*c]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		if best == y[i] {
			right++
		}
	}
	return float64(right) / float64(X.Rows)
}

func firstMissing(labels map[string]int, have []string) string {
	got := make(map[string]bool, len(have))
	for _, id := range have {
		got[id] = true
	}
	ids := make([]string, 0)
	for id := range labels {
		if !got[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}
