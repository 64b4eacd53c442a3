package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/selector"
)

// selectCmd is `asvp select`.
type selectCmd struct {
	set                    setFlags
	rf                     runFlags
	gen, round             int
	budget                 budgetFlag
	labeled, strategy, out string
	proxy, format          string
	images                 loop.Images
	seed                   uint64
	beta                   float64
	ind                    realign.IndicatorConfig
}

func (c *selectCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "dataset spec of the pool, as given to extract (default: the cache's only dataset)")
	fs.IntVar(&c.gen, "gen", -1, "feature generation to select on (default: the newest complete one)")
	fs.StringVar(&c.labeled, "labeled", "", "CSV id,label of the samples labeled so far, in the order they were bought (none for a first batch with random, kcenter or typiclust)")
	fs.Var(&c.budget, "budget", "number of samples to pick, or all: every unlabeled sample, in the strategy's order (required)")
	fs.StringVar(&c.strategy, "strategy", "margin", "strategy: "+strings.Join(selector.StrategyNames(), ", "))
	fs.StringVar(&c.proxy, "proxy", "mlp", "proxy trained on the labeled features: linear or mlp")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of every random choice (same seed, same selection)")
	fs.IntVar(&c.round, "round", 1, "selection round; with a simulation's --seed and round, on the same labeled set, picks what that round picked")
	fs.Float64Var(&c.beta, "beta", 1, "power-sampling exponent of margin-power and entropy-power")
	fs.StringVar(&c.out, "out", "", "file to write the picks to (required)")
	fs.StringVar(&c.format, "format", "csv", "output format: csv (id,score,rank), jsonl, or labelstudio (Label Studio tasks)")
	fs.StringVar(&c.images.DocumentRoot, "ls-document-root", "", "labelstudio: Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT `folder`; tasks show /data/local-files/?d=PATH-UNDER-IT (default: the pool's folder)")
	fs.StringVar(&c.images.URL, "image-url", "", "labelstudio: `prefix` the pool's images are served under instead (tasks show PREFIX/PATH-IN-POOL)")
	c.rf.register(fs, "goroutines (results do not depend on it)")
	indicatorFlags(fs, &c.ind)
}

func (c *selectCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache, "out", c.out); err != nil {
		return err
	}
	if err := c.set.check(); err != nil {
		return err
	}
	if !c.budget.set {
		return fmt.Errorf("--budget required: %w", errUsage)
	}
	if c.images.URL != "" && c.images.DocumentRoot != "" {
		return fmt.Errorf("--image-url and --ls-document-root: give one: %w", errUsage)
	}
	if (c.images.URL != "" || c.images.DocumentRoot != "") && c.format != loop.FormatLabelStudio {
		return fmt.Errorf("--image-url and --ls-document-root are for --format labelstudio: %w", errUsage)
	}
	if c.gen < -1 {
		return fmt.Errorf("--gen %d: want a generation (0 or more), or -1 for the newest complete one: %w", c.gen, errUsage)
	}
	return noArgs(fs.Args())
}

func (c *selectCmd) run(ctx context.Context, out, log io.Writer) error {
	res, err := loop.Select(ctx, loop.SelectOptions{
		Cache: c.set.cache, Dataset: c.set.dataset(), Output: c.set.output, Gen: c.gen, Labeled: c.labeled,
		Budget: c.budget.n, All: c.budget.all, Strategy: c.strategy, StrategyOptions: selector.StrategyOptions{Beta: c.beta}, Proxy: c.proxy,
		Seed: c.seed, Round: c.round, Out: c.out, Format: c.format, Workers: c.rf.workers, Indicator: c.ind,
		Datasets: datasetOptions(), Images: c.images, Log: c.rf.log(log),
	})
	if err != nil {
		return err
	}
	if ind := res.Indicator; ind != nil && ind.Realign && !c.rf.quiet {
		// Name the set fully: the command must work as printed whatever
		// else the cache holds.
		fmt.Fprintf(log, "select: re-align now: asvp finetune --cache %s --data %s --output %s --labeled %s --method ft, then select with --gen -1\n",
			loop.ShellQuote(c.set.cache), loop.ShellQuote(res.Dataset), loop.ShellQuote(res.Output), loop.ShellQuote(c.labeled))
	}
	return json.NewEncoder(out).Encode(res) // one JSON line
}

// budgetFlag is --budget: a positive number of samples, or "all".
type budgetFlag struct {
	n        int
	all, set bool
}

func (b *budgetFlag) String() string {
	if b.all {
		return "all"
	}
	return strconv.Itoa(b.n)
}

func (b *budgetFlag) Set(v string) error {
	if v == "all" {
		b.n, b.all, b.set = 0, true, true
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q: want a positive number of samples, or all", v)
	}
	b.n, b.all, b.set = n, false, true
	return nil
}
