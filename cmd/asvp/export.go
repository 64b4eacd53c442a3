package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models"
)

// exportCmd is `asvp export`.
type exportCmd struct {
	cache, net, model, output, out string
}

func (c *exportCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.cache, "cache", "", "cache that finetune wrote to: finds the backbone output the net was trained on")
	fs.StringVar(&c.net, "net", "", "`FILE` written by asvp finetune --save (required)")
	fs.StringVar(&c.model, "model", models.DefaultModel, "backbone: a registry name or an .onnx file")
	fs.StringVar(&c.output, "output", "", "backbone output that feeds the net (default: the one recorded in --cache)")
	fs.StringVar(&c.out, "out", "", "ONNX file to write (required)")
}

func (c *exportCmd) validate(fs *flag.FlagSet) error {
	if err := required("net", c.net, "out", c.out); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

func (c *exportCmd) run(_ context.Context, out, _ io.Writer) error {
	backbone := c.model
	if !strings.HasSuffix(strings.ToLower(c.model), ".onnx") {
		card, path, err := registry().Lookup(c.model)
		if err != nil {
			return err
		}
		if _, err := card.VerifyFile(path); err != nil {
			return err
		}
		backbone = path
	}
	res, err := loop.Export(loop.ExportOptions{Net: c.net, Backbone: backbone, Cache: c.cache, Output: c.output, Out: c.out})
	if err != nil {
		return err
	}
	return printJSON(out, res)
}
