package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/report"
	"github.com/asvp-dev/asvp/selector"
)

// simExtractRecordNS is the record namespace where an extraction may leave its
// timing, keyed by feature-set key, as JSON with a "seconds" field; the
// simulator charges it to svpp and asvp when --extract-seconds is not given.
const simExtractRecordNS = "extract"

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", stderr)
	cachePath := fs.String("cache", "", "cache file holding the pool and test features and their oracle labels (required)")
	poolSpec := fs.String("pool", "", "dataset spec of the pool, as given to extract, e.g. fashion-mnist:train (required)")
	testSpec := fs.String("test", "", "dataset spec of the test set, e.g. fashion-mnist:test (required)")
	output := fs.String("output", "", "backbone output name of the feature sets (needed when a dataset has several)")
	pipelines := fs.String("pipelines", strings.Join(selector.PipelineNames(), ","), "pipelines to run, comma-separated: random, standard, svpp, asvp")
	strategy := fs.String("strategy", "margin", "selection strategy: "+strings.Join(selector.StrategyNames(), ", "))
	beta := fs.Float64("beta", 1, "power-sampling exponent of margin-power and entropy-power")
	proxyKind := fs.String("proxy", "mlp", "proxy of svpp and asvp: mlp or linear")
	proxyEpochs := fs.Int("proxy-epochs", 0, "proxy epochs (mlp) or L-BFGS iterations (linear); 0: the proxy's default")
	initN := fs.Int("init", 100, "size of the initial random batch")
	budget := fs.Int("budget", 100, "labels bought per round")
	rounds := fs.Int("rounds", 10, "selection rounds after the initial batch")
	seeds := fs.Int("seeds", 3, "number of seeds (1..K)")
	outDir := fs.String("out", "", "directory for the report (required)")
	name := fs.String("name", "", "simulation name; records live under sim/NAME in the cache (default: derived from the settings)")
	priceLabel := fs.Float64("price-label", selector.DefaultPriceLabel, "USD per label")
	priceHour := fs.Float64("price-hour", selector.DefaultPriceHour, "USD per compute hour (default: a cloud GPU)")
	priceFT := fs.Float64("price-finetune", 0, "USD per fine-tune of the real model: project compute cost per event instead of measuring (0: measure)")
	priceEx := fs.Float64("price-extract", 0, "USD per full feature extraction, with --price-finetune (0: none)")
	extractSec := fs.Float64("extract-seconds", -1, "seconds the pool's feature extraction took, charged to svpp and asvp (default: the cache's extraction record, else 0)")
	target := fs.Float64("target-acc", 0, "accuracy for the labels-to-target column (0: random's final mean accuracy)")
	defInd := selector.DefaultIndicatorConfig()
	indRule := fs.String("indicator", defInd.Rule, "asvp re-alignment rule: plateau, threshold, every or never")
	patience := fs.Int("patience", defInd.Patience, "plateau: rounds without a LogME gain of --min-gain before re-aligning")
	minGain := fs.Float64("min-gain", defInd.MinGain, "plateau: smallest LogME rise per sample that counts as a gain")
	threshold := fs.Float64("threshold", defInd.Threshold, "threshold: re-align when LogME per sample is below it")
	every := fs.Int("every", defInd.Every, "every: re-align after this many rounds on the same features")
	maxUpdates := fs.Int("max-updates", defInd.MaxUpdates, "most re-alignments per run (0: no cap)")
	minLabels := fs.Int("min-labels", defInd.MinLabels, "no re-alignment below this many labels")
	switchMode := fs.String("switch", selector.SwitchAuto, "asvp final-model method: auto (lpft before the first re-alignment, ft after), lpft, ft or lp")
	ftEpochs := fs.Int("ft-epochs", 0, "epochs of every fine-tune (and of LP-FT's two stages); 0: the nn defaults")
	poolLimit := fs.Int("pool-limit", 0, "use a random subset of N pool samples (fixed seed 0, the same for every pipeline and seed; 0: all)")
	workers := fs.Int("workers", 0, "selection goroutines (0: all CPUs); results do not depend on it")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	if *cachePath == "" || *poolSpec == "" || *testSpec == "" || *outDir == "" {
		return fmt.Errorf("--cache, --pool, --test and --out are required: %w", errUsage)
	}
	if *seeds < 1 || *poolLimit < 0 || *priceLabel < 0 || *priceHour < 0 || *priceFT < 0 || *priceEx < 0 {
		return fmt.Errorf("--seeds must be >= 1, --pool-limit and prices non-negative: %w", errUsage)
	}

	cfg := selector.SimConfig{
		Strategy: *strategy, StrategyOptions: selector.StrategyOptions{Beta: *beta},
		Proxy: selector.DefaultProxyConfig(*proxyKind), Init: *initN, Budget: *budget, Rounds: *rounds,
		Indicator: selector.IndicatorConfig{Rule: *indRule, Patience: *patience, MinGain: *minGain, Threshold: *threshold,
			Every: *every, MaxUpdates: *maxUpdates, MinLabels: *minLabels},
		Switch:  selector.SwitchConfig{Mode: *switchMode},
		FT:      nn.DefaultRecipe(nn.MethodFT),
		LPFT:    nn.DefaultRecipe(nn.MethodLPFT),
		Workers: *workers,
	}
	for _, p := range strings.Split(*pipelines, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.Pipelines = append(cfg.Pipelines, p)
		}
	}
	for s := range *seeds {
		cfg.Seeds = append(cfg.Seeds, uint64(s+1))
	}
	if *proxyEpochs > 0 {
		cfg.Proxy.Epochs = *proxyEpochs
	}
	if *ftEpochs > 0 {
		cfg.FT.Epochs, cfg.LPFT.Epochs, cfg.LPFT.LPEpochs = *ftEpochs, *ftEpochs, *ftEpochs
	}
	for _, err := range []error{cfg.Indicator.Validate(), cfg.Switch.Validate()} {
		if err != nil {
			return fmt.Errorf("%v: %w", err, errUsage)
		}
	}

	db, err := openExistingCache(*cachePath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	pool, err := findSet(db, *poolSpec, *output)
	if err != nil {
		return err
	}
	test, err := findSet(db, *testSpec, *output)
	if err != nil {
		return err
	}
	classes, poolLabels, err := simOracleLabels(db, *poolSpec)
	if err != nil {
		return err
	}
	testClasses, testLabels, err := simOracleLabels(db, *testSpec)
	if err != nil {
		return err
	}
	if !slices.Equal(classes, testClasses) {
		return fmt.Errorf("pool classes %q differ from test classes %q", classes, testClasses)
	}
	data := selector.SimData{DB: db, Pool: pool, Test: test, Classes: classes, PoolLabels: poolLabels, TestLabels: testLabels}
	if *poolLimit > 0 {
		if data.PoolIDs, err = simLimitPool(pool, poolLabels, *poolLimit); err != nil {
			return err
		}
	}
	costs := selector.CostConfig{PriceLabel: *priceLabel, PriceHour: *priceHour, PriceFinetune: *priceFT, PriceExtract: *priceEx}
	costs.ExtractSeconds = max(0, *extractSec)
	if *extractSec < 0 {
		costs.ExtractSeconds = simExtractionSeconds(db, pool.Key())
	}

	cfg.Name = *name
	if cfg.Name == "" {
		cfg.Name = simDefaultName(cfg, pool.Key(), test.Key(), *poolLimit)
	}
	if !*quiet {
		fmt.Fprintf(stderr, "simulate %s: pool %s (%s), test %s (%s), pipelines %s, %d seeds, %d rounds\n",
			cfg.Name, *poolSpec, pool.Key()[:12], *testSpec, test.Key()[:12], strings.Join(cfg.Pipelines, ","), len(cfg.Seeds), cfg.Rounds)
		cfg.Progress = func(r selector.RoundRecord, resumed bool) {
			note := ""
			if resumed {
				note = " (stored)"
			}
			s := r.Seconds
			extra := ""
			if r.Indicator != nil {
				extra = fmt.Sprintf(", logme %.4f re-align %v", r.Indicator.Value, r.Indicator.Update)
			}
			fmt.Fprintf(stderr, "simulate: %-8s seed %d round %2d: %5d labels, acc %.4f, %.2fs (proxy %.2f, select %.2f, finetune %.2f, realign %.2f, eval %.2f), %s%s%s\n",
				r.Pipeline, r.Seed, r.Round, r.Labels, r.Accuracy, s.SelectionSeconds()+s.EvalTrain, s.ProxyTrain, s.Select, s.Finetune, s.Realign, s.EvalTrain, r.Method, extra, note)
		}
	}
	res, err := selector.Simulate(ctx, cfg, data)
	if err != nil {
		if errors.Is(err, selector.ErrSimConfig) || errors.Is(err, selector.ErrUnknownStrategy) || errors.Is(err, selector.ErrUnknownProxyKind) {
			return fmt.Errorf("%v: %w", err, errUsage)
		}
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("%w (finished rounds are stored: rerun the same command to resume)", err)
		}
		return err
	}
	sum := selector.Summarize(res, selector.SummaryOptions{Costs: costs, TargetAccuracy: *target})
	files, err := report.Write(*outDir, res, sum)
	if err != nil {
		return err
	}
	simPrintSummary(stdout, sum)
	fmt.Fprintf(stdout, "\nreport: %s\n", files.HTML)
	return nil
}

