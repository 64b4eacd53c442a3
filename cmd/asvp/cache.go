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

// runCache runs `asvp cache ls|verify|export|merge`.
func runCache(args []string, stdout, stderr io.Writer) error {
	const sub = "ls, verify, export or merge"
	if len(args) == 0 {
		return fmt.Errorf("cache needs a subcommand: %s: %w", sub, errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, "usage: asvp cache ls|verify|export|merge [flags]   (asvp cache SUB -h for its flags)\n")
		return nil
	case "ls":
		return runCacheLs(args[1:], stdout, stderr)
	case "verify":
		return runCacheVerify(args[1:], stdout, stderr)
	case "export":
		return runCacheExport(args[1:], stdout, stderr)
	case "merge":
		return runCacheMerge(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown cache subcommand %q (want %s): %w", args[0], sub, errUsage)
}

// cacheParseFlags parses fs and turns flag errors into usage errors.
func cacheParseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	return nil
}

// genListing is one generation in `asvp cache ls --json`.
type genListing struct {
	cache.GenInfo
	Samples int `json:"samples"`
	Errors  int `json:"errors"`
}

// setListing is one feature set in `asvp cache ls --json`.
type setListing struct {
	cache.SetInfo
	Generations []genListing `json:"generations"`
}

func runCacheLs(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cache ls", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := cacheParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *path == "" || fs.NArg() != 0 {
		return fmt.Errorf("usage: asvp cache ls --cache FILE [--json]: %w", errUsage)
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
			sl.Generations = append(sl.Generations, genListing{GenInfo: g, Samples: n, Errors: e})
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%d\t%d\t%s\n",
				sl.Key[:12], sl.Model, sl.Output, sl.Dataset, shard, g.N, g.Source, g.Dim, sl.DType,
				g.Samples, g.Errors, g.Created.Local().Format(time.DateTime))
		}
	}
	if len(listing) == 0 {
		fmt.Fprintln(tw, "(no feature sets)")
	}
	return tw.Flush()
}

func runCacheVerify(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cache verify", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := cacheParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *path == "" || fs.NArg() != 0 {
		return fmt.Errorf("usage: asvp cache verify --cache FILE [--json]: %w", errUsage)
	}
	db, err := cache.Open(*path, &cache.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := cache.Verify(db)
	if err != nil {
		return err
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
	fs := newFlagSet("cache export", stderr)
	path := fs.String("cache", "", "cache `file` (required)")
	key := fs.String("set", "", "feature set `key` or unique prefix of at least 8 hex digits (required)")
	gen := fs.Int("gen", -1, "`generation` to export (-1: the latest)")
	format := fs.String("format", "", "npy or csv (default: from the --out extension)")
	out := fs.String("out", "", "output `file` (required); npy also writes FILE.ids.txt, one sample ID per line in row order")
	if err := cacheParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *path == "" || *key == "" || *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("usage: asvp cache export --cache FILE --set KEY [--gen N] [--format npy|csv] --out FILE: %w", errUsage)
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
	s, err := db.Set(*key)
	if err != nil {
		return err
	}
	if *gen < 0 {
		g, err := s.Latest()
		if err != nil {
			return err
		}
		*gen = g.N
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
	fs := newFlagSet("cache merge", stderr)
	out := fs.String("out", "", "new cache `file` to create (required; must not exist)")
	if err := cacheParseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *out == "" || fs.NArg() < 1 {
		return fmt.Errorf("usage: asvp cache merge --out FILE IN1 [IN2 ...]: %w", errUsage)
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
