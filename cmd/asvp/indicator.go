package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/selector"
)

// indicatorNS is the record namespace where `asvp select` keeps the LogME of
// each labeled set it has seen, per feature set and generation, so the
// re-alignment rule can be replayed across separate runs of the live loop.
const indicatorNS = "asvp/indicator"

// indicatorPoint is one stored observation.
type indicatorPoint struct {
	Labels int     `json:"labels"`
	LogME  float64 `json:"logme"`
}

// liveIndicator is what `asvp select` reports about re-alignment.
type liveIndicator struct {
	LogME        float64 `json:"logme"`
	Generation   int     `json:"generation"`
	Realignments int     `json:"realignments"`
	Realign      bool    `json:"realign"`
	Reason       string  `json:"reason"`
	Method       string  `json:"final_training_method"`
	MethodReason string  `json:"final_training_method_reason"`
}

// observeIndicator stores the LogME of the current labeled set of generation
// gen of set (keyed by its size, so a rerun of the same round adds nothing)
// and replays the indicator over that generation's history. Re-alignments
// so far are the generations above 0; the cap of cfg counts them.
func observeIndicator(db *cache.DB, set *cache.Set, gen, labels int, logme float64, cfg selector.IndicatorConfig) (liveIndicator, error) {
	ns := fmt.Sprintf("%s/%s/%d", indicatorNS, set.Key(), gen)
	b, err := json.Marshal(indicatorPoint{Labels: labels, LogME: logme})
	if err != nil {
		return liveIndicator{}, err
	}
	if err := db.PutRecord(ns, fmt.Sprintf("%012d", labels), b); err != nil {
		return liveIndicator{}, err
	}
	kvs, err := db.Records(ns)
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		return liveIndicator{}, err
	}
	var hist []indicatorPoint
	for _, kv := range kvs {
		var p indicatorPoint
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return liveIndicator{}, fmt.Errorf("indicator record %s/%s: %w", ns, kv.Key, err)
		}
		if p.Labels <= labels { // a rerun with fewer labels replays only the past
			hist = append(hist, p)
		}
	}
	slices.SortFunc(hist, func(a, b indicatorPoint) int { return a.Labels - b.Labels })
	gens, err := set.Generations()
	if err != nil {
		return liveIndicator{}, err
	}
	updates := len(gens) - 1
	// Replay without the cap: past verdicts the user did not act on made no
	// generation, so the cap is applied below against the real count.
	replay := cfg
	replay.MaxUpdates = 0
	ind := selector.NewIndicator(replay)
	var d selector.IndicatorDecision
	for i, p := range hist {
		d = ind.Observe(i, p.Labels, p.LogME)
	}
	out := liveIndicator{LogME: logme, Generation: gen, Realignments: updates, Realign: d.Update, Reason: d.Reason}
	if cfg.MaxUpdates > 0 && updates >= cfg.MaxUpdates && d.Update {
		out.Realign = false
		out.Reason = fmt.Sprintf("logme %.4f: %d re-alignments already, the cap: keep the current features", logme, updates)
	}
	if gen < len(gens)-1 && d.Update {
		out.Realign = false
		out.Reason = fmt.Sprintf("logme %.4f: a newer generation (%d) exists: select on it with --gen -1", logme, len(gens)-1)
	}
	doneUpdates := updates
	if gen == 0 {
		doneUpdates = 0
	}
	out.Method, out.MethodReason = selector.TrainingMethod(doneUpdates, selector.SwitchConfig{})
	return out, nil
}

// liveLogME computes the LogME of the labeled rows X, y and runs
// observeIndicator on it. Degenerate labels (LogME undefined) are not an
// error for selection: the verdict then says so and does not re-align.
func liveLogME(db *cache.DB, set *cache.Set, gen int, X *features.Matrix, y []int, classes int, cfg selector.IndicatorConfig) (*liveIndicator, error) {
	logme, err := selector.LogME(X, y, classes)
	if err != nil {
		return &liveIndicator{Generation: gen, Reason: fmt.Sprintf("no verdict: LogME is undefined on these labels: %v", err)}, nil
	}
	li, err := observeIndicator(db, set, gen, X.Rows, logme, cfg)
	if err != nil {
		return nil, err
	}
	return &li, nil
}
