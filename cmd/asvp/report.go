package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/asvp-dev/asvp/loop"
)

// reportCmd is `asvp report`.
type reportCmd struct {
	out    string
	target float64
	parts  []string
}

func (c *reportCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.out, "out", "", "directory for the report (required)")
	fs.Float64Var(&c.target, "target-acc", 0, "accuracy for the labels-to-target column (0: random's final mean accuracy)")
}

func (c *reportCmd) validate(fs *flag.FlagSet) error {
	if err := required("out", c.out); err != nil {
		return err
	}
	if c.parts = fs.Args(); len(c.parts) == 0 {
		return fmt.Errorf("want the results.json of every part of the simulation as arguments: %w", errUsage)
	}
	if c.target < 0 || c.target > 1 {
		return fmt.Errorf("--target-acc %g: want an accuracy in [0,1]: %w", c.target, errUsage)
	}
	return nil
}

func (c *reportCmd) run(_ context.Context, out, _ io.Writer) error {
	res, err := loop.Join(loop.JoinOptions{Parts: c.parts, TargetAccuracy: c.target, Out: c.out})
	if err != nil {
		return err
	}
	printSummary(out, res.Summary)
	fmt.Fprintf(out, "\nreport: %s\n", res.Files.HTML)
	return nil
}
