package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models"
)

// TrainerResult describes a run of the user's trainer command.
type TrainerResult struct {
	Command string  `json:"command"` // the template, placeholders unexpanded (the log shows the expansion)
	Labels  int     `json:"labels"`
	WorkDir string  `json:"work_dir,omitempty"`
	Seconds float64 `json:"seconds"`
}

// TrainerGrace is how long a trainer that is being stopped (asvp
// interrupted, or its timeout reached) has between SIGTERM and SIGKILL.
const TrainerGrace = 10 * time.Second

// runTrainer writes the labelled set as a manifest of image files, runs the
// user's trainer command (see runGroup; timeout > 0 bounds it), and returns
// where it wrote its model. The model is not checked here.
func runTrainer(ctx context.Context, template string, timeout time.Duration, labeled *Labeled, workDir string, ds datasets.Dataset, classes []string,
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
	var out io.Writer = io.Discard
	if log != nil {
		out = log
		fmt.Fprintf(log, "align: running trainer: %s\n", cmdline)
	}
	if err := runGroup(ctx, cmdline, timeout, TrainerGrace, out); err != nil {
		return fail(err)
	}
	tr := &TrainerResult{Command: template, Labels: len(order)}
	if workDir != "" {
		tr.WorkDir = dir
	}
	return tr, paths["out"], nil
}

// runGroup runs cmdline with sh -c in a process group of its own, its
// output to out. The group is what the trainer starts (sh, python, the data
// loader's workers), so the group is what is stopped: on ctx's end (asvp's
// SIGINT or SIGTERM) or after timeout (> 0), SIGTERM to the group, SIGKILL
// grace later; and once the command has exited, whatever it left
// running in its group is killed, so that nothing outlives asvp or writes
// into a work folder asvp removes. A terminal's Ctrl-C reaches asvp only
// (the group is not the terminal's foreground group), and asvp stops the
// group. Errors wrap ErrTrainer, and ctx's error when it ended.
func runGroup(ctx context.Context, cmdline string, timeout, grace time.Duration, out io.Writer) error {
	run := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		run, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(run, "sh", "-c", cmdline)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd, syscall.SIGTERM) }
	// After the grace, Wait kills sh itself and stops waiting for output
	// that a left-over process may still hold open.
	cmd.WaitDelay = grace
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w could not start: %s: %w", ErrTrainer, cmdline, err)
	}
	err := cmd.Wait()
	killGroup(cmd, syscall.SIGKILL) // what the command left behind; an empty group is no error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w command stopped after %.1fs (%w): %s", ErrTrainer, time.Since(t0).Seconds(), ctx.Err(), cmdline)
	case run.Err() != nil:
		return fmt.Errorf("%w command stopped: it ran past its timeout of %s: %s: %w", ErrTrainer, timeout, cmdline, run.Err())
	case errors.Is(err, exec.ErrWaitDelay): // exited 0; a left-over process held its output
		return nil
	case err != nil:
		return fmt.Errorf("%w command failed: %s: %w", ErrTrainer, cmdline, err)
	}
	return nil
}

// killGroup sends sig to the process group cmd leads; a group that is
// already gone is no error.
func killGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
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
