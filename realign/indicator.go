package realign

import (
	"errors"
	"fmt"

	"github.com/asvp-dev/asvp/models/nn"
)

// Indicator rules accepted by IndicatorConfig.Rule.
const (
	RulePlateau   = "plateau"   // re-align when LogME stops improving
	RuleThreshold = "threshold" // re-align when LogME is below a fixed value
	RuleEvery     = "every"     // re-align every N rounds (ablation)
	RuleNever     = "never"     // never re-align: SVPp
)

// ErrIndicatorConfig is returned by IndicatorConfig.Validate and
// SwitchConfig.Validate for an unknown rule or mode or a field out of range.
var ErrIndicatorConfig = errors.New("realign: invalid indicator config")

// IndicatorConfig is the rule that decides, from the LogME of the labelled
// set's current features after each round, when to re-align the features.
type IndicatorConfig struct {
	// Rule is "plateau", "threshold", "every" or "never".
	Rule string `json:"rule"`
	// Patience (plateau): rounds without an improvement of at least MinGain
	// over the best value of the current features before re-aligning.
	Patience int `json:"patience"`
	// MinGain (plateau): the smallest rise of LogME per sample that counts
	// as an improvement.
	MinGain float64 `json:"min_gain"`
	// Threshold (threshold): re-align when LogME per sample is below it.
	Threshold float64 `json:"threshold"`
	// Every (every): re-align after this many rounds on the same features.
	Every int `json:"every"`
	// MaxUpdates caps the number of re-alignments in a run; 0 means no cap.
	MaxUpdates int `json:"max_updates"`
	// MinLabels: no re-alignment while fewer samples are labelled; LogME
	// of a handful of samples is too noisy to act on.
	MinLabels int `json:"min_labels"`
}

// DefaultIndicatorConfig returns the "plateau" rule with Patience 2,
// MinGain 0.01, MaxUpdates 3 and MinLabels 50 (Threshold -0.5 and Every 5
// are set for when the rule is switched).
//
// Why: LogME per sample of the labelled set normally rises as labels are
// added while the features still serve; when it stalls for two rounds the
// proxy's features have stopped separating what the selector buys, which
// is the paper's cue to re-align. 0.01 nats per sample is above the
// round-to-round noise of LogME on a few hundred labels, two rounds keeps
// one noisy round from triggering, three updates matches the paper's
// "only a few" re-alignments, and 50 labels is where LogME on 10 classes
// stops being dominated by which few samples happen to be labelled.
func DefaultIndicatorConfig() IndicatorConfig {
	return IndicatorConfig{
		Rule: RulePlateau, Patience: 2, MinGain: 0.01,
		Threshold: -0.5, Every: 5, MaxUpdates: 3, MinLabels: 50,
	}
}

// Validate reports whether the config can be used; the error wraps
// ErrIndicatorConfig.
func (c IndicatorConfig) Validate() error {
	switch c.Rule {
	case RulePlateau:
		if c.Patience < 1 {
			return fmt.Errorf("%w: plateau patience %d must be at least 1", ErrIndicatorConfig, c.Patience)
		}
		if !(c.MinGain >= 0) {
			return fmt.Errorf("%w: plateau min gain %g must be non-negative", ErrIndicatorConfig, c.MinGain)
		}
	case RuleEvery:
		if c.Every < 1 {
			return fmt.Errorf("%w: every %d must be at least 1", ErrIndicatorConfig, c.Every)
		}
	case RuleThreshold:
		if c.Threshold != c.Threshold {
			return fmt.Errorf("%w: threshold is NaN", ErrIndicatorConfig)
		}
	case RuleNever:
	default:
		return fmt.Errorf("%w: unknown rule %q (want plateau, threshold, every or never)", ErrIndicatorConfig, c.Rule)
	}
	if c.MaxUpdates < 0 || c.MinLabels < 0 {
		return fmt.Errorf("%w: max updates %d and min labels %d must be non-negative", ErrIndicatorConfig, c.MaxUpdates, c.MinLabels)
	}
	return nil
}

