package simulate

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func curve(pts ...float64) []CurvePoint {
	var c []CurvePoint
	for i := 0; i < len(pts); i += 2 {
		c = append(c, CurvePoint{Labels: int(pts[i]), Mean: pts[i+1]})
	}
	return c
}

func TestLearningCurve(t *testing.T) {
	got := LearningCurve([]int{20, 10, 10, 20, 30}, []float64{0.6, 0.5, 0.7, 0.8, 0.9})
	// By hand: at 10 mean 0.6, std sqrt((0.01+0.01)/1); at 20 mean 0.7, the same std; at 30 one seed.
	want := []CurvePoint{{10, 0.6, math.Sqrt(0.02), 2}, {20, 0.7, math.Sqrt(0.02), 2}, {30, 0.9, 0, 1}}
	if len(got) != len(want) {
		t.Fatalf("got %d points, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Labels != w.Labels || !near(g.Mean, w.Mean) || !near(g.Std, w.Std) || g.N != w.N {
			t.Errorf("point %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestAUC(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    []CurvePoint
		want float64
	}{
		// (10*(0.5+0.7)/2 + 20*(0.7+0.9)/2) / 30 = (6 + 16) / 30.
		{"three points", curve(0, 0.5, 10, 0.7, 30, 0.9), 22.0 / 30},
		{"constant", curve(100, 0.8, 200, 0.8, 400, 0.8), 0.8},
		{"one point", curve(100, 0.42), 0.42},
	} {
		if got := AUC(tc.c); !near(got, tc.want) {
			t.Errorf("%s: AUC %v, want %v", tc.name, got, tc.want)
		}
	}
	if !math.IsNaN(AUC(nil)) {
		t.Error("empty curve: want NaN")
	}
}

// Curves for the crossing rule: rising, with a dip, saturated (flat from the
// start), starting high then falling below its start, and with a plateau.
var (
	risingCurve   = curve(100, 0.5, 200, 0.6, 300, 0.7)
	bumpyCurve    = curve(100, 0.5, 200, 0.7, 300, 0.6, 400, 0.8)
	flatCurve     = curve(10, 1, 20, 1, 30, 1)
	startHigh     = curve(100, 0.8, 200, 0.6, 300, 0.9)
	plateauCurve  = curve(100, 0.5, 200, 0.7, 300, 0.7, 400, 0.9)
	crossingCases = []struct {
		name string
		c    []CurvePoint
		a    float64
		// reach is LabelsToReach's answer, forLabels LabelsFor's; NaN: not ok.
		reach, forLabels float64
	}{
		{"interior", risingCurve, 0.65, 250, 250},
		{"first point", risingCurve, 0.5, 100, 100},
		{"last point", risingCurve, 0.7, 300, 300},
		{"below the first budget", risingCurve, 0.45, 100, math.NaN()},
		{"above range", risingCurve, 0.75, math.NaN(), math.NaN()},
		// The falling segment 200..300 also crosses 0.65 (at 250): ignored.
		{"first upward crossing before a dip", bumpyCurve, 0.65, 175, 175},
		// The dip touches 0.6 at 300; random got there at 150 already.
		{"dip back to an accuracy reached earlier", bumpyCurve, 0.6, 150, 150},
		{"only crossing after a dip", bumpyCurve, 0.75, 375, 375},
		{"saturated from the start", flatCurve, 1, 10, 10},
		{"below a saturated curve", flatCurve, 0.9, 10, math.NaN()},
		// Starts at 0.8 and falls through 0.7 at 150: that is no crossing.
		{"falling segment below the start", startHigh, 0.7, 100, math.NaN()},
		{"at the start of a curve that falls", startHigh, 0.8, 100, 100},
		{"rising after the dip", startHigh, 0.85, 200 + 100*0.25/0.3, 200 + 100*0.25/0.3},
		{"flat stretch at a: its start", plateauCurve, 0.7, 200, 200},
		{"past a flat stretch", plateauCurve, 0.8, 350, 350},
		{"NaN accuracy", risingCurve, math.NaN(), math.NaN(), math.NaN()},
		{"empty curve", nil, 0.5, math.NaN(), math.NaN()},
	}
)

func TestLabelsForAndLabelsToReach(t *testing.T) {
	check := func(t *testing.T, fn string, got float64, ok bool, want float64) {
		t.Helper()
		if ok != !math.IsNaN(want) || (ok && !near(got, want)) {
			t.Errorf("%s = %v, %v; want %v (NaN: not ok)", fn, got, ok, want)
		}
	}
	for _, tc := range crossingCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := LabelsToReach(tc.c, tc.a)
			check(t, "LabelsToReach", got, ok, tc.reach)
			got, ok = LabelsFor(tc.c, tc.a)
			check(t, "LabelsFor", got, ok, tc.forLabels)
		})
	}
}

