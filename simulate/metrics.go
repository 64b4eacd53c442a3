package simulate

import (
	"math"
	"slices"
)

// CurvePoint is one budget of a learning curve: the labels bought and the
// accuracy's mean and spread over seeds.
type CurvePoint struct {
	Labels int     `json:"labels"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"` // sample standard deviation (n-1); 0 with one seed
	N      int     `json:"n"`   // seeds that reached this budget
}

// LearningCurve returns, for each distinct label count in labels (one entry
// per observation, paired with acc), the mean and sample standard deviation
// of the accuracies observed at it, sorted by labels. Inputs are not
// modified. It panics when the slices differ in length, a programmer error.
func LearningCurve(labels []int, acc []float64) []CurvePoint {
	if len(labels) != len(acc) {
		panic("selector: learning curve needs one accuracy per label count")
	}
	by := make(map[int][]float64)
	for i, n := range labels {
		by[n] = append(by[n], acc[i])
	}
	keys := make([]int, 0, len(by))
	for n := range by {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	out := make([]CurvePoint, len(keys))
	for i, n := range keys {
		m, s := meanStd(by[n])
		out[i] = CurvePoint{Labels: n, Mean: m, Std: s, N: len(by[n])}
	}
	return out
}

// meanStd returns the mean and the sample standard deviation (n-1 in the
// denominator; 0 for fewer than two values).
func meanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)-1))
}

// AUC returns the area under a learning curve (mean accuracy against labels)
// by the trapezoid rule, divided by the label range, so that a constant
// accuracy a gives a. A single point gives its accuracy; an empty curve NaN.
func AUC(curve []CurvePoint) float64 {
	switch len(curve) {
	case 0:
		return math.NaN()
	case 1:
		return curve[0].Mean
	}
	area := 0.0
	for i := 1; i < len(curve); i++ {
		area += float64(curve[i].Labels-curve[i-1].Labels) * (curve[i].Mean + curve[i-1].Mean) / 2
	}
	span := float64(curve[len(curve)-1].Labels - curve[0].Labels)
	if span == 0 {
		return curve[0].Mean
	}
	return area / span
}

// LabelsFor returns n_rand(a) of METHOD.md: the labels a learning curve
// needs to reach accuracy a, by the rule of LabelsToReach (the first budget
// at or above a, interpolated linearly on the segment where the curve first
// rises to a; falling and flat segments never move it later). ok is false
// when a is outside the curve's range, which here runs from its first
// budget's mean accuracy to its best mean: above the best the curve never
// gets there, and below the first budget the labels are unknown (fewer than
// the first budget's, by an amount the curve does not measure; a later dip
// below the first budget does not measure it either), so none are invented.
func LabelsFor(curve []CurvePoint, a float64) (labels float64, ok bool) {
	if len(curve) == 0 || math.IsNaN(a) || a < curve[0].Mean {
		return math.NaN(), false
	}
	return LabelsToReach(curve, a)
}

// LabelsToReach returns the labels a learning curve needs to first reach
// accuracy at least target. The curve need not be monotone; the rule is:
// when the first budget's mean is at least target, its labels; otherwise
// the first segment that crosses upward to target (lo.Mean < target <=
// hi.Mean), interpolated linearly. Only the first time the curve gets to
// target counts: a falling segment never defines a crossing, later dips
// and recoveries are ignored, and on a flat stretch at target the labels
// where the stretch starts count. ok is false when no budget reaches target
// (or target is NaN). LabelsFor applies the same rule with range checks.
func LabelsToReach(curve []CurvePoint, target float64) (labels float64, ok bool) {
	for i, p := range curve {
		if p.Mean >= target {
			if i == 0 {
				return float64(p.Labels), true
			}
			// curve[i-1].Mean < target <= p.Mean: an upward crossing.
			lo := curve[i-1]
			t := (target - lo.Mean) / (p.Mean - lo.Mean)
			return float64(lo.Labels) + t*float64(p.Labels-lo.Labels), true
		}
	}
	return math.NaN(), false
}

// SSR returns the sample saving ratio of a method that reaches accuracy acc
// with n labels against the random-sampling curve: (n_rand(acc) - n) /
// n_rand(acc), with n_rand from LabelsFor (the labels at which random first
// reaches acc). ok is false (the ratio is undefined, never invented) when
// acc is outside random's range as LabelsFor defines it.
//
// Random measured against its own curve scores 0 at every budget where its
// mean sets a new high (every budget of a rising curve). Where its mean
// stays flat or falls back to an accuracy it already reached with fewer
// labels, the ratio is negative like any method's would be: those labels
// bought nothing random did not already have, for instance (10, 20, 30
// labels all at accuracy 1) gives 0, -1 and -2.
func SSR(random []CurvePoint, n int, acc float64) (ratio float64, ok bool) {
	nr, ok := LabelsFor(random, acc)
	if !ok || nr <= 0 {
		return math.NaN(), false
	}
	return (nr - float64(n)) / nr, true
}

