package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/report"
	"github.com/asvp-dev/asvp/selector"
	"github.com/asvp-dev/asvp/simulate"
)

// simulateCmd is `asvp simulate`.
type simulateCmd struct {
	cache, pool, test, output        string
	pipelines, strategy, proxy, name string
	out, switchMode                  string
	beta, target                     float64
	proxyEpochs, init, budget        int
	rounds, seeds, ftEpochs          int
	tuneEpochs, tuneSampleEpochs     int
	poolLimit                        int
	shard                            string
	shardI, shardN                   int
	costs                            simulate.CostConfig
	extractSec                       float64
	ind                              realign.IndicatorConfig
	rf                               runFlags
}

func (c *simulateCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.cache, "cache", "", "cache file holding the pool and test features and their oracle labels (required)")
	fs.StringVar(&c.pool, "pool", "", "dataset spec of the pool, as given to extract, e.g. fashion-mnist:train (required)")
	fs.StringVar(&c.test, "test", "", "dataset spec of the test set, e.g. fashion-mnist:test (required)")
	fs.StringVar(&c.output, "output", "", "backbone output name of the feature sets (needed when a dataset has several)")
	fs.StringVar(&c.pipelines, "pipelines", strings.Join(simulate.PipelineNames(), ","), "pipelines to run, comma-separated: random, standard, svpp, asvp")
	fs.StringVar(&c.strategy, "strategy", "margin", "selection strategy: "+strings.Join(selector.StrategyNames(), ", "))
	fs.Float64Var(&c.beta, "beta", 1, "power-sampling exponent of margin-power and entropy-power")
	fs.StringVar(&c.proxy, "proxy", "mlp", "proxy of svpp and asvp: mlp or linear")
	fs.IntVar(&c.proxyEpochs, "proxy-epochs", 0, "proxy epochs (mlp) or L-BFGS iterations (linear); 0: the proxy's default")
	fs.IntVar(&c.init, "init", 100, "size of the initial random batch")
	fs.IntVar(&c.budget, "budget", 100, "labels bought per round")
	fs.IntVar(&c.rounds, "rounds", 10, "selection rounds after the initial batch")
	fs.IntVar(&c.seeds, "seeds", 3, "number of seeds (1..K)")
	fs.StringVar(&c.out, "out", "", "directory for the report (required)")
	fs.StringVar(&c.name, "name", "", "simulation name; its records live in the cache under it (default: derived from the settings)")
	fs.Float64Var(&c.costs.PriceLabel, "price-label", simulate.DefaultPriceLabel, "USD per label")
	fs.Float64Var(&c.costs.PriceHour, "price-hour", simulate.DefaultPriceHour, "USD per compute hour (default: a cloud GPU)")
	fs.Float64Var(&c.costs.PriceFinetune, "price-finetune", 0, "USD per fine-tune of the real model: project compute cost per event instead of measuring (0: measure)")
	fs.Float64Var(&c.costs.PriceExtract, "price-extract", 0, "USD per full feature extraction, with --price-finetune (0: none)")
	fs.Float64Var(&c.extractSec, "extract-seconds", -1, "seconds the pool's feature extraction took, charged to svpp and asvp (default: the cache's extraction record, else 0)")
	fs.Float64Var(&c.target, "target-acc", 0, "accuracy for the labels-to-target column (0: random's final mean accuracy)")
	indicatorFlags(fs, &c.ind)
	fs.StringVar(&c.switchMode, "switch", realign.SwitchAuto, "asvp final-model method: auto (lpft before the first re-alignment, ft after), lpft, ft or lp")
	fs.IntVar(&c.tuneEpochs, "tune-epochs", 0, "epochs of every fine-tune of the backbone's tail (and of each LP-FT stage); 0: scaled to the labels (--tune-sample-epochs)")
	fs.IntVar(&c.tuneSampleEpochs, "tune-sample-epochs", finetune.DefaultRecipe(finetune.MethodFT).SampleEpochs, "labels x epochs a fine-tune stage aims at when --tune-epochs is 0 (so its cost stays about constant as labels grow)")
	fs.IntVar(&c.ftEpochs, "ft-epochs", 0, "features-only mode (no cached activations): epochs of the network trained on the frozen features; 0: the nn defaults")
	fs.IntVar(&c.poolLimit, "pool-limit", 0, "use a random subset of N pool samples (fixed seed 0, the same for every pipeline and seed; 0: all)")
	fs.StringVar(&c.shard, "shard", "", "run part i/n only: of the (pipeline, seed) units, in the order pipelines x seeds, units i, i+n, i+2n, ...; each part needs its own copy of the cache and writes only OUT/results.json, which `asvp report` joins")
	c.rf.register(fs, "selection goroutines (0: all CPUs); results do not depend on it")
	fs.Lookup("workers").DefValue, c.rf.workers = "0", 0
}

func (c *simulateCmd) validate(fs *flag.FlagSet) error {
	if err := noArgs(fs.Args()); err != nil {
		return err
	}
	if err := required("cache", c.cache, "pool", c.pool, "test", c.test, "out", c.out); err != nil {
		return err
	}
	k := c.costs
	if c.seeds < 1 || c.poolLimit < 0 || k.PriceLabel < 0 || k.PriceHour < 0 || k.PriceFinetune < 0 || k.PriceExtract < 0 {
		return fmt.Errorf("--seeds must be >= 1, --pool-limit and prices non-negative: %w", errUsage)
	}
	var err error
	if c.shardI, c.shardN, err = parseShard(c.shard); err != nil {
		return err
	}
	if err := c.ind.Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	if err := (realign.SwitchConfig{Mode: c.switchMode}).Validate(); err != nil {
		return fmt.Errorf("%v: %w", err, errUsage)
	}
	return nil
}

