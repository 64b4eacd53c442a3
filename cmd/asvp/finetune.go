package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models/finetune"
)

// finetuneCmd is `asvp finetune`.
type finetuneCmd struct {
	set                       setFlags
	quiet                     bool
	labeled, method, test     string
	save, cut                 string
	seed                      uint64
	round, epochs, writeBatch int
	noWrite                   bool
	tailLR, headLR            float64
	recipe                    finetune.Recipe
}

func (c *finetuneCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "dataset `spec` of the feature set, as given to extract (default: the cache's only dataset, or the one holding the labeled samples)")
	fs.StringVar(&c.labeled, "labeled", "", "labeled set: CSV of id,label with label a class name or index (required)")
	fs.StringVar(&c.method, "method", finetune.MethodFT, "training method: lp (head only), ft (the backbone's tail and a head) or lpft (lp, then ft with smaller rates)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the head's initial weights and the batch order")
	fs.StringVar(&c.cut, "tune-from", "", "cut whose cached activations to fine-tune from, when the set has several (default: the only one). There is no --gen: every fine-tune starts from the pretrained weights and generation 0's activations, whatever generation select used")
	fs.StringVar(&c.test, "test", "", "dataset spec whose cached activations and oracle labels measure held-out accuracy")
	fs.IntVar(&c.round, "round", 0, "selection round, recorded in the provenance")
	fs.StringVar(&c.save, "save", "", "write the fine-tuned tail and head to this file (asvp export reads it)")
	fs.BoolVar(&c.noWrite, "no-write", false, "train and report only: store no generation")
	fs.IntVar(&c.epochs, "epochs", 0, "epochs per stage (0: scaled to the labels, 30 at 1,000)")
	fs.Float64Var(&c.tailLR, "tail-lr", 0, "ft: learning rate of the tail (0: the recipe's)")
	fs.Float64Var(&c.headLR, "head-lr", 0, "ft: learning rate of the head (0: the recipe's)")
	fs.IntVar(&c.writeBatch, "write-batch", cache.DefaultWriteBatch, "rows per write transaction")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress on stderr")
}

func (c *finetuneCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache, "labeled", c.labeled); err != nil {
		return err
	}
	if c.writeBatch < 1 || c.epochs < 0 || c.tailLR < 0 || c.headLR < 0 {
		return fmt.Errorf("--write-batch must be positive, --epochs and the rates non-negative: %w", errUsage)
	}
	switch c.method {
	case finetune.MethodLP, finetune.MethodFT, finetune.MethodLPFT:
	default:
		return fmt.Errorf("--method %q: want lp, ft or lpft: %w", c.method, errUsage)
	}
	c.recipe = finetune.DefaultRecipe(c.method)
	c.recipe.Seed, c.recipe.Epochs = c.seed, c.epochs
	if c.tailLR > 0 {
		c.recipe.TailLR = c.tailLR
	}
	if c.headLR > 0 {
		c.recipe.HeadLR = c.headLR
	}
	return noArgs(fs.Args())
}

func (c *finetuneCmd) run(ctx context.Context, out, log io.Writer) error {
	if c.quiet {
		log = nil
	}
	res, err := loop.Finetune(ctx, loop.FinetuneOptions{
		Cache: c.set.cache, Dataset: c.set.dataset(), Output: c.set.output, Labeled: c.labeled, Recipe: c.recipe,
		Cut: c.cut, ModelFor: backboneOf, Test: c.test, Round: c.round, Save: c.save, NoWrite: c.noWrite,
		WriteBatch: c.writeBatch, Datasets: datasetOptions(), Log: log,
	})
	if err != nil {
		return err
	}
	return printJSON(out, res)
}
