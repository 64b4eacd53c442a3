package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/models/nn"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/selector"
	"github.com/asvp-dev/asvp/tuning"
)

// Pipelines the simulator runs (METHOD.md, "The three pipelines", plus the
// random baseline every metric is measured against).
const (
	PipelineRandom   = "random"   // random batches; final model fine-tuned (FT)
	PipelineStandard = "standard" // fine-tune every round and select with the fine-tuned net
	PipelineSVPP     = "svpp"     // proxy on pre-trained features; one fine-tune at the end
	PipelineASVP     = "asvp"     // svpp + LogME-triggered re-alignment + LP-FT/FT switch
	// PipelineASVPFT is asvp's selections with every reported model trained
	// by plain FT: not run on its own, but derived from asvp's rounds (its
	// records are asvp's, with the FT model's accuracy), so the switch's share
	// of asvp's results is visible.
	PipelineASVPFT = "asvp-ft"
)

// PipelineNames returns the pipelines Simulate knows, in report order.
func PipelineNames() []string {
	return []string{PipelineRandom, PipelineStandard, PipelineSVPP, PipelineASVP}
}

// Simulation errors, usable with errors.Is.
var (
	// ErrConfig is returned for a simulation configuration that cannot run.
	ErrConfig = errors.New("simulate: bad configuration")
	// ErrConflict is returned when the cache already holds a simulation
	// of the same name run with different settings.
	ErrConflict = errors.New("simulate: a simulation of this name exists with other settings")
)

// Config describes an offline active-learning simulation.
//
// Rounds are numbered from 0: round 0 labels the initial random batch of
// Init samples (the same batch, for a seed, in every pipeline); each round
// r = 1..Rounds buys Budget more. Every round records the accuracy of the
// pipeline's model trained on the labels bought so far.
//
// The settings that shape results (everything but Name, Pipelines, Seeds,
// Rounds, Workers, Progress, Shard and Shards) are stored with the
// simulation's records: a rerun with the same Name must use the same
// settings, and resumes each
// (pipeline, seed) after its last finished round. Adding rounds, seeds or
// pipelines extends a simulation.
type Config struct {
	// Name names the simulation; its records are the cache namespace "sim/<Name>".
	Name      string
	Pipelines []string
	// Strategy picks samples in standard, svpp and asvp (random always picks at random).
	Strategy        string
	StrategyOptions selector.StrategyOptions
	// Proxy trains the svpp/asvp proxy; its Seed is replaced by one derived
	// from the simulation seed and round.
	Proxy                selector.ProxyConfig
	Init, Budget, Rounds int
	Seeds                []uint64
	// Indicator is asvp's re-alignment rule; Switch its final-model method rule.
	Indicator realign.IndicatorConfig
	Switch    realign.SwitchConfig
	// Tune is the recipe of the backbone's tail fine-tuned from cached
	// activations (tail mode, Data.Tune set): every reported model, standard
	// AL's per-round model and every re-alignment; its Method and Seed are
	// set per use (the switch picks lpft or ft for asvp).
	Tune finetune.Recipe
	// FT and LPFT train a network on the frozen features in features-only
	// mode (no cached activations: random and svpp only). Their Seed fields
	// are replaced by derived seeds.
	FT, LPFT nn.Recipe
	// Workers bounds selection goroutines (<= 0: GOMAXPROCS); results do not depend on it.
	Workers int
	// Progress, when set, is called after every finished (or resumed) round.
	Progress func(rec RoundRecord, resumed bool)
	// Shard and Shards run one part of the simulation: of its units, the
	// (pipeline, seed) pairs in Run's order (every seed of the first
	// pipeline, then of the next), the part takes units Shard, Shard+Shards,
	// Shard+2*Shards, ... (strided, so that every part gets a mix of cheap and
	// expensive pipelines). Shards <= 1 runs the whole. A unit's results do
	// not depend on which part runs it: every random choice derives from its
	// seed. Join puts the parts' Results together.
	Shard, Shards int
}

