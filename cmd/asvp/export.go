package main

import (
	"context"
	"flag"
	"io"

	"github.com/asvp-dev/asvp/loop"
)

// exportCmd is `asvp export`.
type exportCmd struct {
	set      setFlags
	net, out string
}

func (c *exportCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "dataset `spec` of the feature set the net was fine-tuned on, when no generation of the cache was written with it (lp, --no-write)")
	fs.StringVar(&c.net, "net", "", "`FILE` written by asvp finetune --save (required)")
	fs.StringVar(&c.out, "out", "", "ONNX file to write (required)")
}

func (c *exportCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache, "net", c.net, "out", c.out); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

func (c *exportCmd) run(_ context.Context, out, _ io.Writer) error {
	res, err := loop.Export(loop.ExportOptions{Net: c.net, Cache: c.set.cache, Dataset: c.set.dataset(), Output: c.set.output,
		ModelFor: backboneOf, Out: c.out})
	if err != nil {
		return err
	}
	return printJSON(out, res)
}
