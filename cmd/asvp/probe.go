package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/asvp-dev/asvp/loop"
)

// probeCmd is `asvp probe`.
type probeCmd struct {
	opts    loop.ProbeOptions
	outputs string
	asJSON  bool
}

func (c *probeCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.opts.Cache, "cache", "", "cache file (required)")
	fs.StringVar(&c.opts.Pool, "pool", "", "dataset whose features and labels train the probe (default: the cache's only dataset with labels, or X:train of an X:train/X:test pair)")
	fs.StringVar(&c.opts.Test, "test", "", "dataset whose features and labels measure it (default: the pool's X:test partner when cached, else the pool's samples not drawn for training)")
	fs.StringVar(&c.opts.Set, "set", "", "the pool's feature set `key` or unique prefix of at least 8 hex digits (asvp cache ls), in place of --pool and --outputs")
	fs.StringVar(&c.outputs, "outputs", "", "outputs to probe, comma-separated (default: every output cached for both)")
	fs.IntVar(&c.opts.Labels, "labels", 5000, "labeled training samples, drawn at random")
	fs.Uint64Var(&c.opts.Seed, "seed", 1, "seed of the draw and the training")
	fs.StringVar(&c.opts.Proxy, "proxy", "linear", "probe: linear or mlp")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON")
}

func (c *probeCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.opts.Cache); err != nil {
		return err
	}
	if c.opts.Set != "" && (c.opts.Pool != "" || c.outputs != "") {
		return fmt.Errorf("give either --set or --pool/--outputs, not both: %w", errUsage)
	}
	if c.outputs != "" {
		c.opts.Outputs = strings.Split(c.outputs, ",")
	}
	return noArgs(fs.Args())
}

func (c *probeCmd) run(_ context.Context, out, log io.Writer) error {
	results, err := loop.Probe(c.opts)
	if err != nil {
		return err
	}
	if len(results) > 0 {
		r := results[0]
		held := ""
		if r.Pool == r.TestSet {
			held = " (its samples not drawn for training)"
		}
		fmt.Fprintf(log, "probe: trained on %s, measured on %s%s\n", r.Pool, r.TestSet, held)
	}
	if c.asJSON {
		return printJSON(out, results)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPUT\tDIM\tLABELS\tTEST\tACCURACY\tTRAIN S")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.1f\n", r.Output, r.Dim, r.Labels, r.Test, r.Accuracy, r.Seconds)
	}
	return tw.Flush()
}