// findSet returns the feature set of dataset spec (and output, when given);
// the error lists what the cache holds.
func findSet(db *cache.DB, spec, output string) (*cache.Set, error) {
	infos, err := db.Sets()
	if err != nil {
		return nil, err
	}
	var match []cache.SetInfo
	for _, si := range infos {
		if si.Dataset == spec && (output == "" || si.Output == output) {
			match = append(match, si)
		}
	}
	switch len(match) {
	case 1:
		return db.Set(match[0].Key)
	case 0:
		return nil, fmt.Errorf("no feature set of dataset %q%s in %s; it holds:\n%s", spec, outputNote(output), db.Path(), listSets(infos))
	}
	return nil, fmt.Errorf("%d feature sets of dataset %q%s in %s; pick one with --output:\n%s: %w", len(match), spec, outputNote(output), db.Path(), listSets(match), errUsage)
}

func outputNote(output string) string {
	if output == "" {
		return ""
	}
	return fmt.Sprintf(" with output %q", output)
}

func listSets(infos []cache.SetInfo) string {
	if len(infos) == 0 {
		return "  (no feature sets: run asvp extract first)"
	}
	var b strings.Builder
	for _, si := range infos {
		fmt.Fprintf(&b, "  dataset %q output %q model %s dim %d key %s\n", si.Dataset, si.Output, si.Model, si.Dim, si.Key[:min(12, len(si.Key))])
	}
	return strings.TrimRight(b.String(), "\n")
}