// interpAt returns y at x by linear interpolation over points (xs ascending);
// outside the range it returns the nearest end value.
func interpAt(xs, ys []float64, x float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	if x <= xs[0] {
		return ys[0]
	}
	for i := 1; i < len(xs); i++ {
		if x <= xs[i] {
			if xs[i] == xs[i-1] {
				return ys[i]
			}
			t := (x - xs[i-1]) / (xs[i] - xs[i-1])
			return ys[i-1] + t*(ys[i]-ys[i-1])
		}
	}
	return ys[len(ys)-1]
}

// some returns a pointer to v (a JSON number), or nil (JSON null) when ok is
// false or v is not finite.
func some(v float64, ok bool) *float64 {
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// SummaryOptions says how to summarise a simulation.
type SummaryOptions struct {
	Costs CostConfig
	// TargetAccuracy is the accuracy whose label count LabelsToTarget
	// reports; 0 means random's final mean accuracy (none without random).
	TargetAccuracy float64
}

// BudgetSummary is one pipeline at one budget, over seeds: accuracy, SSR
// against random, costs (means over seeds) and equivalent savings.
type BudgetSummary struct {
	Round        int      `json:"round"`
	Labels       int      `json:"labels"`
	AccMean      float64  `json:"acc_mean"`
	AccStd       float64  `json:"acc_std"`
	SSR          *float64 `json:"ssr"` // null: outside random's range
	LabelingUSD  float64  `json:"labeling_usd"`
	ComputeUSD   float64  `json:"compute_usd"`
	ComputeStd   float64  `json:"compute_usd_std"`
	TotalUSD     float64  `json:"total_usd"`
	ComputeHours float64  `json:"compute_hours"`
	Finetunes    float64  `json:"finetunes"`
	Extractions  float64  `json:"extractions"`
	VsStandard   *Saving  `json:"saving_vs_standard,omitempty"`
	VsSVPP       *Saving  `json:"saving_vs_svpp,omitempty"`
}

// PipelineSummary summarises one pipeline over seeds.
type PipelineSummary struct {
	Pipeline       string          `json:"pipeline"`
	Seeds          int             `json:"seeds"`
	Curve          []CurvePoint    `json:"curve"`
	AUC            float64         `json:"auc"`
	Budgets        []BudgetSummary `json:"budgets"`
	Final          BudgetSummary   `json:"final"`
	LabelsToTarget *float64        `json:"labels_to_target"` // null: never reached
	AtTarget       *TargetCost     `json:"cost_to_target"`   // null: never reached
	Phases         Phases          `json:"phase_seconds"`    // mean over seeds of the sum over rounds
	Updates        float64         `json:"realignments"`     // mean over seeds
}

// TargetCost is what a pipeline pays to first reach the target accuracy (the
// paper's cost figure compares pipelines at equal accuracy, not at equal
// labels): the labels of LabelsToReach on its mean curve, and the mean
// compute cost interpolated at that label count on its budgets.
type TargetCost struct {
	Labels      float64 `json:"labels"`
	LabelingUSD float64 `json:"labeling_usd"`
	ComputeUSD  float64 `json:"compute_usd"`
	TotalUSD    float64 `json:"total_usd"`
}

// Summary is the metrics of a simulation.
type Summary struct {
	Costs     CostConfig        `json:"costs"`
	Projected bool              `json:"projected"`
	Target    *float64          `json:"target_accuracy"`
	Pipelines []PipelineSummary `json:"pipelines"`
}

// Pipeline returns the summary of pipeline name, or nil.
func (s *Summary) Pipeline(name string) *PipelineSummary {
	for i := range s.Pipelines {
		if s.Pipelines[i].Pipeline == name {
			return &s.Pipelines[i]
		}
	}
	return nil
}

// Runs groups records by pipeline and seed: runs[p][seed] holds rounds in order.
func Runs(recs []RoundRecord) map[string]map[uint64][]RoundRecord {
	out := make(map[string]map[uint64][]RoundRecord)
	for _, r := range recs {
		if out[r.Pipeline] == nil {
			out[r.Pipeline] = make(map[uint64][]RoundRecord)
		}
		out[r.Pipeline][r.Seed] = append(out[r.Pipeline][r.Seed], r)
	}
	for _, bySeed := range out {
		for _, rs := range bySeed {
			slices.SortFunc(rs, func(a, b RoundRecord) int { return a.Round - b.Round })
		}
	}
	return out
}

// Summarize computes learning curves, AUC, SSR against random, costs and
// equivalent savings of every pipeline of res. Metrics that need a
// pipeline that did not run (random for SSR, standard or svpp for savings)
// are left null.
func Summarize(res *Results, opts SummaryOptions) *Summary {
	sum := &Summary{Costs: opts.Costs, Projected: opts.Costs.Projected()}
	runs := Runs(res.Records)
	order := slices.Clone(res.Pipelines)
	for p := range runs {
		if !slices.Contains(order, p) {
			order = append(order, p)
		}
	}
	computeCurve := map[string][]float64{}
	for _, p := range order {
		bySeed := runs[p]
		if len(bySeed) == 0 {
			continue
		}
		ps := PipelineSummary{Pipeline: p, Seeds: len(bySeed)}
		var labels []int
		var accs []float64
		rounds := 0
		for _, rs := range bySeed {
			rounds = max(rounds, len(rs))
			for _, r := range rs {
				labels = append(labels, r.Labels)
				accs = append(accs, r.Accuracy)
			}
			var ph Phases
			for _, r := range rs {
				ph.ProxyTrain += r.Seconds.ProxyTrain
				ph.Select += r.Seconds.Select
				ph.Indicator += r.Seconds.Indicator
				ph.Finetune += r.Seconds.Finetune
				ph.Realign += r.Seconds.Realign
				ph.EvalTrain += r.Seconds.EvalTrain
			}
			n := float64(len(bySeed))
			ps.Phases.ProxyTrain += ph.ProxyTrain / n
			ps.Phases.Select += ph.Select / n
			ps.Phases.Indicator += ph.Indicator / n
			ps.Phases.Finetune += ph.Finetune / n
			ps.Phases.Realign += ph.Realign / n
			ps.Phases.EvalTrain += ph.EvalTrain / n
			ps.Updates += float64(rs[len(rs)-1].Updates) / n
		}
		ps.Curve = LearningCurve(labels, accs)
		ps.AUC = AUC(ps.Curve)
		for r := range rounds {
			b := BudgetSummary{Round: r}
			var acc, comp []float64
			for _, rs := range bySeed {
				if r >= len(rs) {
					continue
				}
				c := RoundCost(rs[:r+1], opts.Costs)
				b.Labels = rs[r].Labels
				acc = append(acc, rs[r].Accuracy)
				comp = append(comp, c.ComputeUSD)
				k := float64(len(bySeed))
				b.LabelingUSD += c.LabelingUSD / k
				b.ComputeHours += c.ComputeHours / k
				b.Finetunes += float64(c.Finetunes) / k
				b.Extractions += float64(c.Extractions) / k
			}
			b.AccMean, b.AccStd = meanStd(acc)
			b.ComputeUSD, b.ComputeStd = meanStd(comp)
			b.TotalUSD = b.LabelingUSD + b.ComputeUSD
			ps.Budgets = append(ps.Budgets, b)
			computeCurve[p] = append(computeCurve[p], b.ComputeUSD)
		}
		if len(ps.Budgets) > 0 {
			ps.Final = ps.Budgets[len(ps.Budgets)-1]
		}
		sum.Pipelines = append(sum.Pipelines, ps)
	}
	random := sum.Pipeline(PipelineRandom)
	target := opts.TargetAccuracy
	if target == 0 && random != nil {
		target = random.Final.AccMean
	}
	sum.Target = some(target, target != 0)
	for i := range sum.Pipelines {
		ps := &sum.Pipelines[i]
		if sum.Target != nil {
			ps.LabelsToTarget = some(LabelsToReach(ps.Curve, target))
		}
		if ps.LabelsToTarget != nil && len(ps.Budgets) > 0 {
			xs := make([]float64, len(ps.Budgets))
			for k, b := range ps.Budgets {
				xs[k] = float64(b.Labels)
			}
			n := *ps.LabelsToTarget
			c := interpAt(xs, computeCurve[ps.Pipeline], n)
			lab := n * opts.Costs.PriceLabel
			ps.AtTarget = &TargetCost{Labels: n, LabelingUSD: lab, ComputeUSD: c, TotalUSD: lab + c}
		}
		for j := range ps.Budgets {
			b := &ps.Budgets[j]
			if random != nil {
				b.SSR = some(SSR(random.Curve, b.Labels, b.AccMean))
			}
			for _, base := range []string{PipelineStandard, PipelineSVPP} {
				bs := sum.Pipeline(base)
				if bs == nil || base == ps.Pipeline {
					continue
				}
				sv := EquivalentSaving(base, bs.Curve, computeCurve[base], b.Labels, b.AccMean, b.ComputeUSD, opts.Costs.PriceLabel)
				if base == PipelineStandard {
					b.VsStandard = &sv
				} else {
					b.VsSVPP = &sv
				}
			}
		}
		if len(ps.Budgets) > 0 {
			ps.Final = ps.Budgets[len(ps.Budgets)-1]
		}
	}
	return sum
}
