package simulate

// CostConfig prices labels and compute (METHOD.md, "Costs and the metrics
// to report").
//
// Measured mode (PriceFinetune and PriceExtract zero): compute cost =
// PriceHour x measured hours of everything a pipeline ran: the
// selection-related phases of every round so far (proxy training, scoring
// and selection, LogME, fine-tuning, the passes over the pool with a
// fine-tuned model: standard's selection, asvp's re-alignment), the
// training of the model reported at that budget (every pipeline pays for
// its final model once; standard's last per-round fine-tune is that
// model), and ExtractSeconds, the extraction of the pool, which every
// pipeline needs (the proxies' features; the activations the models
// fine-tune from).
//
// Projected mode (PriceFinetune or PriceExtract set): the fine-tunes and
// passes over the pool of the real model at the user's scale are priced
// per event instead of by the simulation's clock: standard pays one
// fine-tune per round (round 0 included: its model at a budget is its
// final model) and one pass over the pool per selection round; random and
// svpp one fine-tune (the final model); asvp (and asvp-ft) one fine-tune
// per re-alignment plus the final one; svpp and asvp one extraction, asvp
// one more pass per re-alignment. The cheap phases (proxy training,
// selection, LogME) stay measured and priced at PriceHour, since they run
// on cached features at any scale.
type CostConfig struct {
	PriceLabel     float64 `json:"price_label"`     // USD per label
	PriceHour      float64 `json:"price_hour"`      // USD per compute hour
	PriceFinetune  float64 `json:"price_finetune"`  // USD per fine-tune of the real model (projected mode)
	PriceExtract   float64 `json:"price_extract"`   // USD per pass of the real model over the pool (projected mode)
	ExtractSeconds float64 `json:"extract_seconds"` // measured extraction time of the features (measured mode)
}

// Default prices: USD 0.10 per label, USD 3.00 per compute hour (a cloud GPU).
const (
	DefaultPriceLabel = 0.10
	DefaultPriceHour  = 3.00
)

// DefaultCostConfig returns the default prices in measured mode.
func DefaultCostConfig() CostConfig {
	return CostConfig{PriceLabel: DefaultPriceLabel, PriceHour: DefaultPriceHour}
}

// Projected reports whether fine-tunes and extractions are priced per event.
func (c CostConfig) Projected() bool { return c.PriceFinetune > 0 || c.PriceExtract > 0 }

// Cost is what a pipeline spent up to a budget.
type Cost struct {
	Labels       int     `json:"labels"`
	LabelingUSD  float64 `json:"labeling_usd"`
	ComputeUSD   float64 `json:"compute_usd"`
	TotalUSD     float64 `json:"total_usd"`
	ComputeHours float64 `json:"compute_hours"` // hours priced at PriceHour
	Finetunes    int     `json:"finetunes"`     // fine-tunes of the real model (counted in both modes)
	Extractions  int     `json:"extractions"`   // passes of the real model over the pool (counted in both modes)
}

// RoundCost returns the cost of one pipeline and seed after the last of
// recs, which must be its rounds 0..r in order.
func RoundCost(recs []RoundRecord, cfg CostConfig) Cost {
	if len(recs) == 0 {
		return Cost{}
	}
	last := recs[len(recs)-1]
	c := Cost{Labels: last.Labels}
	c.LabelingUSD = cfg.PriceLabel * float64(last.Labels)
	switch last.Pipeline {
	case PipelineStandard:
		c.Finetunes, c.Extractions = len(recs), len(recs)-1
	case PipelineASVP, PipelineASVPFT:
		c.Finetunes = last.Updates + 1
		c.Extractions = last.Updates + 1
	case PipelineSVPP:
		c.Finetunes, c.Extractions = 1, 1
	default:
		c.Finetunes = 1
	}
	var seconds float64
	if cfg.Projected() {
		for _, r := range recs {
			seconds += r.Seconds.ProxyTrain + r.Seconds.Select + r.Seconds.Indicator
		}
		c.ComputeUSD = cfg.PriceFinetune*float64(c.Finetunes) + cfg.PriceExtract*float64(c.Extractions)
	} else {
		for _, r := range recs {
			seconds += r.Seconds.SelectionSeconds()
		}
		seconds += last.Seconds.EvalTrain + cfg.ExtractSeconds
	}
	c.ComputeHours = seconds / 3600
	c.ComputeUSD += cfg.PriceHour * c.ComputeHours
	c.TotalUSD = c.LabelingUSD + c.ComputeUSD
	return c
}

// Saving is the equivalent saving of a method M against a baseline B at
// M's accuracy: (labels B needs - labels M needs) x price per label -
// (compute cost of M - compute cost of B), and the same in labels. B's
// labels come from LabelsFor on its mean learning curve (where it first
// reaches M's accuracy) and its compute cost from interpolating its mean
// compute cost over labels. Positive means M is cheaper. Nil fields are
// undefined: M's accuracy is outside B's range (see LabelsFor).
type Saving struct {
	Baseline       string   `json:"baseline"`
	BaselineLabels *float64 `json:"baseline_labels"`
	USD            *float64 `json:"usd"`
	Labels         *float64 `json:"labels"`
}

// EquivalentSaving returns the saving of a method that reaches accuracy acc
// with n labels at compute cost computeUSD, against baseline (its mean
// curve and its mean compute cost at each point of the curve).
func EquivalentSaving(baseline string, curve []CurvePoint, computeUSD []float64, n int, acc, mComputeUSD, priceLabel float64) Saving {
	s := Saving{Baseline: baseline}
	nb, ok := LabelsFor(curve, acc)
	if !ok {
		return s
	}
	xs := make([]float64, len(curve))
	for i, p := range curve {
		xs[i] = float64(p.Labels)
	}
	cb := interpAt(xs, computeUSD, nb)
	usd := (nb-float64(n))*priceLabel - (mComputeUSD - cb)
	s.BaselineLabels = some(nb, true)
	s.USD = some(usd, true)
	if priceLabel > 0 {
		s.Labels = some(usd/priceLabel, true)
	}
	return s
}
