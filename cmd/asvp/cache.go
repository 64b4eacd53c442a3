package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/internal/atomicfile"
)

// cacheCommand is one `asvp cache` subcommand: its name, its arguments as
// a usage line shows them, a one-line summary and its runner.
type cacheCommand struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) error
}

func cacheCommands() []cacheCommand {
	return []cacheCommand{
		{"ls", "--cache FILE [--json]",
			"list the feature sets and their generations: source (simulation generations marked), dimension, sample and error counts",
			runCacheLs},
		{"verify", "--cache FILE [--json]",
			"check the file's structure and every record, label and count; exit status 1 on any problem",
			runCacheVerify},
		{"export", "--cache FILE [--set KEY | --data SPEC [--output NAME]] [--gen N] [--format npy|csv] --out FILE",
			"write one generation's features as NumPy .npy (IDs in FILE.ids.txt) or CSV; by default the generation select uses",
			runCacheExport},
		{"errors", "--cache FILE [--data SPEC] [--output NAME] [--gen N] [--json]",
			"list the samples whose extraction failed, with their paths and reasons",
			runCacheErrors},
		{"merge", "--out FILE IN1 [IN2 ...]",
			"join shard files into a new cache; conflicting vectors are an error naming the sample",
			runCacheMerge},
	}
}

// runCache runs `asvp cache SUB`.
func runCache(args []string, stdout, stderr io.Writer) error {
	var names []string
	for _, c := range cacheCommands() {
		names = append(names, c.name)
	}
	sub := strings.Join(names, ", ")
	if len(args) == 0 {
		return fmt.Errorf("cache needs a subcommand: %s: %w", sub, errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, "usage: asvp cache %s [flags]   (asvp cache SUB -h for its flags)\n\nsubcommands:\n", strings.Join(names, "|"))
		for _, c := range cacheCommands() {
			fmt.Fprintf(stdout, "  %-7s %s\n", c.name, c.summary)
		}
		return nil
	}
	for _, c := range cacheCommands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	return fmt.Errorf("unknown cache subcommand %q (want %s): %w", args[0], sub, errUsage)
}

// cacheFlagSet returns the flag set of `asvp cache name`, whose -h shows
// that subcommand's usage line and summary.
func cacheFlagSet(name string, stderr io.Writer) (*flag.FlagSet, cacheCommand) {
	var c cacheCommand
	for _, cc := range cacheCommands() {
		if cc.name == name {
			c = cc
		}
	}
	fs := newFlagSet("cache "+name, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: asvp cache %s %s\n\n%s\n\nflags:\n", c.name, c.args, c.summary)
		fs.PrintDefaults()
	}
	return fs, c
}

// usage is the usage error of c.
func (c cacheCommand) usage() error {
	return fmt.Errorf("usage: asvp cache %s %s: %w", c.name, c.args, errUsage)
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

func runCacheLs(args []string, stdout, stderr io.Writer) error {
	fs, cmd := cacheFlagSet("ls", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() != 0 {
		return cmd.usage()
	}
	db, err := cache.Open(*path, &cache.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	infos, err := db.Sets()
	if err != nil {
		return err
	}
	listing := []setListing{}
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
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(listing)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\t%d\t%s\n",
				sl.Key[:12], sl.Model, sl.Output, sl.Dataset, shard, g.N, source, g.Dim, sl.DType,
				g.Samples, g.Errors, g.Created.Local().Format(time.DateTime))
		}
	}
	if len(listing) == 0 {
		fmt.Fprintln(tw, "(no feature sets)")
	}
	return tw.Flush()
}

func runCacheVerify(args []string, stdout, stderr io.Writer) error {
	fs, cmd := cacheFlagSet("verify", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() != 0 {
		return cmd.usage()
	}
	var rep cache.Report
	db, err := cache.Open(*path, &cache.Options{ReadOnly: true})
	switch {
	case errors.Is(err, cache.ErrCorrupt):
		// Damaged beyond opening: that is the verdict, reported as a problem.
		rep.Problems = []cache.Problem{{Gen: -1, Msg: strings.TrimPrefix(err.Error(), "cache: ")}}
	case err != nil:
		return err
	default:
		defer db.Close()
		if rep, err = cache.Verify(db); err != nil {
			return err
		}
	}
	if *asJSON {
		if rep.Problems == nil {
			rep.Problems = []cache.Problem{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s: %d sets, %d generations, %d samples, %d recorded extraction errors, %d label sets\n",
			*path, rep.Sets, rep.Generations, rep.Samples, rep.Errors, rep.LabelSets)
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, "PROBLEM", p)
		}
	}
	if !rep.OK() {
		return fmt.Errorf("%s: %d problems found", *path, len(rep.Problems))
	}
	if !*asJSON {
		fmt.Fprintln(stdout, "ok")
	}
	return nil
}