// simOracleLabels reads the label set extract stores for a dataset.
func simOracleLabels(db *cache.DB, spec string) ([]string, map[string]int, error) {
	classes, labels, err := db.Labels(OracleLabelSet(spec))
	if err == nil {
		return classes, labels, nil
	}
	if !errors.Is(err, cache.ErrNotFound) {
		return nil, nil, err
	}
	names, lerr := db.LabelSets()
	if lerr != nil {
		return nil, nil, lerr
	}
	return nil, nil, fmt.Errorf("no oracle labels %q in %s (label sets: %s); a simulation needs a labeled dataset: %w",
		OracleLabelSet(spec), db.Path(), strings.Join(names, ", "), err)
}

// simLimitPool returns a random subset of n labeled pool IDs, drawn with the
// fixed seed 0 so every pipeline and seed shares it.
func simLimitPool(set *cache.Set, labels map[string]int, n int) ([]string, error) {
	m, err := set.ReadMatrix(0)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range m.IDs {
		if _, ok := labels[id]; ok {
			ids = append(ids, id)
		}
	}
	if n >= len(ids) {
		return ids, nil
	}
	rng := rand.New(rand.NewPCG(0, 0x706f6f6c)) // stream "pool"
	perm := rng.Perm(len(ids))[:n]
	out := make([]string, n)
	for k, i := range perm {
		out[k] = ids[i]
	}
	slices.Sort(out)
	return out, nil
}

// simExtractionSeconds sums the extraction time recorded for set key and
// its shards, or 0 when there is none.
func simExtractionSeconds(db *cache.DB, key string) float64 {
	kvs, err := db.Records(simExtractRecordNS)
	if err != nil {
		return 0
	}
	total := 0.0
	for _, kv := range kvs { // the whole set's record and those of its shards
		if kv.Key != key && !strings.HasPrefix(kv.Key, key+"/") {
			continue
		}
		var r extractRecord
		if json.Unmarshal(kv.Value, &r) == nil && r.Seconds > 0 {
			total += r.Seconds
		}
	}
	return total
}

// simDefaultName names a simulation after a hash of what shapes its
// results, so the same flags resume and different ones start afresh.
func simDefaultName(cfg selector.SimConfig, poolKey, testKey string, poolLimit int) string {
	b, _ := json.Marshal(struct {
		S, P, T     any
		Init, B, PL int
		Ind, Sw     any
		FT, LPFT    any
		Pool, Test  string
	}{cfg.Strategy, cfg.StrategyOptions, cfg.Proxy, cfg.Init, cfg.Budget, poolLimit, cfg.Indicator, cfg.Switch, cfg.FT, cfg.LPFT, poolKey, testKey})
	h := sha256.Sum256(b)
	return fmt.Sprintf("%s-%s-%s", cfg.Strategy, cfg.Proxy.Kind, hex.EncodeToString(h[:4]))
}

func simPrintSummary(w io.Writer, sum *selector.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline\tfinal acc\t± std\tAUC\tSSR\tlabels\tlabeling $\tcompute $\ttotal $\tvs standard $\tvs svpp $\tlabels to target\ttotal $ to target\t")
	for _, ps := range sum.Pipelines {
		f := ps.Final
		toL, toUSD := "n/a", "n/a"
		if t := ps.AtTarget; t != nil {
			toL, toUSD = fmt.Sprintf("%.0f", t.Labels), fmt.Sprintf("%.2f", t.TotalUSD)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%s\t%d\t%.2f\t%.4f\t%.2f\t%s\t%s\t%s\t%s\t\n", ps.Pipeline, f.AccMean, f.AccStd, ps.AUC,
			report.FormatOpt(f.SSR, "%.3f"), f.Labels, f.LabelingUSD, f.ComputeUSD, f.TotalUSD, simSavingUSD(f.VsStandard), simSavingUSD(f.VsSVPP), toL, toUSD)
	}
	tw.Flush()
	if sum.Target != nil {
		fmt.Fprintf(w, "target accuracy %.4f (random's final mean unless --target-acc); SSR and savings: n/a where undefined\n", *sum.Target)
	}
}

func simSavingUSD(s *selector.Saving) string {
	if s == nil {
		return "-"
	}
	return report.FormatOpt(s.USD, "%+.2f")
}