// TestLabelsForFollowsLabelsToReach sweeps accuracies over every curve:
// wherever LabelsFor is defined it equals LabelsToReach (one rule), and it is
// defined exactly from the first budget's accuracy to the best one.
func TestLabelsForFollowsLabelsToReach(t *testing.T) {
	for _, c := range [][]CurvePoint{risingCurve, bumpyCurve, flatCurve, startHigh, plateauCurve} {
		best := math.Inf(-1)
		for _, p := range c {
			best = max(best, p.Mean)
		}
		for a := 0.4; a <= 1.05; a += 0.0125 {
			f, okF := LabelsFor(c, a)
			r, okR := LabelsToReach(c, a)
			if wantOK := a >= c[0].Mean && a <= best; okF != wantOK {
				t.Errorf("curve %v, a %v: LabelsFor ok %v, want %v", c, a, okF, wantOK)
			}
			if okF && (!okR || f != r) {
				t.Errorf("curve %v, a %v: LabelsFor %v, LabelsToReach %v, %v", c, a, f, r, okR)
			}
		}
	}
}

func TestSSR(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		acc  float64
		want float64 // NaN: undefined
	}{
		// Random needs 250 for 0.65: (250-150)/250.
		{"better than random", 150, 0.65, 0.4},
		// Random needs 200 for 0.6: (200-300)/200.
		{"worse than random", 300, 0.6, -0.5},
		{"above random's range", 300, 0.9, math.NaN()},
		{"below random's first budget", 50, 0.45, math.NaN()},
	} {
		got, ok := SSR(risingCurve, tc.n, tc.acc)
		if ok != !math.IsNaN(tc.want) || (ok && !near(got, tc.want)) {
			t.Errorf("%s: SSR = %v, %v; want %v (NaN: undefined)", tc.name, got, ok, tc.want)
		}
	}
}

// TestSSRRandomAgainstItself measures random against its own curve at each
// of its budgets: 0 wherever its mean sets a new high (so at every budget
// of a rising curve), undefined below its first budget's accuracy, and
// negative where it is flat or falls back to an accuracy it reached with
// fewer labels, never positive.
func TestSSRRandomAgainstItself(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		c    []CurvePoint
		want []float64 // per budget; NaN: undefined
	}{
		{"rising", risingCurve, []float64{0, 0, 0}},
		{"rising with uneven steps", curve(10, 0.1, 15, 0.4, 40, 0.45, 100, 0.9), []float64{0, 0, 0, 0}},
		// 0.6 at 300 was first reached at 150: (150-300)/150.
		{"dip", bumpyCurve, []float64{0, 0, -1, 0}},
		// Saturated: 1 was reached at 10 labels.
		{"flat", flatCurve, []float64{0, -1, -2}},
		{"falls below its start", startHigh, []float64{0, nan, 0}},
		// 0.7 at 300 was first reached at 200: (200-300)/200.
		{"plateau", plateauCurve, []float64{0, 0, -0.5, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			best := math.Inf(-1)
			for i, p := range tc.c {
				got, ok := SSR(tc.c, p.Labels, p.Mean)
				want := tc.want[i]
				if ok != !math.IsNaN(want) || (ok && !near(got, want)) {
					t.Errorf("budget %d (%d labels, acc %v): SSR %v, %v; want %v", i, p.Labels, p.Mean, got, ok, want)
				}
				if ok && (got > 0 || (p.Mean > best && got != 0)) {
					t.Errorf("budget %d: SSR %v; want 0 at a new high and never positive", i, got)
				}
				best = max(best, p.Mean)
			}
		})
	}
}

func rec(p string, round, labels, updates int, ph Phases) RoundRecord {
	return RoundRecord{Pipeline: p, Round: round, Labels: labels, Updates: updates, Seconds: ph}
}

