// Package realign decides when the features the proxy selects on should be
// re-aligned with the fine-tuned model, and how the final model is trained
// (ASVP's two alignments, METHOD.md).
//
// # Types
//
//   - LogME: the indicator's measure, the log evidence per sample of a
//     labelled set's features under a Bayesian linear model (You et al.).
//   - IndicatorConfig and Indicator: the rule (plateau, threshold, every,
//     never) fed one LogME value per round; Observe returns an
//     IndicatorDecision with its reason, so every verdict is logged.
//     Replay runs a stored history through the rule, as the live loop does
//     across separate runs of `asvp select`.
//   - SwitchConfig and TrainingMethod: LP-FT while the proxy still selects
//     on pre-trained features, FT once they have been re-aligned.
//
// The package computes on a features.Matrix and stores nothing: the cache
// keeps the history (cache.Set.PutIndicatorPoint), the live loop and the
// simulator act on the verdicts.
package realign
