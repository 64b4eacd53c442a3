package realign

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestIndicatorSequences(t *testing.T) {
	plateau := DefaultIndicatorConfig() // patience 2, min gain 0.01, max 3, min labels 50
	with := func(f func(*IndicatorConfig)) IndicatorConfig { c := DefaultIndicatorConfig(); f(&c); return c }
	reset := math.Inf(-1) // a marker in values: call Reset before this step
	tests := []struct {
		name    string
		cfg     IndicatorConfig
		values  []float64
		labels  []int // per step; nil means 100 each
		updates []bool
		reason  map[int]string // step -> substring expected in Reason
	}{
		{
			name:    "plateau after two flat rounds",
			cfg:     plateau,
			values:  []float64{-0.50, -0.45, -0.445, -0.448},
			updates: []bool{false, false, false, true},
			reason: map[int]string{
				1: "best on these features",
				2: "has not improved by 0.01 for 1 of 2 rounds",
				3: "logme -0.4480 has not improved by 0.01 for 2 rounds (last gain of 0.01 or more: -0.4500 at round 2; best -0.4450): re-align",
			},
		},
		{
			name:    "plateau below the best",
			cfg:     plateau,
			values:  []float64{-0.45, -0.46, -0.47},
			updates: []bool{false, false, true},
			reason: map[int]string{
				1: "logme -0.4600 has not improved by 0.01 for 1 of 2 rounds (best -0.4500 at round 1): keep",
				2: "logme -0.4700 has not improved by 0.01 for 2 rounds (best -0.4500 at round 1): re-align",
			},
		},
		{
			name:    "small gains do not move the best",
			cfg:     plateau,
			values:  []float64{-0.50, -0.495, -0.491, -0.489},
			updates: []bool{false, false, true, false},
		},
		{
			name:    "improvement restarts patience",
			cfg:     plateau,
			values:  []float64{-0.5, -0.5, -0.4, -0.4, -0.35, -0.36, -0.37},
			updates: []bool{false, false, false, false, false, false, true},
		},
		{
			name:    "reset starts a new history",
			cfg:     plateau,
			values:  []float64{-0.5, -0.5, -0.5, reset, -0.2, -0.2, -0.2},
			updates: []bool{false, false, true, false, false, true},
		},
		{
			name:    "without reset an update restarts patience",
			cfg:     plateau,
			values:  []float64{-0.5, -0.5, -0.5, -0.5, -0.5},
			updates: []bool{false, false, true, false, true},
		},
		{
			name:    "max updates",
			cfg:     with(func(c *IndicatorConfig) { c.Patience, c.MaxUpdates = 1, 2 }),
			values:  []float64{-0.5, -0.5, reset, -0.5, -0.5, reset, -0.5, -0.5},
			updates: []bool{false, true, false, true, false, false},
			reason:  map[int]string{5: "already 2 re-alignments (max 2)"},
		},
		{
			name:    "min labels",
			cfg:     plateau,
			values:  []float64{-0.5, -0.5, -0.5, -0.5},
			labels:  []int{10, 20, 30, 60},
			updates: []bool{false, false, false, true},
			reason:  map[int]string{2: "only 30 labels (< 50)"},
		},
		{
			name:    "threshold",
			cfg:     with(func(c *IndicatorConfig) { c.Rule = RuleThreshold; c.Threshold = -0.4 }),
			values:  []float64{-0.3, -0.4, -0.41, reset, -0.2},
			updates: []bool{false, false, true, false},
			reason:  map[int]string{2: "logme -0.4100 is below threshold -0.4000: re-align", 1: "not below"},
		},
		{
			name:    "every",
			cfg:     with(func(c *IndicatorConfig) { c.Rule = RuleEvery; c.Every = 2; c.MaxUpdates = 0 }),
			values:  []float64{1, 2, reset, 3, 4, 5, 6, 7},
			updates: []bool{false, true, false, true, false, true, false},
		},
		{
			name:    "never",
			cfg:     with(func(c *IndicatorConfig) { c.Rule = RuleNever }),
			values:  []float64{-0.5, -0.5, -0.5, -0.5},
			updates: []bool{false, false, false, false},
			reason:  map[int]string{3: "SVPp"},
		},
		{
			name:    "invalid config never updates",
			cfg:     with(func(c *IndicatorConfig) { c.Rule = "sometimes" }),
			values:  []float64{-0.5, -0.5, -0.5},
			updates: []bool{false, false, false},
			reason:  map[int]string{0: "unknown rule"},
		},
		{
			name:    "nan counts as no improvement",
			cfg:     plateau,
			values:  []float64{-0.5, math.NaN(), math.NaN()},
			updates: []bool{false, false, true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ind := NewIndicator(tc.cfg)
			step, round := 0, 1 // rounds count from 1, as users count them
			var got []bool
			for _, v := range tc.values {
				if v == reset {
					ind.Reset()
					continue
				}
				labels := 100
				if tc.labels != nil {
					labels = tc.labels[step]
				}
				d := ind.Observe(round, labels, v)
				if d.Round != round || d.Labels != labels || (d.Value != v && v == v) {
					t.Errorf("step %d: decision %+v does not echo round %d labels %d value %g", step, d, round, labels, v)
				}
				if d.Reason == "" {
					t.Errorf("step %d: empty reason", step)
				}
				if i := strings.Index(d.Reason, "best "); i >= 0 && v == v {
					var best float64
					if _, err := fmt.Sscanf(d.Reason[i:], "best %g", &best); err == nil && best < v {
						t.Errorf("step %d: reason %q calls %g the best, below the current %g", step, d.Reason, best, v)
					}
				}
				if want, ok := tc.reason[step]; ok && !strings.Contains(d.Reason, want) {
					t.Errorf("step %d: reason %q, want it to contain %q", step, d.Reason, want)
				}
				got = append(got, d.Update)
				step++
				round++
			}
			if len(got) != len(tc.updates) {
				t.Fatalf("%d decisions, want %d", len(got), len(tc.updates))
			}
			count := 0
			for i := range got {
				if got[i] != tc.updates[i] {
					t.Errorf("updates %v, want %v", got, tc.updates)
					break
				}
				if got[i] {
					count++
				}
			}
			if ind.Updates() != count || len(ind.Log()) != len(got) {
				t.Errorf("Updates() = %d, Log has %d entries; want %d and %d", ind.Updates(), len(ind.Log()), count, len(got))
			}
		})
	}
}