func TestRoundCost(t *testing.T) {
	measured := CostConfig{PriceLabel: 0.1, PriceHour: 3, ExtractSeconds: 7200}
	projected := CostConfig{PriceLabel: 0.1, PriceHour: 3, PriceFinetune: 100, PriceExtract: 10}
	std := []RoundRecord{
		rec(PipelineStandard, 0, 100, 0, Phases{Finetune: 3600}),
		rec(PipelineStandard, 1, 200, 0, Phases{Finetune: 3600, Select: 0}),
		rec(PipelineStandard, 2, 300, 0, Phases{Finetune: 3600}),
	}
	svpp := []RoundRecord{
		rec(PipelineSVPP, 0, 100, 0, Phases{EvalTrain: 3600}),
		rec(PipelineSVPP, 1, 200, 0, Phases{ProxyTrain: 1800, Select: 360, EvalTrain: 3600}),
		rec(PipelineSVPP, 2, 300, 0, Phases{ProxyTrain: 1800, Select: 360, EvalTrain: 3600}),
	}
	asvp := []RoundRecord{
		rec(PipelineASVP, 0, 100, 0, Phases{Indicator: 36, EvalTrain: 3600}),
		rec(PipelineASVP, 1, 200, 1, Phases{ProxyTrain: 1800, Select: 360, Indicator: 36, Finetune: 360, Realign: 720, EvalTrain: 3600}),
	}
	for _, tc := range []struct {
		name          string
		recs          []RoundRecord
		cfg           CostConfig
		hours         float64
		compute       float64
		finetunes, ex int
	}{
		// Three hour-long fine-tunes, the last being the final model, and
		// the extraction every pipeline pays: 5 h; 2 passes over the pool.
		{"standard measured", std, measured, 5, 15, 3, 2},
		// 2x1800 + 2x360 selection + 3600 final model + 7200 extraction = 15120 s.
		{"svpp measured", svpp, measured, 4.2, 12.6, 1, 1},
		// 36+1800+360+36+360+720 selection + 3600 final + 7200 extraction = 14112 s.
		{"asvp measured", asvp, measured, 14112.0 / 3600, 3 * 14112.0 / 3600, 2, 2},
		// Projected: 3 fine-tunes x 100 and 2 passes over the pool x 10; no cheap phases.
		{"standard projected", std, projected, 0, 320, 3, 2},
		// 1 fine-tune + 1 extraction, plus 2x(1800+360) s of cheap phases at 3/h.
		{"svpp projected", svpp, projected, 4320.0 / 3600, 110 + 3*4320.0/3600, 1, 1},
		// 2 fine-tunes + 2 extractions, plus 36+1800+360+36 s.
		{"asvp projected", asvp, projected, 2232.0 / 3600, 220 + 3*2232.0/3600, 2, 2},
	} {
		c := RoundCost(tc.recs, tc.cfg)
		labels := tc.recs[len(tc.recs)-1].Labels
		if !near(c.ComputeHours, tc.hours) || !near(c.ComputeUSD, tc.compute) || c.Finetunes != tc.finetunes || c.Extractions != tc.ex ||
			!near(c.LabelingUSD, 0.1*float64(labels)) || !near(c.TotalUSD, c.LabelingUSD+c.ComputeUSD) {
			t.Errorf("%s: %+v; want hours %v compute %v finetunes %d extractions %d", tc.name, c, tc.hours, tc.compute, tc.finetunes, tc.ex)
		}
	}
}

func TestEquivalentSaving(t *testing.T) {
	base := curve(100, 0.5, 200, 0.6, 300, 0.7)
	// M: 150 labels, accuracy 0.65, compute $0.5. B needs 250 labels at
	// compute 2.5 (interpolated): (250-150)x0.1 - (0.5-2.5) = 12 USD = 120 labels.
	s := EquivalentSaving(PipelineStandard, base, []float64{1, 2, 3}, 150, 0.65, 0.5, 0.1)
	if s.USD == nil || !near(*s.USD, 12) || !near(*s.Labels, 120) || !near(*s.BaselineLabels, 250) {
		t.Fatalf("saving %+v, want 12 USD, 120 labels, baseline 250", s)
	}
	s = EquivalentSaving(PipelineStandard, base, []float64{1, 2, 3}, 150, 0.95, 0.5, 0.1)
	if s.USD != nil || s.Labels != nil {
		t.Fatalf("accuracy outside the baseline's curve: %+v, want undefined", s)
	}
	b, _ := json.Marshal(s)
	if !strings.Contains(string(b), `"usd":null`) {
		t.Errorf("undefined saving marshals as %s, want null", b)
	}
}