// IndicatorDecision is what the Indicator decided after one round.
type IndicatorDecision struct {
	Round  int     `json:"round"`
	Labels int     `json:"labels"`
	Value  float64 `json:"value"` // LogME per sample observed this round
	// Best is the plateau rule's reference on the current features (after
	// this round): the best value counting only rises of at least MinGain,
	// so a round that rose by less can be above it. Messages call it "best"
	// only where it is.
	Best   float64 `json:"best"`
	Update bool    `json:"update"`
	Reason string  `json:"reason"` // human-readable explanation of Update
}

// Indicator applies an IndicatorConfig to the LogME values of successive
// rounds. It keeps the history of the current features (cleared by Reset)
// and a log of every decision. It is not safe for concurrent use.
type Indicator struct {
	cfg    IndicatorConfig
	cfgErr error

	updates int
	log     []IndicatorDecision

	// Current features' history.
	seen        int     // rounds observed
	best        float64 // best value, moved only by gains of at least MinGain
	bestRound   int
	max         float64 // highest value since best moved (a rise below MinGain does not move best)
	stale       int     // rounds since best moved or since the last update
	sinceUpdate int     // rounds since Reset or the last update
}

// NewIndicator returns an Indicator for cfg. An invalid cfg (see
// Validate) gives an Indicator that never updates and says why in every
// decision's Reason.
func NewIndicator(cfg IndicatorConfig) *Indicator {
	return &Indicator{cfg: cfg, cfgErr: cfg.Validate()}
}

// Observe records the LogME per sample of the labelled set after a round
// (labels is the labelled-set size) and decides whether to re-align now.
// An Update decision counts towards MaxUpdates and restarts the patience
// and every-N counts; the caller re-aligns and then calls Reset.
func (ind *Indicator) Observe(round, labels int, logme float64) IndicatorDecision {
	c := ind.cfg
	improved := false
	switch {
	case logme != logme: // NaN never improves
		ind.stale++
	case ind.seen == 0, logme >= ind.best+c.MinGain:
		ind.best, ind.bestRound, ind.max, ind.stale, improved = logme, round, logme, 0, true
	default:
		ind.max = max(ind.max, logme)
		ind.stale++
	}
	ind.seen++
	ind.sinceUpdate++
	d := IndicatorDecision{Round: round, Labels: labels, Value: logme, Best: ind.best}
	d.Update, d.Reason = ind.decide(round, labels, logme, improved)
	if d.Update {
		ind.updates++
		ind.stale, ind.sinceUpdate = 0, 0
	}
	ind.log = append(ind.log, d)
	return d
}

func (ind *Indicator) decide(round, labels int, v float64, improved bool) (bool, string) {
	c := ind.cfg
	switch {
	case ind.cfgErr != nil:
		return false, fmt.Sprintf("no re-alignment: %v", ind.cfgErr)
	case c.Rule == RuleNever:
		return false, fmt.Sprintf("logme %.4f: rule never (SVPp), features are not re-aligned", v)
	case c.MaxUpdates > 0 && ind.updates >= c.MaxUpdates:
		return false, fmt.Sprintf("logme %.4f: already %d re-alignments (max %d)", v, ind.updates, c.MaxUpdates)
	case labels < c.MinLabels:
		return false, fmt.Sprintf("logme %.4f: only %d labels (< %d), too few to judge", v, labels, c.MinLabels)
	}
	switch c.Rule {
	case RulePlateau:
		if improved {
			return false, fmt.Sprintf("logme %.4f is the best on these features: keep", v)
		}
		ref := ind.reference()
		if ind.stale >= c.Patience {
			return true, fmt.Sprintf("logme %.4f has not improved by %g for %d rounds (%s): re-align", v, c.MinGain, ind.stale, ref)
		}
		return false, fmt.Sprintf("logme %.4f has not improved by %g for %d of %d rounds (%s): keep", v, c.MinGain, ind.stale, c.Patience, ref)
	case RuleThreshold:
		if v < c.Threshold {
			return true, fmt.Sprintf("logme %.4f is below threshold %.4f: re-align", v, c.Threshold)
		}
		if v != v {
			return false, fmt.Sprintf("logme is NaN, not compared with threshold %.4f: keep", c.Threshold)
		}
		return false, fmt.Sprintf("logme %.4f is not below threshold %.4f: keep", v, c.Threshold)
	default: // RuleEvery
		if ind.sinceUpdate >= c.Every {
			return true, fmt.Sprintf("logme %.4f: %d rounds on these features (every %d): re-align", v, ind.sinceUpdate, c.Every)
		}
		return false, fmt.Sprintf("logme %.4f: %d of %d rounds on these features: keep", v, ind.sinceUpdate, c.Every)
	}
}

