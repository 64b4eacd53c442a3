package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models/nn"
)

// finetuneCmd is `asvp finetune`.
type finetuneCmd struct {
	set                   setFlags
	rf                    runFlags
	labeled, method, test string
	save                  string
	seed                  uint64
	gen, round, epochs    int
	hidden, writeBatch    int
	noWrite               bool
	recipe                nn.Recipe
}

func (c *finetuneCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "")
	fs.StringVar(&c.labeled, "labeled", "", "labeled set: CSV of id,label with label a class name or index (required)")
	fs.StringVar(&c.method, "method", nn.MethodFT, "training method: lp (head only), ft (adapter and head) or lpft")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the initial weights and batch order")
	fs.StringVar(&c.test, "test", "", "dataset spec whose cached features (same output) and oracle labels measure held-out accuracy")
	fs.IntVar(&c.gen, "gen", 0, "generation to train on (default 0, the pre-trained features: like a fine-tune of the real backbone, a re-alignment restarts from the pre-trained model; -1: the newest complete one)")
	fs.IntVar(&c.round, "round", 0, "selection round, recorded in the provenance")
	fs.StringVar(&c.save, "save", "", "write the trained net to this file (asvp export reads it)")
	fs.BoolVar(&c.noWrite, "no-write", false, "train and report only: store no generation")
	fs.IntVar(&c.epochs, "epochs", 0, "epochs per stage (0: the recipe's default)")
	fs.IntVar(&c.hidden, "hidden", 0, "adapter hidden width (0: min(256, dim/2))")
	fs.IntVar(&c.writeBatch, "write-batch", cache.DefaultWriteBatch, "rows per write transaction")
	fs.BoolVar(&c.rf.quiet, "quiet", false, "no progress on stderr")
}

func (c *finetuneCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache, "labeled", c.labeled); err != nil {
		return err
	}
	if c.writeBatch < 1 || c.epochs < 0 || c.hidden < 0 {
		return fmt.Errorf("--write-batch must be positive, --epochs and --hidden non-negative: %w", errUsage)
	}
	switch c.method {
	case nn.MethodLP, nn.MethodFT, nn.MethodLPFT:
	default:
		return fmt.Errorf("--method %q: want lp, ft or lpft: %w", c.method, errUsage)
	}
	c.recipe = nn.DefaultRecipe(c.method)
	c.recipe.Seed, c.recipe.Hidden = c.seed, c.hidden
	if c.epochs > 0 {
		c.recipe.Epochs = c.epochs
		if c.recipe.LPEpochs > 0 {
			c.recipe.LPEpochs = c.epochs
		}
	}
	return noArgs(fs.Args())
}

func (c *finetuneCmd) run(ctx context.Context, out, log io.Writer) error {
	res, err := loop.Finetune(ctx, loop.FinetuneOptions{
		Cache: c.set.cache, Dataset: c.set.data, Output: c.set.output, Labeled: c.labeled, Recipe: c.recipe,
		Test: c.test, Gen: c.gen, Round: c.round, Save: c.save, NoWrite: c.noWrite, WriteBatch: c.writeBatch,
		Datasets: datasetOptions(), Log: c.rf.log(log),
	})
	if err != nil {
		return err
	}
	return printJSON(out, res)
}
