package realign

import "fmt"

// Point is one stored observation of the indicator: the labelled-set size
// and the LogME per sample of its features.
type Point struct {
	Labels int
	LogME  float64
}

// Replay runs a history of one generation's observations, in order of
// labelled-set size, through a fresh Indicator and returns the decision
// on the last one, as the live loop does across separate runs. Rounds are
// counted from 1, the first observation on the generation, as users count
// them. The cap
// (MaxUpdates) is not applied to past verdicts, which made no generation
// unless the user acted on them, but to updates, the re-alignments that
// really exist: at the cap the decision keeps the current features.
func Replay(cfg IndicatorConfig, history []Point, updates int) IndicatorDecision {
	replay := cfg
	replay.MaxUpdates = 0
	ind := NewIndicator(replay)
	var d IndicatorDecision
	for i, p := range history {
		d = ind.Observe(i+1, p.Labels, p.LogME)
	}
	if cfg.MaxUpdates > 0 && updates >= cfg.MaxUpdates && d.Update {
		d.Update = false
		d.Reason = fmt.Sprintf("logme %.4f: %d re-alignments already, the cap: keep the current features", d.Value, updates)
	}
	return d
}