// Data is what a simulation reads: feature sets in an open cache and the
// oracle labels of their samples.
type Data struct {
	DB         *cache.DB
	Pool, Test *cache.Set
	// PoolIDs restricts the pool to these samples (nil: every sample of
	// generation 0 that has an oracle label).
	PoolIDs []string
	// Tune, when set, is the pool's pretrained tail and its cached
	// activations (tail mode): models are the tail fine-tuned from them, and
	// TestActs must be the test set's activations at the same cut. Without
	// it (features-only mode) only random and svpp run, their models trained
	// on the frozen features.
	Tune     *tuning.Source
	TestActs *cache.Set
	// Classes names the classes; labels are indices into it.
	Classes                []string
	PoolLabels, TestLabels map[string]int
}

// Phases holds the seconds one round spent in each phase.
type Phases struct {
	ProxyTrain float64 `json:"proxy_train"` // training the svpp/asvp proxy
	Select     float64 `json:"select"`      // scoring the pool and picking
	Indicator  float64 `json:"indicator"`   // LogME of the labeled set (asvp)
	Finetune   float64 `json:"finetune"`    // standard's per-round net; asvp's re-alignment fine-tune
	Realign    float64 `json:"realign"`     // a fine-tuned model's pass over the pool (standard's selection, asvp's re-alignment), storing and reading back
	EvalTrain  float64 `json:"eval_train"`  // training the model whose accuracy is reported (not standard's)
}

// SelectionSeconds returns the seconds spent on choosing samples: every
// phase except EvalTrain.
func (p Phases) SelectionSeconds() float64 {
	return p.ProxyTrain + p.Select + p.Indicator + p.Finetune + p.Realign
}

// IndicatorLog is asvp's indicator entry of one round.
type IndicatorLog struct {
	Value  float64 `json:"value"` // LogME per sample of the labeled set's current features
	Best   float64 `json:"best"`
	Update bool    `json:"update"`
	Reason string  `json:"reason"`
}

// RoundRecord is the state and outcome of one finished round of one
// pipeline and seed, stored as JSON after the round.
type RoundRecord struct {
	Pipeline string   `json:"pipeline"`
	Seed     uint64   `json:"seed"`
	Round    int      `json:"round"`
	Labels   int      `json:"labels"`
	Picks    []string `json:"picks"`          // IDs bought this round (round 0: the initial batch)
	Labeled  string   `json:"labeled_sha256"` // hash of the sorted labeled IDs after the round
	Accuracy float64  `json:"accuracy"`       // on the test set
	// AccuracyFT (asvp in tail mode) is the test accuracy of the model
	// trained by plain FT on the same labels, for the derived asvp-ft.
	AccuracyFT *float64 `json:"accuracy_ft,omitempty"`
	TrainAcc   float64  `json:"train_accuracy"` // of the same model on its labeled set
	Method     string   `json:"method"`         // how the reported model was trained: ft, lpft, lp
	Reason     string   `json:"method_reason,omitempty"`
	Seconds    Phases   `json:"seconds"`
	// SelectGen is the pool generation the selection of this round used;
	// PoolGen and TestGen the generations current after the round.
	SelectGen int           `json:"select_gen"`
	PoolGen   int           `json:"pool_gen"`
	TestGen   int           `json:"test_gen"`
	Indicator *IndicatorLog `json:"indicator,omitempty"`
	Realigned bool          `json:"realigned"`
	Updates   int           `json:"updates"` // re-alignments so far
	Finished  time.Time     `json:"finished"`
}

// Settings are the settings that shape a simulation's results; a rerun
// under the same name must match them.
type Settings struct {
	Strategy        string                   `json:"strategy"`
	StrategyOptions selector.StrategyOptions `json:"strategy_options"`
	Proxy           selector.ProxyConfig     `json:"proxy"`
	Init            int                      `json:"init"`
	Budget          int                      `json:"budget"`
	Indicator       realign.IndicatorConfig  `json:"indicator"`
	Switch          realign.SwitchConfig     `json:"switch"`
	FT              nn.Recipe                `json:"ft"`
	LPFT            nn.Recipe                `json:"lpft"`
	Tune            *finetune.Recipe         `json:"tune,omitempty"`
	Activations     string                   `json:"activations_set,omitempty"`
	TestActivations string                   `json:"test_activations_set,omitempty"`
	PoolSet         string                   `json:"pool_set"`
	TestSet         string                   `json:"test_set"`
	PoolIDs         string                   `json:"pool_ids_sha256"`
	TestIDs         string                   `json:"test_ids_sha256"`
}