func runCacheExport(args []string, stdout, stderr io.Writer) error {
	fs, cmd := cacheFlagSet("export", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	key := fs.String("set", "", "feature set `key` or unique prefix of at least 8 hex digits (default: the set of --data and --output)")
	data := fs.String("data", "", "without --set: dataset `spec` of the feature set (default: the cache's only dataset)")
	output := fs.String("output", "", "without --set: backbone `output` of the feature set (needed when the dataset has several)")
	gen := fs.Int("gen", -1, "`generation` to export (-1: the newest complete one, as select and finetune use; never a simulation's)")
	format := fs.String("format", "", "npy or csv (default: from the --out extension)")
	out := fs.String("out", "", "output `file` (required); npy also writes FILE.ids.txt (for f.npy: f.npy.ids.txt), one sample ID per line in row order")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *out == "" || fs.NArg() != 0 {
		return cmd.usage()
	}
	if *key != "" && (*data != "" || *output != "") {
		return fmt.Errorf("give either --set or --data/--output, not both: %w", errUsage)
	}
	if *format == "" {
		switch {
		case strings.HasSuffix(*out, ".npy"):
			*format = cache.FormatNPY
		case strings.HasSuffix(*out, ".csv"):
			*format = cache.FormatCSV
		default:
			return fmt.Errorf("--format not given and %s ends in neither .npy nor .csv: %w", *out, errUsage)
		}
	}
	if *format != cache.FormatNPY && *format != cache.FormatCSV {
		return fmt.Errorf("--format %q: want npy or csv: %w", *format, errUsage)
	}
	db, err := cache.Open(*path, &cache.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	var s *cache.Set
	if *key != "" {
		s, err = db.Set(*key)
	} else {
		s, _, err = resolveSet(db, *data, *output)
	}
	if err != nil {
		return err
	}
	if *gen < 0 {
		// The rule select and finetune follow: generations above 0 count
		// once their writer marked them complete, which a simulation's
		// never are (they are its working state).
		if *gen, err = pickGen(db, s, -1); err != nil {
			return err
		}
	}
	m, err := s.ReadMatrix(*gen)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(*out, func(w io.Writer) error { return cache.ExportMatrix(m, *format, w) }); err != nil {
		return err
	}
	if *format == cache.FormatNPY {
		if err := atomicfile.Write(*out+".ids.txt", func(w io.Writer) error { return cache.WriteIDs(m, w) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d x %d features of set %s generation %d to %s (IDs in %s.ids.txt)\n", m.Rows, m.Cols, s.Key()[:12], *gen, *out, *out)
		return nil
	}
	fmt.Fprintf(stdout, "wrote %d x %d features of set %s generation %d to %s\n", m.Rows, m.Cols, s.Key()[:12], *gen, *out)
	return nil
}

func runCacheMerge(args []string, stdout, stderr io.Writer) error {
	fs, cmd := cacheFlagSet("merge", stderr)
	out := fs.String("out", "", "new cache `file` to create (required; must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() < 1 {
		return cmd.usage()
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists: merge writes a new file: %w", *out, errUsage)
	}
	var srcs []*cache.DB
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	for _, in := range fs.Args() {
		db, err := cache.Open(in, &cache.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		srcs = append(srcs, db)
	}
	dst, err := cache.Open(*out, nil)
	if err != nil {
		return err
	}
	err = cache.Merge(dst, srcs...)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out) // a failed merge leaves a partial file: do not keep it
		return err
	}
	fmt.Fprintf(stdout, "merged %d caches into %s\n", len(srcs), *out)
	return nil
}

func runCacheErrors(args []string, stdout, stderr io.Writer) error {
	fs, cmd := cacheFlagSet("errors", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	data := fs.String("data", "", "dataset `spec` of the feature set, as given to extract (default: the cache's only dataset)")
	output := fs.String("output", "", "backbone `output` of the feature set (needed when the dataset has several)")
	gen := fs.Int("gen", 0, "`generation` whose failures to list (0: the extraction's)")
	asJSON := fs.Bool("json", false, "print a JSON array of {id, path, reason} instead of lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *gen < 0 || fs.NArg() != 0 {
		return cmd.usage()
	}
	db, err := cache.Open(*path, &cache.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	set, _, err := resolveSet(db, *data, *output)
	if err != nil {
		return err
	}
	errs, err := set.Errors(*gen)
	if err != nil {
		return err
	}
	if *asJSON {
		if errs == nil {
			errs = []cache.SampleError{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(errs)
	}
	// One line per sample, three fields: a tab or line break inside a field
	// (a file name may hold one) is shown as a space; --json keeps it.
	flat := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	for _, e := range errs {
		if _, err := fmt.Fprintf(stdout, "%s\t%s\t%s\n", flat.Replace(e.ID), flat.Replace(e.Path), flat.Replace(e.Reason)); err != nil {
			return err
		}
	}
	return nil
}
