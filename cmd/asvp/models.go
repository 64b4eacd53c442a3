package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models/tfjs"
)

// modelsLsCmd is `asvp models ls`.
type modelsLsCmd struct{ asJSON bool }

func (c *modelsLsCmd) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.asJSON, "json", false, "print the cards as JSON")
}

func (c *modelsLsCmd) validate(fs *flag.FlagSet) error { return noArgs(fs.Args()) }

func (c *modelsLsCmd) run(_ context.Context, out, _ io.Writer) error {
	cards := registry().Cards()
	if c.asJSON {
		return printJSON(out, cards)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tINPUT\tDEFAULT OUTPUT\tOUTPUTS")
	for _, c := range cards {
		outs := ""
		for i, o := range c.Outputs {
			if i > 0 {
				outs += " "
			}
			outs += fmt.Sprintf("%s:%d", o.Name, o.Dim)
		}
		fmt.Fprintf(tw, "%s\t%dx%d %s\t%s\t%s\n", c.Name, c.Height, c.Width, c.Layout, c.DefaultOutput, outs)
	}
	return tw.Flush()
}

// importTFJSCmd is `asvp models import-tfjs`: it converts a TF.js layers
// model to ONNX, writes it atomically and prints its sha256 and outputs.
type importTFJSCmd struct {
	dir, out, outputs, source string
	specs                     []tfjs.OutputSpec
}

// importResult is what `asvp models import-tfjs` prints to stdout.
type importResult struct {
	Out          string            `json:"out"`
	SHA256       string            `json:"sha256"`
	Bytes        int               `json:"bytes"`
	Source       string            `json:"source"`
	SourceSHA256 string            `json:"source_sha256"`
	Input        string            `json:"input"`
	Outputs      []tfjs.OutputInfo `json:"outputs"`
}

func (c *importTFJSCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "dir", "", "folder of the TF.js model (model.json or nsfwjs model.min.js)")
	fs.StringVar(&c.out, "out", "", "ONNX file to write")
	fs.StringVar(&c.outputs, "outputs", "", "outputs as NAME=LAYER[+LAYER...],... (default: probs, pool_final, pool_block_13, pool_block_16, pool_blocks_10_13_16)")
	fs.StringVar(&c.source, "source", "", "source description recorded in the model (default: known package name, else the folder)")
}

func (c *importTFJSCmd) validate(fs *flag.FlagSet) error {
	if c.dir == "" || c.out == "" || fs.NArg() > 0 {
		return fmt.Errorf("want --dir DIR --out FILE.onnx and no other arguments: %w", errUsage)
	}
	if c.outputs != "" {
		var err error
		if c.specs, err = tfjs.ParseOutputSpecs(c.outputs); err != nil {
			return fmt.Errorf("--outputs: %w: %w", err, errUsage)
		}
	}
	return nil
}

func (c *importTFJSCmd) run(_ context.Context, out, _ io.Writer) error {
	m, err := tfjs.ReadDir(c.dir)
	if err != nil {
		return err
	}
	src := c.source
	if src == "" {
		src = m.KnownSource()
	}
	if src == "" {
		src = filepath.Base(filepath.Clean(c.dir))
	}
	conv, err := m.Convert(tfjs.Options{Outputs: c.specs, Source: src})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(c.out, conv.ONNX); err != nil {
		return err
	}
	sum := sha256.Sum256(conv.ONNX)
	return printJSON(out, importResult{
		Out: c.out, SHA256: hex.EncodeToString(sum[:]), Bytes: len(conv.ONNX),
		Source: src, SourceSHA256: m.SourceSHA256, Input: tfjs.InputName, Outputs: conv.Outputs,
	})
}