// Results is everything a simulation produced.
type Results struct {
	Name      string   `json:"name"`
	Settings  Settings `json:"settings"`
	Pipelines []string `json:"pipelines"`
	Seeds     []uint64 `json:"seeds"`
	Rounds    int      `json:"rounds"`
	PoolSize  int      `json:"pool_size"`
	TestSize  int      `json:"test_size"`
	Dim       int      `json:"dim"`
	Classes   []string `json:"classes"`
	// Shard is "i/n" when these are the results of part i of n (Config.Shard):
	// Pipelines and Seeds still name the whole simulation's, and Records hold
	// the part's units only. Empty for a whole simulation.
	Shard   string        `json:"shard,omitempty"`
	Records []RoundRecord `json:"records"` // by pipeline (config order), seed, round
}

// Simulate runs (or resumes) the pipelines of cfg for every seed, round by
// round, storing each finished round in the cache, and returns all rounds.
//
// What each pipeline does per round r >= 1 (round 0 only trains and
// evaluates on the initial batch). In tail mode (Data.Tune set) every model
// is the backbone's tail and a fresh head fine-tuned from the pretrained
// weights on the pipeline's labels, from cached activations, as the paper's
// protocol restarts the real backbone; in features-only mode only random
// and svpp run and their model is a network on the frozen features.
//   - random: picks Budget samples at random; reports an FT model.
//   - standard: selects with the model fine-tuned (FT) on the previous
//     round's labels: its features of the whole pool (a pass over the pool)
//     and its head; then fine-tunes a fresh model on the new labels, which
//     is both its reported model and the next round's selector.
//   - svpp: trains a fresh proxy on generation-0 features of the labels and
//     selects with it; reports an FT model, never fed back.
//   - asvp: like svpp on the current generation. After buying, LogME of the
//     labeled set's current features feeds the indicator; on "update" the
//     tail is fine-tuned (FT) on the labels and its features of every pool
//     sample are stored as a new cache generation that later rounds select
//     on. The reported model is trained with TrainingMethod(updates): LP-FT
//     before any re-alignment, FT after (Switch). The same labels trained
//     by plain FT give the derived pipeline asvp-ft, so the switch's share
//     shows.
//
// Every random choice derives from the seed (and round and purpose), so a
// rerun gives the same accuracies; re-aligned generations are found again
// by their provenance. Features are always read back from the cache after
// a re-alignment, so a resumed and an uninterrupted run see identical values
// whatever the set's storage dtype.
func Run(ctx context.Context, cfg Config, data Data) (*Results, error) {
	s, err := newSim(cfg, data)
	if err != nil {
		return nil, err
	}
	res := &Results{
		Name: cfg.Name, Settings: s.settings, Pipelines: slices.Clone(cfg.Pipelines), Seeds: slices.Clone(cfg.Seeds),
		Rounds: cfg.Rounds, PoolSize: s.pool0.Rows, TestSize: s.test0.Rows, Dim: s.pool0.Cols, Classes: slices.Clone(data.Classes),
	}
	if cfg.Shards > 1 {
		res.Shard = fmt.Sprintf("%d/%d", cfg.Shard, cfg.Shards)
	}
	unit := 0
	for _, p := range cfg.Pipelines {
		for _, seed := range cfg.Seeds {
			mine := cfg.Shards <= 1 || unit%cfg.Shards == cfg.Shard
			unit++
			if !mine {
				continue
			}
			recs, err := s.run(ctx, p, seed)
			if err != nil {
				return res, fmt.Errorf("simulate: %q, %s seed %d: %w", cfg.Name, p, seed, err)
			}
			res.Records = append(res.Records, recs...)
		}
	}
	if d := deriveASVPFT(res.Records); len(d) > 0 {
		res.Pipelines = append(res.Pipelines, PipelineASVPFT)
		res.Records = append(res.Records, d...)
	}
	return res, nil
}