// config is the simulation the flags describe.
func (c *simulateCmd) config(log io.Writer) simulate.Config {
	cfg := simulate.Config{
		Name: c.name, Strategy: c.strategy, StrategyOptions: selector.StrategyOptions{Beta: c.beta},
		Proxy: selector.DefaultProxyConfig(c.proxy), Init: c.init, Budget: c.budget, Rounds: c.rounds,
		Indicator: c.ind, Switch: realign.SwitchConfig{Mode: c.switchMode},
		FT: nn.DefaultRecipe(nn.MethodFT), LPFT: nn.DefaultRecipe(nn.MethodLPFT), Workers: c.rf.workers,
		Tune: finetune.DefaultRecipe(finetune.MethodFT), Shard: c.shardI, Shards: c.shardN,
	}
	cfg.Tune.Epochs, cfg.Tune.SampleEpochs = c.tuneEpochs, c.tuneSampleEpochs
	for _, p := range strings.Split(c.pipelines, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Pipelines = append(cfg.Pipelines, p)
		}
	}
	for s := range c.seeds {
		cfg.Seeds = append(cfg.Seeds, uint64(s+1))
	}
	if c.proxyEpochs > 0 {
		cfg.Proxy.Epochs = c.proxyEpochs
	}
	if c.ftEpochs > 0 {
		cfg.FT.Epochs, cfg.LPFT.Epochs, cfg.LPFT.LPEpochs = c.ftEpochs, c.ftEpochs, c.ftEpochs
	}
	if log != nil {
		cfg.Progress = func(r simulate.RoundRecord, resumed bool) {
			note := ""
			if resumed {
				note = " (stored)"
			}
			s := r.Seconds
			extra := ""
			if r.Indicator != nil {
				extra = fmt.Sprintf(", logme %.4f re-align %v", r.Indicator.Value, r.Indicator.Update)
			}
			fmt.Fprintf(log, "simulate: %-8s seed %d round %2d: %5d labels, acc %.4f, %.2fs (proxy %.2f, select %.2f, finetune %.2f, realign %.2f, eval %.2f), %s%s%s\n",
				r.Pipeline, r.Seed, r.Round, r.Labels, r.Accuracy, s.SelectionSeconds()+s.EvalTrain, s.ProxyTrain, s.Select, s.Finetune, s.Realign, s.EvalTrain, r.Method, extra, note)
		}
	}
	return cfg
}

func (c *simulateCmd) run(ctx context.Context, out, log io.Writer) error {
	costs := c.costs
	costs.ExtractSeconds = c.extractSec
	res, err := loop.Simulate(ctx, loop.SimulateOptions{
		Cache: c.cache, Pool: c.pool, Test: c.test, Output: c.output, Config: c.config(c.rf.log(log)),
		PoolLimit: c.poolLimit, Costs: costs, TargetAccuracy: c.target, Out: c.out, Log: c.rf.log(log), ModelFor: backboneOf,
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w (finished rounds are stored: rerun the same command to resume)", err)
		}
		return err
	}
	if c.rf.quiet { // said on the log as they were found otherwise
		for _, w := range res.Warnings {
			fmt.Fprintf(log, "simulate: warning: %s\n", w)
		}
	}
	if c.shardN > 1 {
		fmt.Fprintf(out, "part %d/%d of simulation %s: %s (join every part's with asvp report)\n", c.shardI, c.shardN, res.Name, res.Files.JSON)
		return nil
	}
	printSummary(out, res.Summary)
	fmt.Fprintf(out, "\nreport: %s\n", res.Files.HTML)
	return nil
}

// printSummary writes the per-pipeline table of a simulation.
func printSummary(w io.Writer, sum *simulate.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline\tfinal acc\t± std\tAUC\tSSR\tlabels\tlabeling $\tcompute $\ttotal $\tvs standard $\tvs svpp $\tlabels to target\ttotal $ to target\t")
	for _, ps := range sum.Pipelines {
		f := ps.Final
		toL, toUSD := "n/a", "n/a"
		if t := ps.AtTarget; t != nil {
			toL, toUSD = fmt.Sprintf("%.0f", t.Labels), fmt.Sprintf("%.2f", t.TotalUSD)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%s\t%d\t%.2f\t%.4f\t%.2f\t%s\t%s\t%s\t%s\t\n", ps.Pipeline, f.AccMean, f.AccStd, ps.AUC,
			report.FormatOpt(f.SSR, "%.3f"), f.Labels, f.LabelingUSD, f.ComputeUSD, f.TotalUSD, savingUSD(f.VsStandard), savingUSD(f.VsSVPP), toL, toUSD)
	}
	tw.Flush()
	if sum.Target != nil {
		fmt.Fprintf(w, "target accuracy %.4f (random's final mean unless --target-acc); SSR and savings: n/a where undefined\n", *sum.Target)
	}
}

func savingUSD(s *simulate.Saving) string {
	if s == nil {
		return "-"
	}
	return report.FormatOpt(s.USD, "%+.2f")
}
