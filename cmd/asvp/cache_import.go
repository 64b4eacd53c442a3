package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/asvp-dev/asvp/loop"
)

// cacheImportCmd is `asvp cache import`.
type cacheImportCmd struct {
	opts   loop.ImportFeaturesOptions
	asJSON bool
	quiet  bool
}

func (c *cacheImportCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.opts.Cache, "cache", "", "cache `file` (required; created when missing)")
	fs.StringVar(&c.opts.File, "from", "", "embedding `file` (required): a 2-D float32 or float16 .npy, or a .parquet")
	fs.StringVar(&c.opts.Format, "format", "", "npy or parquet (default: from the --from extension)")
	fs.StringVar(&c.opts.IDs, "ids", "", "npy: text `file` of sample IDs, one per line in row order (default: FILE.ids.txt, as cache export writes it)")
	fs.StringVar(&c.opts.Parquet.IDColumn, "id-column", "", "parquet: sample ID `column`, strings or integers (default: id)")
	fs.StringVar(&c.opts.Parquet.VectorColumn, "vector-column", "", "parquet: list `column` of floats (default: the only list column, else every float column, one per dimension)")
	fs.StringVar(&c.opts.Parquet.LabelColumn, "label-column", "", "parquet: `column` of class labels, stored as the oracle for simulate and probe")
	fs.StringVar(&c.opts.Labels, "labels", "", "id,label CSV `file` of (some of) the samples' classes, stored as the oracle for simulate and probe")
	fs.StringVar(&c.opts.Model, "model", "", "`name` of what computed the vectors, e.g. clip-vit-b32 (required; part of the set's key)")
	fs.StringVar(&c.opts.Name, "name", "", "the set's dataset spec becomes import:`NAME`, which --data, --pool and --test take (default: the file's base name without extension)")
	fs.StringVar(&c.opts.Output, "output", "", "output `name` of the set (default: "+loop.DefaultImportOutput+")")
	fs.BoolVar(&c.opts.Copy, "copy", false, "npy: keep the vectors in the cache (it grows by about the file's size) instead of referring to the file where it is; a Parquet file's vectors are always copied")
	fs.BoolVar(&c.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress on stderr")
}

func (c *cacheImportCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.opts.Cache, "from", c.opts.File, "model", c.opts.Model); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

func (c *cacheImportCmd) run(_ context.Context, out, log io.Writer) error {
	if !c.quiet {
		c.opts.Log = log
	}
	res, err := loop.ImportFeatures(c.opts)
	if err != nil {
		return err
	}
	if c.asJSON {
		return printJSON(out, res)
	}
	verb := fmt.Sprintf("imported %d x %d %s", res.Rows, res.Dim, res.DType)
	if res.Already {
		verb = fmt.Sprintf("already imported (%d x %d %s, nothing written)", res.Rows, res.Dim, res.DType)
	}
	stored := "vectors in the cache"
	if res.Stored == loop.StoredReference {
		stored = "vectors by reference to " + res.Reference + " (keep it there, or import with --copy)"
	}
	fmt.Fprintf(out, "%s from %s as set %.12s, dataset %s output %s model %s, %s; %d labels", verb, res.File, res.Set, res.Dataset, res.Output, res.Model, stored, res.Labels)
	if len(res.Classes) > 0 {
		fmt.Fprintf(out, " in %d classes", len(res.Classes))
	}
	fmt.Fprintln(out)
	return nil
}
