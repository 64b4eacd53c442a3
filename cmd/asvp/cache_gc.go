package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/asvp-dev/asvp/cache"
)

// cacheGCCmd is `asvp cache gc`.
type cacheGCCmd struct {
	path            string
	dryRun, compact bool
}

func (c *cacheGCCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "cache", "", "cache `file` (required)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "change nothing: say which sets would be dropped and how many bytes that frees")
	fs.BoolVar(&c.compact, "compact", false, "then rewrite the file compacted, so that it shrinks (bbolt reuses freed pages but never shrinks a file)")
}

func (c *cacheGCCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.path); err != nil {
		return err
	}
	if c.dryRun && c.compact {
		return fmt.Errorf("--dry-run and --compact: a dry run changes nothing: %w", errUsage)
	}
	return noArgs(fs.Args())
}

// gcOutput is what `asvp cache gc` prints.
type gcOutput struct {
	cache.GCResult
	SizeBefore int64 `json:"file_bytes_before,omitempty"`
	SizeAfter  int64 `json:"file_bytes_after,omitempty"`
}

func (c *cacheGCCmd) run(_ context.Context, out, log io.Writer) error {
	db, err := cache.Open(c.path, &cache.Options{ReadOnly: c.dryRun})
	if err != nil {
		return err
	}
	res, err := db.GC(c.dryRun)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	o := gcOutput{GCResult: res}
	verb := "dropped"
	if c.dryRun {
		verb = "would drop"
	}
	fmt.Fprintf(log, "cache gc: %s %d feature sets, %d bytes\n", verb, len(res.Sets), res.Bytes)
	if c.compact {
		if o.SizeBefore, o.SizeAfter, err = cache.Compact(c.path); err != nil {
			return err
		}
		fmt.Fprintf(log, "cache gc: compacted %s from %d to %d bytes\n", c.path, o.SizeBefore, o.SizeAfter)
	} else if !c.dryRun && len(res.Sets) > 0 {
		fmt.Fprintf(log, "cache gc: the file keeps its size (its freed pages are reused); --compact shrinks it\n")
	}
	return printJSON(out, o)
}

// cacheMigrateCmd is `asvp cache migrate`.
type cacheMigrateCmd struct{ path string }

func (c *cacheMigrateCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.path, "cache", "", "cache `file` (required)")
}

func (c *cacheMigrateCmd) validate(fs *flag.FlagSet) error {
	if err := required("cache", c.path); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

func (c *cacheMigrateCmd) run(_ context.Context, out, log io.Writer) error {
	db, err := cache.Open(c.path, nil)
	if err != nil {
		return err
	}
	m := db.Migrated()
	if err := db.Close(); err != nil {
		return err
	}
	if m == nil {
		fmt.Fprintf(log, "cache migrate: %s is already in format %d\n", c.path, cache.FormatVersion)
		return printJSON(out, map[string]any{"cache": c.path, "format": cache.FormatVersion, "migrated": false})
	}
	fmt.Fprintf(log, "cache migrate: %s from format %d to %d; the old file is %s\n", c.path, m.From, cache.FormatVersion, m.Backup)
	return printJSON(out, map[string]any{"cache": c.path, "format": cache.FormatVersion, "migrated": true, "from": m.From, "backup": m.Backup, "specs": m.Specs})
}
