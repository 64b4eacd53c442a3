package loop

import (
	"fmt"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/realign"
)

// Indicator is the live re-alignment verdict Select reports.
type Indicator struct {
	LogME        float64 `json:"logme"`
	Generation   int     `json:"generation"`
	Realignments int     `json:"realignments"`
	Realign      bool    `json:"realign"`
	Reason       string  `json:"reason"`
	Method       string  `json:"final_training_method"`
	MethodReason string  `json:"final_training_method_reason"`
}

// observeIndicator computes the LogME of the labelled rows X, y of
// generation gen of set, stores it in the set's indicator history (keyed by
// the labelled-set size, so a rerun of the same round adds nothing) and
// replays the rule over that generation's history. Re-alignments so far are
// the generations above 0; the rule's cap counts them. Degenerate labels
// (LogME undefined) are no error for selection: the verdict says so and
// does not re-align.
func observeIndicator(set *cache.Set, gen int, X *features.Matrix, y []int, classes int, cfg realign.IndicatorConfig) (*Indicator, error) {
	logme, err := realign.LogME(X, y, classes)
	if err != nil {
		return &Indicator{Generation: gen, Reason: fmt.Sprintf("no verdict: LogME is undefined on these labels: %v", err)}, nil
	}
	if err := set.PutIndicatorPoint(gen, cache.IndicatorPoint{Labels: X.Rows, LogME: logme}); err != nil {
		return nil, err
	}
	stored, err := set.IndicatorHistory(gen)
	if err != nil {
		return nil, err
	}
	var hist []realign.Point
	for _, p := range stored {
		if p.Labels <= X.Rows { // a rerun with fewer labels replays only the past
			hist = append(hist, realign.Point{Labels: p.Labels, LogME: p.LogME})
		}
	}
	gens, err := set.Generations()
	if err != nil {
		return nil, err
	}
	updates := len(gens) - 1
	d := realign.Replay(cfg, hist, updates)
	out := &Indicator{LogME: logme, Generation: gen, Realignments: updates, Realign: d.Update, Reason: d.Reason}
	if gen < len(gens)-1 && d.Update {
		out.Realign = false
		out.Reason = fmt.Sprintf("logme %.4f: a newer generation (%d) exists: select on the newest", logme, len(gens)-1)
	}
	done := updates
	if gen == 0 {
		done = 0
	}
	out.Method, out.MethodReason = realign.TrainingMethod(done, realign.SwitchConfig{})
	return out, nil
}
