package loop

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models"
)

// TrainerResult describes a run of the user's trainer command.
type TrainerResult struct {
	Command string  `json:"command"`
	Labels  int     `json:"labels"`
	WorkDir string  `json:"work_dir,omitempty"`
	Seconds float64 `json:"seconds"`
}

// runTrainer writes the labelled set as a manifest of image files, runs the
// user's trainer command, and returns where it wrote its model. The model
// is not checked here.
func runTrainer(ctx context.Context, template string, labeled *Labeled, workDir string, ds datasets.Dataset, classes []string,
	card models.Card, output string, log io.Writer) (*TrainerResult, string, error) {
	dir := workDir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "asvp-trainer-*"); err != nil {
			return nil, "", err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, "", err
	}
	fail := func(err error) (*TrainerResult, string, error) {
		if workDir == "" {
			os.RemoveAll(dir)
		}
		return nil, "", err
	}
	index := make(map[string]int, ds.Len())
	for i := range ds.Len() {
		index[ds.Sample(i).ID] = i
	}
	order := make([]int, 0, labeled.Len()) // positions in labeled, in dataset order
	for k, id := range labeled.IDs {
		if _, ok := index[id]; !ok {
			return fail(optionErr("labeled", "%s line %d: sample %q is not in dataset %s", labeled.Path, labeled.Line[k], id, ds.Spec()))
		}
		order = append(order, k)
	}
	slices.SortFunc(order, func(a, b int) int { return index[labeled.IDs[a]] - index[labeled.IDs[b]] })
	imgDir := filepath.Join(dir, "images")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return fail(err)
	}
	rows := make([]datasets.ManifestRow, 0, len(order))
	for _, k := range order {
		i := index[labeled.IDs[k]]
		p := ds.Sample(i).Path
		if p == "" { // the image lives inside the dataset file: write it out
			img, err := ds.Image(i)
			if err != nil {
				return fail(err)
			}
			p = filepath.Join(imgDir, fmt.Sprintf("%08d.png", i))
			if err := atomicfile.Write(p, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
				return fail(fmt.Errorf("loop: write %s: %w", p, err))
			}
		} else if p, err = filepath.Abs(p); err != nil {
			return fail(err)
		}
		rows = append(rows, datasets.ManifestRow{Path: p, Label: classes[labeled.Class[k]]})
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
	for _, w := range []struct {
		path  string
		write func(io.Writer) error
	}{
		{paths["manifest"], func(w io.Writer) error { return datasets.WriteManifest(w, rows) }},
		{paths["classes"], func(w io.Writer) error { _, err := io.WriteString(w, strings.Join(classes, "\n")+"\n"); return err }},
		{paths["card"], func(w io.Writer) error { _, err := w.Write(append(cardJSON, '\n')); return err }},
	} {
		if err := atomicfile.Write(w.path, w.write); err != nil {
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
	cmd.Stdout, cmd.Stderr = log, log
	if log == nil {
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	} else {
		fmt.Fprintf(log, "align: running trainer: %s\n", cmdline)
	}
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("%w: %s: %w", ErrTrainer, cmdline, err))
	}
	tr := &TrainerResult{Command: cmdline, Labels: len(order)}
	if workDir != "" {
		tr.WorkDir = dir
	}
	return tr, paths["out"], nil
}

// ShellQuote returns s as one POSIX shell word: unchanged when it holds only
// characters no shell treats specially, single-quoted otherwise.
func ShellQuote(s string) string { return shellQuote(s) }

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