// TestSummarize builds results by hand for random and standard (two seeds,
// three rounds) and checks the summary's curve, SSR and saving.
func TestSummarize(t *testing.T) {
	res := &Results{Pipelines: []string{PipelineRandom, PipelineStandard}}
	add := func(p string, seed uint64, accs ...float64) {
		for r, a := range accs {
			res.Records = append(res.Records, RoundRecord{Pipeline: p, Seed: seed, Round: r, Labels: 100 * (r + 1), Accuracy: a,
				Seconds: Phases{Finetune: 360}})
		}
	}
	add(PipelineRandom, 1, 0.5, 0.6, 0.7)
	add(PipelineRandom, 2, 0.5, 0.6, 0.7)
	add(PipelineStandard, 1, 0.5, 0.7, 0.8)
	add(PipelineStandard, 2, 0.5, 0.6, 0.8)
	sum := Summarize(res, SummaryOptions{Costs: CostConfig{PriceLabel: 0.1, PriceHour: 10}})
	st := sum.Pipeline(PipelineStandard)
	if st == nil || len(st.Budgets) != 3 {
		t.Fatalf("standard summary %+v", st)
	}
	b1 := st.Budgets[1] // mean 0.65 at 200 labels: random needs 250; SSR 0.2
	if !near(b1.AccMean, 0.65) || !near(b1.AccStd, math.Sqrt(0.005)) || b1.SSR == nil || !near(*b1.SSR, 0.2) {
		t.Errorf("budget 1: %+v (ssr %v)", b1, b1.SSR)
	}
	if st.Final.SSR != nil {
		t.Errorf("final accuracy 0.8 is above random's range: SSR %v, want null", *st.Final.SSR)
	}
	// Compute at round r: (r+1) x 360 s x 10 USD/h = (r+1) USD.
	if !near(st.Final.ComputeUSD, 3) || !near(st.Final.TotalUSD, 33) {
		t.Errorf("final cost: compute %v total %v, want 3 and 33", st.Final.ComputeUSD, st.Final.TotalUSD)
	}
	// Random at round 2 (0.7, 300 labels, $3 compute) vs standard: standard
	// needs 250 labels (first crossing of 0.7 between 0.65 and 0.8 at 200..300:
	// 200 + 100/3) -> compute 2 + 1/3; saving (233.33-300)x0.1 - (3 - 2.333).
	rf := sum.Pipeline(PipelineRandom).Final
	nb := 200 + 100.0/3
	want := (nb-300)*0.1 - (3 - (2 + 1.0/3))
	if rf.VsStandard == nil || rf.VsStandard.USD == nil || !near(*rf.VsStandard.USD, want) {
		t.Errorf("random vs standard: %+v, want %v USD", rf.VsStandard, want)
	}
	if sum.Target == nil || !near(*sum.Target, 0.7) || st.LabelsToTarget == nil || !near(*st.LabelsToTarget, nb) {
		t.Errorf("target %v, standard labels to target %v; want 0.7 and %v", sum.Target, st.LabelsToTarget, nb)
	}
	// Cost to reach the target: 233.33 labels x $0.1 plus compute interpolated
	// between $2 at 200 labels and $3 at 300: 2 + 1/3.
	if at := st.AtTarget; at == nil || !near(at.Labels, nb) || !near(at.LabelingUSD, nb*0.1) ||
		!near(at.ComputeUSD, 2+1.0/3) || !near(at.TotalUSD, nb*0.1+2+1.0/3) {
		t.Errorf("standard cost to target: %+v, want %v labels, $%v compute", st.AtTarget, nb, 2+1.0/3)
	}
	for _, b := range sum.Pipeline(PipelineRandom).Budgets {
		if b.SSR == nil || !near(*b.SSR, 0) {
			t.Errorf("random against its own rising curve at %d labels: SSR %v, want 0", b.Labels, b.SSR)
		}
	}
	if !near(AUC(st.Curve), st.AUC) || !near(st.Phases.Finetune, 3*360) {
		t.Errorf("auc %v phases %+v", st.AUC, st.Phases)
	}
}
