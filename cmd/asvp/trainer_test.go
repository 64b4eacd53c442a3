package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/internal/proctest"

	"github.com/asvp-dev/asvp/loop"
)

// TestAlignStopsTrainer runs the built binary with a trainer that starts a
// child (a sleep that would outlive its parent), records its PID and its
// work folder, and waits; asvp is then sent SIGTERM or SIGINT, or the
// trainer reaches --trainer-timeout. asvp must exit 1 saying the trainer
// was stopped, and leave no process, no work folder and no generation.
func TestAlignStopsTrainer(t *testing.T) {
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 20)
	n := generationCount(t, c)
	for _, tc := range []struct {
		name   string
		signal syscall.Signal // 0: none, the timeout stops it
		args   []string
		want   string
	}{
		{"SIGTERM", syscall.SIGTERM, nil, "context canceled"},
		{"SIGINT", syscall.SIGINT, nil, "context canceled"},
		{"timeout", 0, []string{"--trainer-timeout", "2s"}, "ran past its timeout of 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile, wdFile := filepath.Join(dir, "child.pid"), filepath.Join(dir, "workdir")
			trainer := "echo {workdir} > " + loop.ShellQuote(wdFile) + "; sleep 300 & echo $! > " + loop.ShellQuote(pidFile) + "; wait"
			cmd := asvpCmd(append([]string{"align", "--quiet", "--cache", c, "--data", fixPool, "--labeled", labeled, "--trainer-cmd", trainer}, tc.args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			// A trainer's process left running holds asvp's stderr open:
			// stop waiting for it once asvp itself has exited.
			cmd.WaitDelay = 5 * time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var pid int
			for pid == 0 {
				select {
				case err := <-exited:
					t.Fatalf("asvp exited (%v) before its trainer started its child\n%s", err, stderr.String())
				case <-time.After(50 * time.Millisecond):
				}
				pid = proctest.ReadPID(t, pidFile)
			}
			if tc.signal != 0 {
				if err := cmd.Process.Signal(tc.signal); err != nil {
					t.Fatal(err)
				}
			}
			err := <-exited
			proctest.WaitGone(t, pid)
			if code := exitCode(err); code != 1 {
				t.Fatalf("exit status %d (%v), want 1\n%s", code, err, stderr.String())
			}
			for _, w := range []string{"trainer command stopped", tc.want} {
				if !strings.Contains(stderr.String(), w) {
					t.Fatalf("stderr %q, want %q", stderr.String(), w)
				}
			}
			wd, err := os.ReadFile(wdFile)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(strings.TrimSpace(string(wd))); !os.IsNotExist(err) {
				t.Fatalf("work folder %s left behind (%v)", wd, err)
			}
			if got := generationCount(t, c); got != n {
				t.Fatalf("%d generations after a stopped trainer, want %d", got, n)
			}
		})
	}
}

// TestAlignTrainerModel: a trainer's model is accepted when align --model
// would accept it (here a real second model whose only output is not named
// "features"); the same model again, from the trainer or as --model, reuses
// its generation; the set's own backbone is generation 0; the provenance and
// the result name no removed temporary file; and a trainer that exits 0 is
// never said to have failed.
func TestAlignTrainerModel(t *testing.T) {
	c := alignFixture(t)
	dir := t.TempDir()
	labeled, _ := fixtureLabels(t, c, 20)
	feat := filepath.Join(dir, "feat.onnx")
	asvp(t, "models", "import-tfjs", "--dir", nsfwjsModelDir(t), "--out", feat, "--outputs", "feat=out_relu")
	cpTrainer := "cp " + loop.ShellQuote(feat) + " {out}"
	n := generationCount(t, c)

	// No --data: the cache holds two datasets, and the labelled samples
	// are in the pool's.
	first := align(t, "--cache", c, "--labeled", labeled, "--trainer-cmd", cpTrainer)
	if first.Dataset != fixPool || first.Generation != n || first.Reused || first.ModelOutput != "feat" || first.Dim != 1280 || first.Count != fixPoolN {
		t.Fatalf("trainer returning a model with one output \"feat\": %+v (generations before %d)", first, n)
	}
	if first.Model != "" || first.Trainer == nil || first.Trainer.Command != cpTrainer || first.Trainer.WorkDir != "" {
		t.Fatalf("the result names a removed temporary file: model %q, trainer %+v", first.Model, first.Trainer)
	}
	_, info, done := readGen(t, c, fixPool, first.Generation)
	if !done || info.Provenance["trainer_cmd"] != cpTrainer || info.Provenance["labeled_sha256"] == "" ||
		info.Provenance["model_sha256"] != first.ModelSHA256 {
		t.Fatalf("trainer generation: done %v, provenance %v", done, info.Provenance)
	}
	for k, v := range info.Provenance {
		if k == "model" || strings.Contains(v, "asvp-trainer-") || strings.Contains(v, "model.onnx") {
			t.Fatalf("provenance %s = %q names the trainer's temporary model file", k, v)
		}
	}

	for _, again := range []loop.AlignResult{
		align(t, "--cache", c, "--data", fixPool, "--labeled", labeled, "--trainer-cmd", cpTrainer),
		align(t, "--cache", c, "--data", fixPool, "--labeled", labeled, "--trainer-cmd", "cat "+loop.ShellQuote(feat)+" > {out}"),
		align(t, "--cache", c, "--data", fixPool, "--model", feat),
	} {
		if again.Generation != first.Generation || !again.Reused {
			t.Fatalf("the same model again: generation %d (reused %v), want %d reused", again.Generation, again.Reused, first.Generation)
		}
	}
	own := align(t, "--cache", c, "--data", fixPool, "--labeled", labeled, "--trainer-cmd", "cp "+loop.ShellQuote(alignBackbonePath(t))+" {out}")
	if own.Generation != 0 || !own.Reused {
		t.Fatalf("the set's own backbone: generation %d (reused %v), want 0", own.Generation, own.Reused)
	}
	if got := generationCount(t, c); got != n+1 {
		t.Fatalf("%d generations, want %d: one per distinct model", got, n+1)
	}

	for _, tc := range []struct {
		name, cmd string
		args      []string
		want      string
	}{
		{"exit 0, no model", "true", nil, "trainer exited 0 but wrote no model"},
		{"exit 0, model without the output asked for", cpTrainer, []string{"--model-output", "features"}, "trainer exited 0, but its model is not usable"},
		{"exit 2", "exit 2", nil, "trainer command failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := asvpRun(append([]string{"align", "--quiet", "--cache", c, "--data", fixPool, "--labeled", labeled, "--trainer-cmd", tc.cmd}, tc.args...)...)
			if exitCode(err) != 1 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", exitCode(err), stderr, tc.want)
			}
			if strings.HasPrefix(tc.name, "exit 0") && strings.Contains(stderr, "failed") {
				t.Fatalf("stderr %q says the trainer failed although it exited 0", stderr)
			}
		})
	}
}

