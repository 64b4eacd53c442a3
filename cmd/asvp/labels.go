package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"

	"github.com/asvp-dev/asvp/loop"
)

// labelsImportCmd is `asvp labels import`.
type labelsImportCmd struct{ opts loop.ImportOptions }

func (c *labelsImportCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.opts.From, "from", "", "Label Studio JSON export (.json) or CSV id,label to import (required)")
	fs.StringVar(&c.opts.Labeled, "labeled", "", "labeled file (CSV id,label) to add to; created when missing (required)")
}

func (c *labelsImportCmd) validate(fs *flag.FlagSet) error {
	if err := required("from", c.opts.From, "labeled", c.opts.Labeled); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

func (c *labelsImportCmd) run(_ context.Context, out, log io.Writer) error {
	c.opts.Log = log
	res, err := loop.ImportLabels(c.opts)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(res) // one JSON line
}