// sim holds what every (pipeline, seed) run shares.
type sim struct {
	cfg          Config
	data         Data
	settings     Settings
	pool0, test0 *features.Matrix
	poolY, testY []int
	classes      int
	strategy     selector.Strategy
	random       selector.Strategy
	// tail mode: the pool's tail and activations (rows in pool0's order)
	// and the test set's activations (rows in test0's order)
	tune     *tuning.Source
	poolActs *features.Matrix
	testActs finetune.Activations
}

func newSim(cfg Config, data Data) (*sim, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	switch {
	case cfg.Name == "" || strings.ContainsAny(cfg.Name, "/\x00"):
		return nil, bad("name %q must be non-empty without '/'", cfg.Name)
	case len(cfg.Pipelines) == 0:
		return nil, bad("no pipelines")
	case len(cfg.Seeds) == 0:
		return nil, bad("no seeds")
	case cfg.Shards > 1 && (cfg.Shard < 0 || cfg.Shard >= cfg.Shards):
		return nil, bad("shard %d/%d: want i/n with 0 <= i < n", cfg.Shard, cfg.Shards)
	case cfg.Init <= 0 || cfg.Budget <= 0 || cfg.Rounds < 0:
		return nil, bad("init %d and budget %d must be positive, rounds %d non-negative", cfg.Init, cfg.Budget, cfg.Rounds)
	case data.DB == nil || data.Pool == nil || data.Test == nil:
		return nil, bad("no cache, pool or test set")
	case len(data.Classes) < 2:
		return nil, bad("%d classes, need at least 2", len(data.Classes))
	}
	seen := map[string]bool{}
	for _, p := range cfg.Pipelines {
		if !slices.Contains(PipelineNames(), p) {
			return nil, bad("unknown pipeline %q (valid: %s)", p, strings.Join(PipelineNames(), ", "))
		}
		if seen[p] {
			return nil, bad("pipeline %q listed twice", p)
		}
		seen[p] = true
	}
	if data.Tune == nil && (seen[PipelineStandard] || seen[PipelineASVP]) {
		return nil, bad("standard and asvp fine-tune the backbone's tail, and the cache holds no activations of the pool to fine-tune from (extract the pool and the test set with a cut)")
	}
	if data.Tune != nil && data.TestActs == nil {
		return nil, bad("no activations of the test set to evaluate the fine-tuned models on (extract it with the pool's cut)")
	}
	if seen[PipelineASVP] {
		if err := cfg.Indicator.Validate(); err != nil {
			return nil, err
		}
		if err := cfg.Switch.Validate(); err != nil {
			return nil, err
		}
	}
	s := &sim{cfg: cfg, data: data, classes: len(data.Classes)}
	var err error
	if s.strategy, err = selector.NewStrategy(cfg.Strategy, cfg.StrategyOptions); err != nil {
		return nil, err
	}
	s.random, _ = selector.NewStrategy("random", selector.StrategyOptions{})
	if seen[PipelineSVPP] || seen[PipelineASVP] {
		if err := selector.CheckProxyKind(cfg.Proxy.Kind); err != nil {
			return nil, err
		}
	}
	if s.pool0, s.poolY, err = labeledMatrix(data.Pool, data.PoolIDs, data.PoolLabels, len(data.Classes)); err != nil {
		return nil, fmt.Errorf("simulate: pool: %w", err)
	}
	if s.test0, s.testY, err = labeledMatrix(data.Test, nil, data.TestLabels, len(data.Classes)); err != nil {
		return nil, fmt.Errorf("simulate: test set: %w", err)
	}
	if s.test0.Cols != s.pool0.Cols {
		return nil, bad("pool features have %d dimensions, test features %d", s.pool0.Cols, s.test0.Cols)
	}
	if need := cfg.Init + cfg.Rounds*cfg.Budget; need > s.pool0.Rows {
		return nil, bad("init %d + %d rounds x budget %d = %d labels, the labeled pool holds %d", cfg.Init, cfg.Rounds, cfg.Budget, need, s.pool0.Rows)
	}
	s.settings = Settings{
		Strategy: cfg.Strategy, StrategyOptions: cfg.StrategyOptions, Proxy: cfg.Proxy, Init: cfg.Init, Budget: cfg.Budget,
		Indicator: cfg.Indicator, Switch: cfg.Switch, FT: cfg.FT, LPFT: cfg.LPFT,
		PoolSet: data.Pool.Key(), TestSet: data.Test.Key(), PoolIDs: hashIDs(s.pool0.IDs), TestIDs: hashIDs(s.test0.IDs),
	}
	s.settings.Proxy.Seed, s.settings.FT.Seed, s.settings.LPFT.Seed = 0, 0, 0
	if data.Tune != nil {
		if err := s.readActivations(); err != nil {
			return nil, err
		}
		tune := cfg.Tune
		tune.Method, tune.Seed, tune.Workers = "", 0, 0
		s.settings.Tune, s.settings.Activations, s.settings.TestActivations = &tune, data.Tune.Acts.Key(), data.TestActs.Key()
	}
	want, err := json.Marshal(s.settings)
	if err != nil {
		return nil, err
	}
	switch got, err := data.DB.SimSettings(cfg.Name); {
	case errors.Is(err, cache.ErrNotFound):
		if err := data.DB.PutSimSettings(cfg.Name, want); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case string(got) != string(want):
		return nil, fmt.Errorf("%w: %q was run with %s, now %s: pick another name", ErrConflict, cfg.Name, got, want)
	}
	return s, nil
}

