package loop

import (
	"fmt"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/simulate"
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
// counted by realignments; the rule's cap counts them. Degenerate labels
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
	updates, newest, err := realignments(set)
	if err != nil {
		return nil, err
	}
	d := realign.Replay(cfg, hist, updates)
	out := &Indicator{LogME: logme, Generation: gen, Realignments: updates, Realign: d.Update, Reason: d.Reason}
	if gen < newest && d.Update {
		out.Realign = false
		out.Reason = fmt.Sprintf("logme %.4f: a newer generation (%d) exists: select on the newest", logme, newest)
	}
	done := updates
	if gen == 0 {
		done = 0
	}
	out.Method, out.MethodReason = realign.TrainingMethod(done, realign.SwitchConfig{})
	return out, nil
}

// realignments counts the re-alignments of set's features so far: its
// complete generations that changed the features. Not counted: a
// simulation's working generations, incomplete ones (a killed writer's),
// and those identical to generation 0 by construction: an lp fine-tune's
// (the tail untouched; lp writes none now, older versions did) and a
// re-extraction with the set's own backbone, output and preprocessing.
// newest is the last counted generation (0 when none is).
func realignments(set *cache.Set) (n, newest int, err error) {
	gens, err := set.Generations()
	if err != nil {
		return 0, 0, err
	}
	info := set.Info()
	for _, g := range gens {
		p := g.Provenance
		switch {
		case g.N == 0, g.Simulation() != "":
			continue
		case g.Source == simulate.SourceFinetune && p["method"] == finetune.MethodLP:
			continue
		case g.Source == "onnx" && p["model_sha256"] == info.ModelSHA256 && p["model_output"] == info.Output && p["card_hash"] == info.CardHash:
			continue
		}
		done, err := set.Complete(g.N)
		if err != nil {
			return 0, 0, err
		}
		if done {
			n, newest = n+1, g.N
		}
	}
	return n, newest, nil
}