// TestInferData: finetune and probe, like select, find the dataset
// themselves: finetune on a cache of two datasets takes the one holding the
// labelled samples; probe on a cache of one labelled folder trains on part
// of it and tests on the rest (it used to default to Fashion-MNIST).
func TestInferData(t *testing.T) {
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 40)
	ft := ftJSON(t, "--cache", c, "--labeled", labeled, "--method", "ft", "--epochs", "2", "--no-write", "--quiet")
	if ft.Dataset != fixPool || ft.Labels != 40 {
		t.Fatalf("finetune without --data: dataset %q, %d labels; want %s, 40", ft.Dataset, ft.Labels, fixPool)
	}

	// A folder of two classes, five images each.
	root := t.TempDir()
	var photos []string
	for _, name := range []string{"astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg"} {
		photos = append(photos, filepath.Join("..", "..", "testdata", "photos", name))
	}
	for k, p := range photos {
		for j, class := range []string{"a", "b"} {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(root, "imgs", class, strconv.Itoa(2*k+j)+filepath.Ext(p))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	spec := "folder:" + filepath.Join(root, "imgs")
	pc := filepath.Join(root, "c.asvp")
	asvp(t, "extract", "--quiet", "--data", spec, "--cache", pc)
	out := asvp(t, "probe", "--cache", pc, "--labels", "6", "--json")
	var res []loop.ProbeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("probe output is not JSON: %v\n%s", err, out)
	}
	if len(res) != 1 || res[0].Pool != spec || res[0].TestSet != spec || res[0].Labels != 6 || res[0].Test != 4 {
		t.Fatalf("probe on the only labelled folder: %+v; want 6 samples trained on and the other 4 tested", res)
	}
}

// TestTrainerDocsMatchFlags: every flag docs/trainers.md names in the
// section of a command is one of that command's flags, and the page and
// `finetune -h` say the same about --gen (finetune has none).
func TestTrainerDocsMatchFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "trainers.md"))
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile("--([a-z][a-z0-9-]*)")
	sections := strings.Split(string(b), "\n## ")
	checked := 0
	for _, sec := range sections[1:] {
		title, body, _ := strings.Cut(sec, "\n")
		var c cmd
		switch {
		case strings.Contains(title, "asvp finetune"):
			c = &finetuneCmd{}
		case strings.Contains(title, "asvp align"):
			c = &alignCmd{}
		default:
			continue
		}
		fs := flag.NewFlagSet(title, flag.ContinueOnError)
		c.flags(fs)
		// The trainer's own flags, inside the quoted --trainer-cmd, are not asvp's.
		text := regexp.MustCompile(`'[^'\n]*'`).ReplaceAllString(title+body, "")
		for _, m := range flagRE.FindAllStringSubmatch(text, -1) {
			name := m[1]
			if name == "gen" && strings.Contains(body, "There is no `--gen`") {
				continue
			}
			if fs.Lookup(name) == nil {
				t.Errorf("docs/trainers.md section %q names --%s, which the command does not have", title, name)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d flag mentions: did the sections move?", checked)
	}
	fs := flag.NewFlagSet("finetune", flag.ContinueOnError)
	(&finetuneCmd{}).flags(fs)
	var help bytes.Buffer
	fs.SetOutput(&help)
	fs.PrintDefaults()
	if fs.Lookup("gen") != nil || !strings.Contains(help.String(), "There is no --gen") || !strings.Contains(string(b), "There is no `--gen`") {
		t.Fatalf("finetune -h and docs/trainers.md must both say finetune has no --gen:\n%s", help.String())
	}
}