// labeledMatrix reads generation 0 of set, restricted to ids when given, and
// keeps the rows that have a label, in ID order.
func labeledMatrix(set *cache.Set, ids []string, labels map[string]int, classes int) (*features.Matrix, []int, error) {
	var m *features.Matrix
	var err error
	if ids != nil {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		m, err = set.ReadRows(0, ids)
	} else {
		m, err = set.ReadMatrix(0)
	}
	if err != nil {
		return nil, nil, err
	}
	keep := make([]int, 0, m.Rows)
	y := make([]int, 0, m.Rows)
	for i, id := range m.IDs {
		if c, ok := labels[id]; ok {
			if c < 0 || c >= classes {
				return nil, nil, fmt.Errorf("%w: sample %q has label %d outside [0,%d)", ErrConfig, id, c, classes)
			}
			keep = append(keep, i)
			y = append(y, c)
		}
	}
	if len(keep) == 0 {
		return nil, nil, fmt.Errorf("%w: none of the %d samples of set %s has an oracle label", ErrConfig, m.Rows, set.Key())
	}
	return subMatrix(m, keep), y, nil
}

// subMatrix copies rows idx of m, in that order.
func subMatrix(m *features.Matrix, idx []int) *features.Matrix {
	out := features.NewMatrix(len(idx), m.Cols)
	for k, i := range idx {
		copy(out.Row(k), m.Row(i))
		out.IDs[k] = m.IDs[i]
	}
	return out
}

func hashIDs(ids []string) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	h := sha256.New()
	for _, id := range s {
		h.Write([]byte(id))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// initialBatch returns the pool rows of the first random batch of a seed.
func initialBatch(n, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x696e6974)) // stream "init"
	return rng.Perm(n)[:k]
}

// state is one (pipeline, seed) run between rounds.
type state struct {
	pipeline string
	seed     uint64
	labeled  []bool
	order    []int // labeled pool rows in the order bought
	poolGen  int
	testGen  int
	poolCur  *features.Matrix // features of the current generation (asvp)
	testCur  *features.Matrix
	ind      *realign.Indicator
	updates  int
	model    model // standard: the model of the last round, the next selector
}

