package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/loop"
)

// extractCmd is `asvp extract`.
type extractCmd struct {
	model                 modelFlags
	data, outputs, cache  string
	limit, batch, threads int
	shard, onError, dtype string
	tuneFrom, actDType    string
	rf                    runFlags
	shardI, shardN        int
}

func (c *extractCmd) flags(fs *flag.FlagSet) {
	c.model.register(fs)
	fs.StringVar(&c.data, "data", "", "dataset spec: fashion-mnist:train|test, idx:DIR[:PREFIX], folder:DIR, csv:FILE (required)")
	fs.StringVar(&c.outputs, "output", "", "backbone outputs to store, comma-separated (default: the card's default output)")
	fs.StringVar(&c.cache, "cache", "", "cache file to fill (required)")
	fs.IntVar(&c.limit, "limit", 0, "extract only the first N samples in dataset order (0: all)")
	fs.IntVar(&c.batch, "batch", 32, "images per ONNX Runtime call")
	fs.IntVar(&c.threads, "threads", 0, "ONNX Runtime intra-op threads (0: runtime default)")
	fs.StringVar(&c.shard, "shard", "", "fill shard i/n only: the i-th of n contiguous slices of the (limited) dataset")
	fs.StringVar(&c.onError, "on-error", "skip", "bad image: skip (record it, go on) or fail (stop)")
	fs.StringVar(&c.dtype, "dtype", "float32", "storage type: float32 or float16")
	fs.StringVar(&c.tuneFrom, "tune-from", "", "cut of the built-in fine-tuning: a node or tensor of the ONNX graph whose activation (and the tail's frozen inputs) is cached beside the features, so that finetune can train the tail above it (default: the card's, block_12_add for the default backbone; none: cache no activations)")
	fs.StringVar(&c.actDType, "activations-dtype", "float16", "storage type of the cached activations: float16 or float32")
	c.rf.register(fs, "goroutines decoding and resizing images")
}

func (c *extractCmd) validate(fs *flag.FlagSet) error {
	if err := required("data", c.data, "cache", c.cache); err != nil {
		return err
	}
	if c.onError != "skip" && c.onError != "fail" {
		return fmt.Errorf("--on-error %q: want skip or fail: %w", c.onError, errUsage)
	}
	for _, f := range []struct{ name, v string }{{"dtype", c.dtype}, {"activations-dtype", c.actDType}} {
		if f.v != "float32" && f.v != "float16" {
			return fmt.Errorf("--%s %q: want float32 or float16: %w", f.name, f.v, errUsage)
		}
	}
	var err error
	if c.shardI, c.shardN, err = parseShard(c.shard); err != nil {
		return err
	}
	return noArgs(fs.Args())
}

// parseShard reads "i/n" with 0 <= i < n; "" is the whole, 0/1.
func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 <= i < n: %w", s, errUsage)
	}
	return i, n, nil
}

func (c *extractCmd) run(ctx context.Context, out, log io.Writer) error {
	ds, err := datasets.Open(c.data, datasetOptions())
	if err != nil {
		return err
	}
	rt, err := openRuntime(c.model.ortLib)
	if err != nil {
		return err
	}
	defer rt.Close()
	card, path, err := c.model.resolve()
	if err != nil {
		return err
	}
	var outs []string
	if c.outputs != "" {
		outs = strings.Split(c.outputs, ",")
	}
	tuneFrom := c.tuneFrom
	switch tuneFrom {
	case "":
		tuneFrom = card.TuneFrom
	case "none":
		tuneFrom = ""
	}
	res, err := loop.Extract(ctx, rt, loop.ExtractOptions{
		Cache: c.cache, Dataset: ds, Card: card, ModelPath: path, Outputs: outs, Limit: c.limit,
		Shard: c.shardI, Shards: c.shardN, DType: c.dtype, TuneFrom: tuneFrom, ActivationsDType: c.actDType,
		Session: extractor.SessionOptions{IntraOpThreads: c.threads},
		Run:     extractor.Config{BatchSize: c.batch, Workers: c.rf.workers, OnError: c.onError, Progress: c.rf.log(log)},
		Log:     log,
	})
	if err != nil {
		return err
	}
	return printJSON(out, res)
}
