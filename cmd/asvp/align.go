package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models"
)

// alignCmd is `asvp align`.
type alignCmd struct {
	set                  setFlags
	model                modelFlags
	rf                   runFlags
	modelOutput, trainer string
	labeled, workDir     string
	batch, threads       int
	trainerTimeout       time.Duration
	given                map[string]bool
}

func (c *alignCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "dataset `spec` of the feature set, as given to extract (default: the cache's only dataset, or with --trainer-cmd the one holding the labeled samples)")
	c.model.register(fs)
	fs.Lookup("model").Usage = "fine-tuned .onnx file to re-extract with (not with --trainer-cmd, which writes it)"
	fs.Lookup("model").DefValue = ""
	c.model.model = ""
	fs.StringVar(&c.modelOutput, "model-output", "", "output of the new model to store (default: \"features\" when it has one, else the set's output name, else its only output)")
	fs.StringVar(&c.trainer, "trainer-cmd", "", "shell command that fine-tunes a model: placeholders {manifest} {out} {classes} {num_classes} {card} {workdir}; see docs/trainers.md")
	fs.StringVar(&c.labeled, "labeled", "", "labeled set for --trainer-cmd: CSV of id,label")
	fs.DurationVar(&c.trainerTimeout, "trainer-timeout", 0, "stop the trainer (its whole process group) when it runs longer, e.g. 2h (0: no limit)")
	fs.StringVar(&c.workDir, "work-dir", "", "folder for the trainer's files (default: a temporary folder, removed afterwards)")
	fs.IntVar(&c.batch, "batch", 32, "images per ONNX Runtime call")
	fs.IntVar(&c.threads, "threads", 0, "ONNX Runtime intra-op threads (0: runtime default)")
	c.rf.register(fs, "goroutines decoding and resizing images")
}

func (c *alignCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache); err != nil {
		return err
	}
	if (c.model.model == "") == (c.trainer == "") {
		return fmt.Errorf("give either --model FILE.onnx or --trainer-cmd: %w", errUsage)
	}
	if c.trainer != "" && c.labeled == "" {
		return fmt.Errorf("--trainer-cmd needs --labeled: %w", errUsage)
	}
	if c.trainerTimeout < 0 || c.trainerTimeout > 0 && c.trainer == "" {
		return fmt.Errorf("--trainer-timeout %s: want a positive duration, with --trainer-cmd: %w", c.trainerTimeout, errUsage)
	}
	c.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
	return noArgs(fs.Args())
}

func (c *alignCmd) run(ctx context.Context, out, log io.Writer) error {
	rt, err := openRuntime(c.model.ortLib)
	if err != nil {
		return err
	}
	defer rt.Close()
	res, err := loop.Align(ctx, rt, loop.AlignOptions{
		Cache: c.set.cache, Dataset: c.set.dataset(), Output: c.set.output, Model: c.model.model, TrainerCmd: c.trainer, TrainerTimeout: c.trainerTimeout,
		Labeled: c.labeled, WorkDir: c.workDir, ModelOutput: c.modelOutput, CardFor: c.card,
		Session:  extractor.SessionOptions{IntraOpThreads: c.threads},
		Run:      extractor.Config{BatchSize: c.batch, Workers: c.rf.workers, Progress: c.rf.log(log)},
		Datasets: datasetOptions(), Log: c.rf.log(log), TrainerOut: log,
	})
	if err != nil {
		return err
	}
	return printJSON(out, res)
}

// card returns the preprocessing card for re-extraction: the feature set's
// own card, with the card flags the user gave overriding its fields. When
// the set's model is not in the registry (a user's file), the card comes
// from the flags alone.
func (c *alignCmd) card(info cache.SetInfo) (models.Card, error) {
	given := c.given
	mf := &c.model
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
