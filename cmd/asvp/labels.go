package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/selector"
)

// labelsImportCmd is `asvp labels import`.
type labelsImportCmd struct {
	opts    loop.ImportOptions
	set     setFlags
	classes classList
	quiet   bool
}

func (c *labelsImportCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.opts.From, "from", "", "`file` to import: a CSV id,label (with that header), or a Label Studio export: JSON, JSON-MIN or CSV (required)")
	fs.StringVar(&c.opts.Labeled, "labeled", "", "labeled `file` (CSV id,label) to add to; created when missing (required)")
	c.set.register(fs, "dataset `spec` of the pool the labels are of (default: the cache's only dataset)")
	fs.StringVar(&c.opts.FromName, "from-name", datasets.DefaultFromName, "`name` of the Label Studio choices control holding the answers (the config asvp prints names it label)")
	fs.StringVar(&c.opts.Resolve, "resolve", datasets.ResolveRefuse, "when annotators of a task disagree: "+strings.Join(datasets.ResolveNames(), ", ")+" (refuse names the task)")
	fs.Var(&c.classes, "classes", "close the class list: comma-separated `names`, or @FILE with one per line; a label outside it is refused (default: open, a new name is a new class)")
	fs.BoolVar(&c.quiet, "quiet", false, "no notes on stderr (new classes, settled disagreements)")
}

func (c *labelsImportCmd) validate(fs *flag.FlagSet) error {
	if err := required("from", c.opts.From, "labeled", c.opts.Labeled, "cache", c.set.cache); err != nil {
		return err
	}
	if !slices.Contains(datasets.ResolveNames(), c.opts.Resolve) {
		return fmt.Errorf("--resolve %q: want %s: %w", c.opts.Resolve, strings.Join(datasets.ResolveNames(), ", "), errUsage)
	}
	return noArgs(fs.Args())
}

func (c *labelsImportCmd) run(_ context.Context, out, log io.Writer) error {
	c.opts.Cache, c.opts.Dataset, c.opts.Output = c.set.cache, c.set.dataset(), c.set.output
	c.opts.Classes = c.classes.names
	c.opts.Datasets = datasetOptions()
	if !c.quiet {
		c.opts.Log = log
	}
	res, err := loop.ImportLabels(c.opts)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res) // one JSON line
}

// classList is a --classes flag: comma-separated names, or @FILE with one
// name per line. Set means given (an empty list is refused).
type classList struct {
	names []string
	set   bool
}

func (l *classList) String() string { return strings.Join(l.names, ",") }

func (l *classList) Set(v string) error {
	var names []string
	if file, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(b)) {
			if n := strings.TrimSpace(line); n != "" {
				names = append(names, n)
			}
		}
	} else {
		for n := range strings.SplitSeq(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no class names in %q", v)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("class %q named twice", n)
		}
		seen[n] = true
	}
	l.names, l.set = names, true
	return nil
}

// labelsConfigCmd is `asvp labels config`.
type labelsConfigCmd struct {
	set     setFlags
	labeled string
	classes classList
}

func (c *labelsConfigCmd) flags(fs *flag.FlagSet) {
	fs.Var(&c.classes, "classes", "class `names` to offer, comma-separated or @FILE with one per line (default: the pool's classes and the labeled file's)")
	c.set.register(fs, "dataset `spec` of the pool (default: the cache's only dataset)")
	fs.StringVar(&c.labeled, "labeled", "", "labeled `file` whose class names to offer besides the dataset's")
}

func (c *labelsConfigCmd) validate(fs *flag.FlagSet) error {
	if !c.classes.set && c.set.cache == "" {
		return fmt.Errorf("--classes or --cache required: %w", errUsage)
	}
	return noArgs(fs.Args())
}

func (c *labelsConfigCmd) run(_ context.Context, out, _ io.Writer) error {
	classes := c.classes.names
	if !c.classes.set {
		var err error
		classes, err = loop.Classes(loop.ClassesOptions{Cache: c.set.cache, Dataset: c.set.dataset(), Output: c.set.output,
			Labeled: c.labeled, Datasets: datasetOptions()})
		if err != nil {
			return err
		}
		if len(classes) == 0 {
			return fmt.Errorf("the pool has no classes yet (an unlabeled pool, no labels): name them with --classes cat,dog,...: %w", errUsage)
		}
	}
	_, err := io.WriteString(out, selector.LabelStudioConfigFor(classes))
	return err
}