func (st *state) add(rows []int) {
	for _, i := range rows {
		st.labeled[i] = true
		st.order = append(st.order, i)
	}
}

// run runs one pipeline and seed to cfg.Rounds, resuming from stored rounds.
func (s *sim) run(ctx context.Context, pipeline string, seed uint64) ([]RoundRecord, error) {
	st := &state{pipeline: pipeline, seed: seed, labeled: make([]bool, s.pool0.Rows), poolCur: s.pool0, testCur: s.test0}
	if pipeline == PipelineASVP {
		st.ind = realign.NewIndicator(s.cfg.Indicator)
	}
	recs, err := s.resume(st)
	if err != nil {
		return nil, err
	}
	for r := len(recs); r <= s.cfg.Rounds; r++ {
		if err := ctx.Err(); err != nil {
			return recs, err
		}
		rec, err := s.round(ctx, st, r)
		if err != nil {
			return recs, fmt.Errorf("round %d: %w", r, err)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return recs, err
		}
		if err := s.data.DB.PutSimRound(s.cfg.Name, pipeline, seed, r, b); err != nil {
			return recs, err
		}
		recs = append(recs, rec)
		if s.cfg.Progress != nil {
			s.cfg.Progress(rec, false)
		}
	}
	return recs[:s.cfg.Rounds+1], nil
}