func TestIndicatorConfigValidate(t *testing.T) {
	with := func(f func(*IndicatorConfig)) IndicatorConfig { c := DefaultIndicatorConfig(); f(&c); return c }
	tests := []struct {
		name string
		cfg  IndicatorConfig
		ok   bool
	}{
		{"default", DefaultIndicatorConfig(), true},
		{"never", with(func(c *IndicatorConfig) { c.Rule = RuleNever }), true},
		{"empty rule", with(func(c *IndicatorConfig) { c.Rule = "" }), false},
		{"zero patience", with(func(c *IndicatorConfig) { c.Patience = 0 }), false},
		{"negative gain", with(func(c *IndicatorConfig) { c.MinGain = -1 }), false},
		{"every zero", with(func(c *IndicatorConfig) { c.Rule = RuleEvery; c.Every = 0 }), false},
		{"threshold nan", with(func(c *IndicatorConfig) { c.Rule = RuleThreshold; c.Threshold = math.NaN() }), false},
		{"negative max", with(func(c *IndicatorConfig) { c.MaxUpdates = -1 }), false},
		{"negative min labels", with(func(c *IndicatorConfig) { c.MinLabels = -1 }), false},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrIndicatorConfig)) {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestTrainingMethod(t *testing.T) {
	tests := []struct {
		mode    string
		updates int
		want    string
		reason  string
	}{
		{"", 0, "lpft", "no re-alignment yet"},
		{"auto", 0, "lpft", "no re-alignment yet"},
		{"auto", 1, "ft", "re-aligned 1 time"},
		{"auto", 3, "ft", "re-aligned 3 time"},
		{"lpft", 2, "lpft", "always"},
		{"ft", 0, "ft", "always"},
		{"lp", 5, "lp", "always"},
		{"bogus", 0, "lpft", "unknown switch mode"},
		{"bogus", 1, "ft", "unknown switch mode"},
	}
	for _, tc := range tests {
		m, r := TrainingMethod(tc.updates, SwitchConfig{Mode: tc.mode})
		if m != tc.want || !strings.Contains(r, tc.reason) {
			t.Errorf("TrainingMethod(%d, %q) = %q, %q; want %q and a reason containing %q", tc.updates, tc.mode, m, r, tc.want, tc.reason)
		}
		if err := (SwitchConfig{Mode: tc.mode}).Validate(); (err == nil) == (tc.mode == "bogus") {
			t.Errorf("Validate(%q) = %v", tc.mode, err)
		}
	}
}

// TestReplayCountsRoundsFromOne: the live loop's verdict counts rounds
// from 1, the first observation on the generation, as users do.
func TestReplayCountsRoundsFromOne(t *testing.T) {
	hist := []Point{{Labels: 60, LogME: -0.45}, {Labels: 70, LogME: -0.46}, {Labels: 80, LogME: -0.47}}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "is the best on these features"},
		{2, "for 1 of 2 rounds (best -0.4500 at round 1): keep"},
		{3, "for 2 rounds (best -0.4500 at round 1): re-align"},
	} {
		d := Replay(DefaultIndicatorConfig(), hist[:tc.n], 0)
		if d.Round != tc.n || !strings.Contains(d.Reason, tc.want) {
			t.Errorf("after %d rounds: round %d, reason %q; want round %d and %q", tc.n, d.Round, d.Reason, tc.n, tc.want)
		}
	}
}
