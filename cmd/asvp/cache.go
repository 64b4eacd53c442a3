package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/embeddings"
	"github.com/asvp-dev/asvp/internal/atomicfile"
)

func cacheCommands() []command {
	return []command{
		{name: "ls", args: "--cache FILE [--json]",
			summary: "list the feature sets and their generations: source (simulation generations marked), dimension, sample and error counts",
			new:     func() cmd { return &cacheLsCmd{} }},
		{name: "verify", args: "--cache FILE [--json]",
			summary: "check the file's structure and every record, label and count; exit status 1 on any problem",
			new:     func() cmd { return &cacheVerifyCmd{} }},
		{name: "export", args: "--cache FILE [--set KEY | --data SPEC [--output NAME]] [--gen N] [--format npy|csv|parquet] --out FILE",
			summary: "write one generation's features as NumPy .npy (IDs in FILE.ids.txt), CSV or Parquet; by default the generation select uses",
			new:     func() cmd { return &cacheExportCmd{} }},
		{name: "import", args: "--cache FILE --from FILE.npy|FILE.parquet --model NAME [--name NAME] [--labels CSV] [--copy]",
			summary: "import embeddings computed elsewhere (.npy with IDs, or Parquet) as a feature set import:NAME, with optional labels",
			new:     func() cmd { return &cacheImportCmd{} }},
		{name: "errors", args: "--cache FILE [--data SPEC] [--output NAME] [--gen N] [--json]",
			summary: "list the samples whose extraction failed, with their paths and reasons",
			new:     func() cmd { return &cacheErrorsCmd{} }},
		{name: "merge", args: "--out FILE IN1 [IN2 ...]",
			summary: "join shard files into a new cache; conflicting vectors are an error naming the sample",
			new:     func() cmd { return &cacheMergeCmd{} }},
		{name: "gc", args: "--cache FILE [--dry-run | --compact]",
			summary: "drop the feature sets no dataset references (dataset gone, or superseded by a newer set of it); --dry-run says how many bytes that frees",
			new:     func() cmd { return &cacheGCCmd{} }},
		{name: "migrate", args: "--cache FILE",
			summary: "bring a cache of an older format to the current one, keeping a copy FILE.vN.bak (any write does it too)",
			new:     func() cmd { return &cacheMigrateCmd{} }},
	}
}

// readCache opens a cache read-only and runs f on it, returning f's error,
// else the error of closing it.
func readCache(path string, f func(db *cache.DB) error) (err error) {
	db, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	return f(db)
}

// cacheLsCmd is `asvp cache ls`.
type cacheLsCmd struct {
	path   string
	asJSON bool
}

func (c *cacheLsCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "cache", "", "cache `file` (required)")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON instead of a table")
}

func (c *cacheLsCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.path); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

// genListing is one generation in `asvp cache ls --json`.
type genListing struct {
	cache.GenInfo
	// Simulation names the simulation that wrote the generation, if one did.
	Simulation string `json:"simulation,omitempty"`
	Samples    int    `json:"samples"`
	Errors     int    `json:"errors"`
}

// setListing is one feature set in `asvp cache ls --json`.
type setListing struct {
	cache.SetInfo
	Generations []genListing `json:"generations"`
}