// resume loads the finished rounds of st's pipeline and seed and rebuilds
// st after the last of them (records beyond cfg.Rounds are kept and returned).
func (s *sim) resume(st *state) ([]RoundRecord, error) {
	stored, err := s.data.DB.SimRounds(s.cfg.Name, st.pipeline, st.seed)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(s.pool0.IDs))
	for i, id := range s.pool0.IDs {
		index[id] = i
	}
	var recs []RoundRecord
	for _, kv := range stored {
		var rec RoundRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, fmt.Errorf("stored round %d: %w", kv.Round, err)
		}
		if rec.Round != len(recs) {
			break // a gap: resume after the last contiguous round
		}
		rows := make([]int, len(rec.Picks))
		for k, id := range rec.Picks {
			i, ok := index[id]
			if !ok {
				return nil, fmt.Errorf("%w: record %s picks %q, not in the pool", ErrConflict, fmt.Sprintf("round %d", kv.Round), id)
			}
			rows[k] = i
		}
		st.add(rows)
		if h := hashRows(s.pool0, st.order); h != rec.Labeled {
			return nil, fmt.Errorf("%w: record %s: labeled set hash %s, replay gives %s", ErrConflict, fmt.Sprintf("round %d", kv.Round), rec.Labeled, h)
		}
		if rec.Indicator != nil && st.ind != nil {
			d := st.ind.Observe(rec.Round, rec.Labels, rec.Indicator.Value)
			if d.Update != rec.Indicator.Update {
				return nil, fmt.Errorf("%w: record %s: indicator replay decides update=%v, stored %v", ErrConflict, fmt.Sprintf("round %d", kv.Round), d.Update, rec.Indicator.Update)
			}
		}
		if rec.Realigned && st.ind != nil {
			st.ind.Reset()
		}
		st.updates, st.poolGen, st.testGen = rec.Updates, rec.PoolGen, rec.TestGen
		recs = append(recs, rec)
		if s.cfg.Progress != nil {
			s.cfg.Progress(rec, true)
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	if st.poolGen != 0 || st.testGen != 0 {
		if st.poolCur, err = s.data.Pool.ReadRows(st.poolGen, s.pool0.IDs); err != nil {
			return nil, err
		}
		if st.testCur, err = s.data.Test.ReadRows(st.testGen, s.test0.IDs); err != nil {
			return nil, err
		}
	}
	if st.pipeline == PipelineStandard && len(recs) <= s.cfg.Rounds {
		// The next round selects with the last round's net: retrain it, bit
		// for bit the same (same seed, same rows).
		last := len(recs) - 1
		if st.model, err = s.fit(nn.MethodFT, selector.RoundSeed(st.seed, last, selector.PurposeModel), st.poolCur, st.order); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func hashRows(m *features.Matrix, rows []int) string {
	ids := make([]string, len(rows))
	for k, i := range rows {
		ids[k] = m.IDs[i]
	}
	return hashIDs(ids)
}

// round runs round r of st and returns its record.
func (s *sim) round(ctx context.Context, st *state, r int) (RoundRecord, error) {
	rec := RoundRecord{Pipeline: st.pipeline, Seed: st.seed, Round: r, SelectGen: st.poolGen}
	// 1. Buy labels.
	var picks []int
	if r == 0 {
		picks = initialBatch(s.pool0.Rows, s.cfg.Init, st.seed)
	} else {
		var err error
		if picks, err = s.selectBatch(ctx, st, r, &rec.Seconds); err != nil {
			return rec, err
		}
	}
	st.add(picks)
	rec.Picks = make([]string, len(picks))
	for k, i := range picks {
		rec.Picks[k] = s.pool0.IDs[i]
	}
	rec.Labels = len(st.order)
	rec.Labeled = hashRows(s.pool0, st.order)

	// 2. asvp: indicator, and maybe re-alignment.
	if st.pipeline == PipelineASVP {
		t := time.Now()
		v, err := realign.LogME(subMatrix(st.poolCur, st.order), s.labelsOf(st.order), s.classes)
		if err != nil {
			return rec, err
		}
		d := st.ind.Observe(r, rec.Labels, v)
		rec.Seconds.Indicator = time.Since(t).Seconds()
		rec.Indicator = &IndicatorLog{Value: v, Best: d.Best, Update: d.Update, Reason: d.Reason}
		if d.Update {
			if err := s.realign(st, r, rec.Labeled, &rec.Seconds); err != nil {
				return rec, fmt.Errorf("re-alignment: %w", err)
			}
			st.ind.Reset()
			st.updates++
			rec.Realigned = true
		}
	}
	rec.Updates, rec.PoolGen, rec.TestGen = st.updates, st.poolGen, st.testGen

	// 3. The reported model, fine-tuned from the pretrained weights on the
	// labels (tail mode), or trained on the current features.
	method, reason := nn.MethodFT, "pipeline "+st.pipeline+" reports a fine-tuned (ft) model"
	if st.pipeline == PipelineASVP {
		method, reason = realign.TrainingMethod(st.updates, s.cfg.Switch)
	}
	t := time.Now()
	m, err := s.fit(method, selector.RoundSeed(st.seed, r, selector.PurposeModel), st.poolCur, st.order)
	if err != nil {
		return rec, err
	}
	if st.pipeline == PipelineStandard {
		rec.Seconds.Finetune += time.Since(t).Seconds()
		st.model = m
	} else {
		rec.Seconds.EvalTrain = time.Since(t).Seconds()
	}
	rec.Method, rec.Reason, rec.TrainAcc = method, reason, m.trainAcc
	if rec.Accuracy, err = s.accuracy(m, st.testCur); err != nil {
		return rec, err
	}
	if st.pipeline == PipelineASVP && s.tune != nil {
		// The same labels with plain FT, for asvp-ft (the same model when the
		// switch says ft).
		acc := rec.Accuracy
		if method != nn.MethodFT {
			ft, err := s.fit(nn.MethodFT, selector.RoundSeed(st.seed, r, selector.PurposeModel), st.poolCur, st.order)
			if err != nil {
				return rec, err
			}
			if acc, err = s.accuracy(ft, st.testCur); err != nil {
				return rec, err
			}
		}
		rec.AccuracyFT = &acc
	}
	rec.Finished = time.Now().UTC()
	return rec, nil
}

// selectBatch picks round r's batch for st.
func (s *sim) selectBatch(ctx context.Context, st *state, r int, ph *Phases) ([]int, error) {
	req := selector.Request{Pool: st.poolCur, Labeled: st.labeled, Budget: s.cfg.Budget, Seed: selector.RoundSeed(st.seed, r, selector.PurposeSelect), Workers: s.cfg.Workers}
	strat := s.strategy
	switch st.pipeline {
	case PipelineRandom:
		strat = s.random
	case PipelineStandard:
		// Select with last round's fine-tuned model: its features of the
		// whole pool (a pass over the pool) and its head.
		t := time.Now()
		f, p, err := s.modelSelector(st.model)
		if err != nil {
			return nil, err
		}
		req.Pool, req.Proxy = f, p
		ph.Realign = time.Since(t).Seconds()
	case PipelineSVPP, PipelineASVP:
		if selector.NeedsProxy(s.cfg.Strategy) {
			t := time.Now()
			pc := s.cfg.Proxy
			pc.Seed = selector.RoundSeed(st.seed, r, selector.PurposeProxy)
			p, err := selector.TrainProxy(pc, subMatrix(st.poolCur, st.order), s.labelsOf(st.order), s.classes)
			if err != nil {
				return nil, err
			}
			req.Proxy = p
			ph.ProxyTrain = time.Since(t).Seconds()
		}
	}
	t := time.Now()
	picks, err := strat.Select(ctx, req)
	if err != nil {
		return nil, err
	}
	ph.Select = time.Since(t).Seconds()
	rows := make([]int, len(picks))
	for k, p := range picks {
		rows[k] = p.Index
	}
	return rows, nil
}

func (s *sim) labelsOf(rows []int) []int {
	y := make([]int, len(rows))
	for k, i := range rows {
		y[k] = s.poolY[i]
	}
	return y
}

// trainNet trains a net with recipe (method and seed set) on rows of X.
func (s *sim) trainNet(recipe nn.Recipe, method string, seed uint64, X *features.Matrix, rows []int) (*nn.Net, nn.TrainStats, error) {
	recipe.Method, recipe.Seed = method, seed
	if method == nn.MethodLPFT && recipe.LPEpochs <= 0 {
		recipe.LPEpochs = recipe.Epochs
	}
	x := subMatrix(X, rows)
	return nn.Train(recipe, x.Data, x.Rows, x.Cols, s.labelsOf(rows), s.classes)
}

// realign fine-tunes the tail (FT, from the pretrained weights) on the
// labeled rows and stores its features of every pool sample as a new
// generation of the pool set (or finds the one an interrupted run already
// wrote), then makes them st's current features. The test set is not
// re-aligned: models are evaluated from its activations.
func (s *sim) realign(st *state, r int, labeledHash string, ph *Phases) error {
	t := time.Now()
	m, err := s.fit(nn.MethodFT, selector.RoundSeed(st.seed, r, selector.PurposeRealign), st.poolCur, st.order)
	if err != nil {
		return err
	}
	ph.Finetune += time.Since(t).Seconds()
	t = time.Now()
	prov := map[string]string{
		cache.ProvenanceSimulation: s.cfg.Name, "pipeline": st.pipeline, "seed": strconv.FormatUint(st.seed, 10), "round": strconv.Itoa(r),
		"labeled_sha256": labeledHash, "labels": strconv.Itoa(len(st.order)), "method": nn.MethodFT,
		"parent_gen": "0", "realignment": strconv.Itoa(st.updates + 1), "cut": s.tune.Cut,
	}
	f, err := s.tune.Features(m.tuned, s.poolActs)
	if err != nil {
		return err
	}
	set := s.data.Pool
	gen, _, err := set.EnsureGeneration(cache.GenInfo{Dim: f.Cols, Source: SourceFinetune, Provenance: prov})
	if err != nil {
		return err
	}
	if _, err := set.WriteEmbedded(gen, f, func(x []float32, _ int, dst []float32) { copy(dst, x) }, 0, nil); err != nil {
		return err
	}
	// Read back, so a resumed and an uninterrupted run see the same values
	// whatever the set's storage type.
	if st.poolCur, err = set.ReadRows(gen, s.pool0.IDs); err != nil {
		return err
	}
	st.poolGen = gen
	ph.Realign = time.Since(t).Seconds()
	return nil
}
