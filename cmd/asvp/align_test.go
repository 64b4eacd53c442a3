package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/loop"
)

func exportNet(t *testing.T, args ...string) loop.ExportResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := runExport(args, &stdout, &stderr); err != nil {
		t.Fatalf("export %v: %v\n%s", args, err, stderr.String())
	}
	var res loop.ExportResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("export output is not JSON: %v\n%s", err, stdout.String())
	}
	return res
}

func align(t *testing.T, args ...string) loop.AlignResult {
	t.Helper()
	out := asvp(t, append([]string{"align", "--quiet"}, args...)...)
	var res loop.AlignResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("align output is not JSON: %v\n%s", err, out)
	}
	return res
}

func generationCount(t *testing.T, cachePath string) int {
	t.Helper()
	db, err := cache.Open(cachePath, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := db.FindSet(fixPool, "")
	if err != nil {
		t.Fatal(err)
	}
	gens, err := set.Generations()
	if err != nil {
		t.Fatal(err)
	}
	return len(gens)
}

// TestExportAndAlign fine-tunes the backbone's tail on real Fashion-MNIST
// activations, exports backbone + tuned tail + head as one ONNX file, and
// re-extracts the images with it: its "features" must equal the generation
// finetune wrote (the tuned tail over the cached activations; they are
// float16, so within 1e-2, where the export's own test, on float32
// activations, holds 1e-4), and its "probs" must be distributions. Then the
// trainer protocol: a trainer that copies the exported model gives the same
// generation; failing trainers add none.
func TestExportAndAlign(t *testing.T) {
	c := alignFixture(t)
	dir := t.TempDir()
	labeled, _ := fixtureLabels(t, c, 100)
	netPath := filepath.Join(dir, "net.bin")
	ft := ftJSON(t, "--cache", c, "--data", fixPool, "--labeled", labeled, "--method", "ft", "--epochs", "5", "--save", netPath)
	deploy := filepath.Join(dir, "deploy.onnx")
	ex := exportNet(t, "--cache", c, "--net", netPath, "--out", deploy)
	if ex.Output != "pool_blocks_10_13_16" || len(ex.ClassNames) != 10 || ex.Dim != 576 || ex.Cut != "block_12_add" {
		t.Fatalf("export result %+v", ex)
	}
	gen0, _, _ := readGen(t, c, fixPool, 0)
	tuned, _, _ := readGen(t, c, fixPool, *ft.Generation)
	wantFeat := tuned.Data

	before := generationCount(t, c)
	feat := align(t, "--cache", c, "--data", fixPool, "--model", deploy)
	if feat.ModelOutput != "features" || feat.Generation != before || feat.Count != fixPoolN {
		t.Fatalf("align features: %+v (generations before %d)", feat, before)
	}
	m, info, done := readGen(t, c, fixPool, feat.Generation)
	if !done || info.Source != "onnx" || info.Provenance["model_sha256"] != ex.SHA256 {
		t.Fatalf("align generation: done %v, %+v", done, info)
	}
	if d := maxDiff32(m.Data, wantFeat); d > 1e-2 {
		t.Fatalf("re-extracted features differ from the fine-tuned generation by %g", d)
	}
	if maxDiff32(m.Data, gen0.Data) < 1e-2 {
		t.Fatal("re-extracted features equal generation 0: the tuned tail is not in the exported model")
	}

	probs := align(t, "--cache", c, "--data", fixPool, "--model", deploy, "--model-output", "probs")
	mp, _, _ := readGen(t, c, fixPool, probs.Generation)
	if probs.Dim != 10 || mp.Rows != fixPoolN {
		t.Fatalf("align probs: dim %d, %d rows", probs.Dim, mp.Rows)
	}
	for i := range mp.Rows {
		var sum float64
		for _, v := range mp.Row(i) {
			sum += float64(v)
		}
		if sum < 0.999 || sum > 1.001 {
			t.Fatalf("exported probs of row %d sum to %g", i, sum)
		}
	}

	// The same align again reuses its complete generation.
	if again := align(t, "--cache", c, "--data", fixPool, "--model", deploy); again.Generation != feat.Generation || !again.Reused {
		t.Fatalf("align rerun: %+v", again)
	}

	// A trainer that returns the exported model.
	script := filepath.Join(dir, "trainer.sh")
	body := "#!/bin/sh\nset -e\n" +
		"test -s \"$1\" && head -1 \"$1\" | grep -q '^path,label$'\n" + // manifest with header
		"test \"$(wc -l < \"$1\")\" -eq 101\n" + // 100 labeled rows
		"f=$(sed -n 2p \"$1\" | cut -d, -f1); test -s \"$f\"\n" + // the image file exists
		"test \"$3\" -eq 10 && test \"$(wc -l < \"$4\")\" -eq 10\n" + // classes
		"grep -q '\"output\": \"features\"' \"$5\"\n" + // card names the output
		"cp " + loop.ShellQuote(deploy) + " \"$2\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := align(t, "--cache", c, "--data", fixPool, "--labeled", labeled,
		"--trainer-cmd", script+" {manifest} {out} {num_classes} {classes} {card}")
	// The same model as --model deploy: its generation, reused.
	if tr.Trainer == nil || tr.Trainer.Labels != 100 || tr.Generation != feat.Generation || !tr.Reused {
		t.Fatalf("trainer align: %+v", tr)
	}

	// Failing trainers: a clear error, and no new generation.
	garbage := filepath.Join(dir, "garbage.sh")
	if err := os.WriteFile(garbage, []byte("#!/bin/sh\necho 'not onnx' > \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := generationCount(t, c)
	for _, tc := range []struct {
		name, cmd string
		args      []string
		want      string
	}{
		{"exit 1", "echo training failed >&2; exit 1", nil, "trainer command failed"},
		{"garbage model", garbage + " {out}", nil, "not a loadable ONNX model"},
		{"no model", "true", nil, "wrote no model"},
		{"wrong output", "cp " + loop.ShellQuote(alignBackbonePath(t)) + " {out}", []string{"--model-output", "features"}, "no output \"features\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := asvpRun(append([]string{"align", "--quiet", "--cache", c, "--data", fixPool, "--labeled", labeled, "--trainer-cmd", tc.cmd}, tc.args...)...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "trainer") {
				t.Fatalf("stderr %q, want it to name the trainer and %q", stderr, tc.want)
			}
			if got := generationCount(t, c); got != n {
				t.Fatalf("%d generations after a failed trainer, want %d", got, n)
			}
		})
	}

	// The trainer command runs where asvp was started, so a relative script
	// path in it works as it would in the user's shell.
	rel := asvpCmd("align", "--quiet", "--cache", c, "--data", fixPool, "--labeled", labeled,
		"--trainer-cmd", "./trainer.sh {manifest} {out} {num_classes} {classes} {card}")
	rel.Dir = dir
	if b, err := rel.CombinedOutput(); err != nil {
		t.Fatalf("trainer given by a relative path: %v\n%s", err, b)
	}
}

// alignBackbonePath is the installed default backbone, a valid ONNX model
// without a "features" output.
func alignBackbonePath(t *testing.T) string {
	t.Helper()
	_, p, err := registry().Lookup("mobilenet_v2-nsfwjs")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAlignUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no cache", []string{"--data", fixPool, "--model", "x.onnx"}, "required"},
		{"model and trainer", []string{"--cache", "c", "--data", fixPool, "--model", "x.onnx", "--trainer-cmd", "true"}, "either"},
		{"neither", []string{"--cache", "c", "--data", fixPool}, "either"},
		{"trainer without labels", []string{"--cache", "c", "--data", fixPool, "--trainer-cmd", "true"}, "--labeled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runAlign(t.Context(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := loop.ShellQuote(in); got != want {
			t.Errorf("loop.ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