func (c *cacheLsCmd) run(_ context.Context, out, _ io.Writer) error {
	listing := []setListing{}
	err := readCache(c.path, func(db *cache.DB) error {
		infos, err := db.Sets()
		if err != nil {
			return err
		}
		for _, si := range infos {
			s, err := db.Set(si.Key)
			if err != nil {
				return err
			}
			gens, err := s.Generations()
			if err != nil {
				return err
			}
			sl := setListing{SetInfo: si}
			for _, g := range gens {
				n, err := s.Count(g.N)
				if err != nil {
					return err
				}
				e, err := s.ErrorCount(g.N)
				if err != nil {
					return err
				}
				sl.Generations = append(sl.Generations, genListing{GenInfo: g, Simulation: g.Simulation(), Samples: n, Errors: e})
			}
			listing = append(listing, sl)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.asJSON {
		return printJSON(out, listing)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SET\tMODEL\tOUTPUT\tDATASET\tSHARD\tGEN\tSOURCE\tDIM\tDTYPE\tSAMPLES\tERRORS\tCREATED")
	for _, sl := range listing {
		shard := sl.Shard
		if shard == "" {
			shard = "-"
		}
		for _, g := range sl.Generations {
			source := g.Source
			if g.Simulation != "" {
				source += fmt.Sprintf(" (simulation %s)", g.Simulation)
			}
			if g.N == 0 && sl.Import != nil && sl.Import.Ref != nil {
				source += " (reference to " + sl.Import.Ref.Path + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\t%d\t%s\n",
				cache.ShortKey(sl.Key), sl.Model, sl.Output, sl.Dataset, shard, g.N, source, g.Dim, sl.DType,
				g.Samples, g.Errors, g.Created.Local().Format(time.DateTime))
		}
	}
	if len(listing) == 0 {
		fmt.Fprintln(tw, "(no feature sets)")
	}
	return tw.Flush()
}

// cacheVerifyCmd is `asvp cache verify`.
type cacheVerifyCmd struct {
	path   string
	asJSON bool
}

func (c *cacheVerifyCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "cache", "", "cache `file` (required)")
	fs.BoolVar(&c.asJSON, "json", false, "print the report as JSON")
}

func (c *cacheVerifyCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.path); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

func (c *cacheVerifyCmd) run(_ context.Context, out, _ io.Writer) error {
	var rep cache.Report
	err := readCache(c.path, func(db *cache.DB) (err error) {
		rep, err = cache.Verify(db)
		return err
	})
	if errors.Is(err, cache.ErrCorrupt) {
		// Damaged beyond opening: that is the verdict, reported as a problem.
		rep.Problems, err = []cache.Problem{{Gen: -1, Msg: strings.TrimPrefix(err.Error(), "cache: ")}}, nil
	}
	if err != nil {
		return err
	}
	if c.asJSON {
		if rep.Problems == nil {
			rep.Problems = []cache.Problem{}
		}
		if err := printJSON(out, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "%s: %d samples (%d vectors in %d sets, %d generations), %d recorded extraction errors, %d label sets\n",
			c.path, rep.Samples, rep.Vectors, rep.Sets, rep.Generations, rep.Errors, rep.LabelSets)
		for _, p := range rep.Problems {
			fmt.Fprintln(out, "PROBLEM", p)
		}
	}
	if !rep.OK() {
		noun := "problems"
		if len(rep.Problems) == 1 {
			noun = "problem"
		}
		return fmt.Errorf("%s: %d %s found", c.path, len(rep.Problems), noun)
	}
	if !c.asJSON {
		fmt.Fprintln(out, "ok")
	}
	return nil
}

// cacheExportCmd is `asvp cache export`.
type cacheExportCmd struct {
	set    setFlags
	format string
	out    string
	gen    int
}

func (c *cacheExportCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "without --set: dataset `spec` of the feature set (default: the cache's only dataset)")
	fs.IntVar(&c.gen, "gen", -1, "`generation` to export (-1: the newest complete one, as select uses; never a simulation's)")
	fs.StringVar(&c.format, "format", "", "npy, csv or parquet (default: from the --out extension)")
	fs.StringVar(&c.out, "out", "", "output `file` (required); npy also writes FILE.ids.txt (for f.npy: f.npy.ids.txt), one sample ID per line in row order")
}

func (c *cacheExportCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache, "out", c.out); err != nil {
		return err
	}
	if c.gen < -1 {
		return fmt.Errorf("--gen %d: want a generation (0 or more), or -1 for the newest complete one: %w", c.gen, errUsage)
	}
	if err := c.set.check(); err != nil {
		return err
	}
	if c.format == "" {
		switch {
		case strings.HasSuffix(c.out, ".npy"):
			c.format = cache.FormatNPY
		case strings.HasSuffix(c.out, ".csv"):
			c.format = cache.FormatCSV
		case strings.HasSuffix(c.out, ".parquet"):
			c.format = formatParquet
		default:
			return fmt.Errorf("--format not given and %s ends in none of .npy, .csv, .parquet: %w", c.out, errUsage)
		}
	}
	if c.format != cache.FormatNPY && c.format != cache.FormatCSV && c.format != formatParquet {
		return fmt.Errorf("--format %q: want npy, csv or parquet: %w", c.format, errUsage)
	}
	return noArgs(fs.Args())
}

func (c *cacheExportCmd) run(_ context.Context, out, _ io.Writer) error {
	return readCache(c.set.cache, func(db *cache.DB) error {
		var s *cache.Set
		var err error
		s, err = db.FindSet(c.set.dataset(), c.set.output)
		if err != nil {
			return err
		}
		// Without --gen, the rule select follows: generations
		// above 0 count once their writer marked them complete, which a
		// simulation's never are (they are its working state).
		gen := c.gen
		if gen < 0 {
			if gen, err = s.PickGeneration(-1); err != nil {
				return err
			}
		}
		m, err := s.ReadMatrix(gen)
		if err != nil {
			return err
		}
		if err := atomicfile.Write(c.out, func(w io.Writer) error {
			if c.format == formatParquet {
				return embeddings.WriteParquet(m, w)
			}
			return cache.ExportMatrix(m, c.format, w)
		}); err != nil {
			return err
		}
		note := ""
		if c.format == cache.FormatNPY {
			if err := atomicfile.Write(c.out+".ids.txt", func(w io.Writer) error { return cache.WriteIDs(m, w) }); err != nil {
				return err
			}
			note = fmt.Sprintf(" (IDs in %s.ids.txt)", c.out)
		}
		fmt.Fprintf(out, "wrote %d x %d features of set %s generation %d to %s%s\n", m.Rows, m.Cols, s.ShortKey(), gen, c.out, note)
		return nil
	})
}

// formatParquet is cache export's Parquet format: an id column and a list
// of float32 per row (embeddings.WriteParquet).
const formatParquet = "parquet"

// cacheMergeCmd is `asvp cache merge`.
type cacheMergeCmd struct {
	out string
	in  []string
}

func (c *cacheMergeCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.out, "out", "", "new cache `file` to create (required; must not exist)")
}