// reference describes the plateau rule's reference value for a message:
// "best X at round R" when no round since rose above it, else the last
// gain of at least MinGain and the best value since, so that a value below
// the current one is never called the best.
func (ind *Indicator) reference() string {
	if ind.max <= ind.best {
		return fmt.Sprintf("best %.4f at round %d", ind.best, ind.bestRound)
	}
	return fmt.Sprintf("last gain of %g or more: %.4f at round %d; best %.4f", ind.cfg.MinGain, ind.best, ind.bestRound, ind.max)
}

// Reset starts a new history after a re-alignment: the new features'
// LogME is not comparable with the old. The count of updates and the
// decision log are kept.
func (ind *Indicator) Reset() {
	ind.seen, ind.best, ind.bestRound, ind.max, ind.stale, ind.sinceUpdate = 0, 0, 0, 0, 0, 0
}

// Updates returns the number of Update decisions so far.
func (ind *Indicator) Updates() int { return ind.updates }

// Log returns a copy of every decision so far, in order.
func (ind *Indicator) Log() []IndicatorDecision { return append([]IndicatorDecision(nil), ind.log...) }

// Switch modes accepted by SwitchConfig.Mode.
const (
	SwitchAuto = "auto" // lpft before any re-alignment, ft after
	SwitchLPFT = "lpft" // always lpft
	SwitchFT   = "ft"   // always ft
	SwitchLP   = "lp"   // always lp
)

// SwitchConfig chooses how the final model is trained.
type SwitchConfig struct {
	// Mode is "auto" (the default when empty), "lpft", "ft" or "lp".
	Mode string `json:"mode"`
}

// Validate reports whether the mode is known; the error wraps
// ErrIndicatorConfig.
func (c SwitchConfig) Validate() error {
	switch c.Mode {
	case "", SwitchAuto, SwitchLPFT, SwitchFT, SwitchLP:
		return nil
	}
	return fmt.Errorf("%w: unknown switch mode %q (want auto, lpft, ft or lp)", ErrIndicatorConfig, c.Mode)
}

// TrainingMethod returns the nn training method for the final model after
// updates re-alignments, and why. In "auto" mode it is LP-FT while the
// features are still the pre-trained ones (it keeps pre-trained
// information, Kumar et al. 2022) and FT once they have been re-aligned
// (ASVP's training-method switch). An unknown mode falls back to "auto"
// and says so in the reason.
func TrainingMethod(updates int, cfg SwitchConfig) (method, reason string) {
	switch cfg.Mode {
	case SwitchLPFT:
		return nn.MethodLPFT, "switch mode lpft: always lp-ft"
	case SwitchFT:
		return nn.MethodFT, "switch mode ft: always fine-tune"
	case SwitchLP:
		return nn.MethodLP, "switch mode lp: always linear probe"
	}
	prefix := ""
	if err := cfg.Validate(); err != nil {
		prefix = fmt.Sprintf("unknown switch mode %q, using auto: ", cfg.Mode)
	}
	if updates <= 0 {
		return nn.MethodLPFT, prefix + "no re-alignment yet: lp-ft keeps the pre-trained features"
	}
	return nn.MethodFT, prefix + fmt.Sprintf("features re-aligned %d time(s): plain fine-tuning", updates)
}