func (c *cacheMergeCmd) validate(fs *flag.FlagSet) error {
	if c.out == "" || fs.NArg() < 1 {
		return fmt.Errorf("usage: asvp cache merge --out FILE IN1 [IN2 ...]: %w", errUsage)
	}
	if _, err := os.Stat(c.out); err == nil {
		return fmt.Errorf("%s exists: merge writes a new file: %w", c.out, errUsage)
	}
	c.in = fs.Args()
	return nil
}

func (c *cacheMergeCmd) run(_ context.Context, out, _ io.Writer) (err error) {
	var srcs []*cache.DB
	defer func() {
		for _, s := range srcs {
			if cerr := s.Close(); err == nil {
				err = cerr
			}
		}
	}()
	for _, in := range c.in {
		db, err := cache.Open(in, &cache.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		srcs = append(srcs, db)
	}
	dst, err := cache.Open(c.out, nil)
	if err != nil {
		return err
	}
	err = cache.Merge(dst, srcs...)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(c.out) // a failed merge leaves a partial file: do not keep it
		return err
	}
	fmt.Fprintf(out, "merged %d caches into %s\n", len(srcs), c.out)
	return nil
}

// cacheErrorsCmd is `asvp cache errors`.
type cacheErrorsCmd struct {
	set    setFlags
	gen    int
	asJSON bool
}

func (c *cacheErrorsCmd) flags(fs *flag.FlagSet) {
	c.set.register(fs, "")
	fs.IntVar(&c.gen, "gen", 0, "`generation` whose failures to list (0: the extraction's)")
	fs.BoolVar(&c.asJSON, "json", false, "print a JSON array of {id, path, reason} instead of lines")
}

func (c *cacheErrorsCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.set.cache); err != nil {
		return err
	}
	if c.gen < 0 {
		return fmt.Errorf("--gen %d must be 0 or more (usage: asvp cache errors --cache FILE [--data SPEC] [--output NAME] [--gen N] [--json]): %w", c.gen, errUsage)
	}
	return noArgs(fs.Args())
}

func (c *cacheErrorsCmd) run(_ context.Context, out, _ io.Writer) error {
	var errs []cache.SampleError
	err := readCache(c.set.cache, func(db *cache.DB) error {
		set, err := db.FindSet(c.set.dataset(), c.set.output)
		if err != nil {
			return err
		}
		errs, err = set.Errors(c.gen)
		return err
	})
	if err != nil {
		return err
	}
	if c.asJSON {
		if errs == nil {
			errs = []cache.SampleError{}
		}
		return printJSON(out, errs)
	}
	// One line per sample, three fields: a tab or line break inside a field
	// (a file name may hold one) is shown as a space; --json keeps it.
	flat := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	for _, e := range errs {
		if _, err := fmt.Fprintf(out, "%s\t%s\t%s\n", flat.Replace(e.ID), flat.Replace(e.Path), flat.Replace(e.Reason)); err != nil {
			return err
		}
	}
	return nil
}
