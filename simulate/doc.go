// Package simulate runs active learning offline, with oracle labels, to
// answer "would this have saved money here?": the random baseline, standard
// AL, SVPp and ASVP (METHOD.md, "The three pipelines"), their metrics and
// their costs.
//
// # Types
//
//   - Config and Data: what to run (pipelines, strategy, proxy, budgets,
//     seeds, the re-alignment rule and switch, training recipes) and on what
//     (an open cache, the pool and test feature sets, oracle labels).
//   - Run: runs or resumes every pipeline and seed round by round, storing
//     each finished round in the cache (a killed run resumes to the same
//     bits), and returns Results: one RoundRecord per round with its picks,
//     accuracy, training method, indicator verdict and seconds per phase.
//   - Config.Shard/Shards and Join: a part runs every n-th (pipeline, seed)
//     (each unit's results depend on its seed only), and Join puts the
//     parts' Results together into those of the whole run.
//   - Summarize: learning curves (CurvePoint), AUC, sample saving ratio,
//     labels to reach a target accuracy and costs (CostConfig, Cost,
//     Saving) per pipeline, as a Summary that package report renders.
//
// Every random choice derives from a seed through selector.RoundSeed, so the
// same settings give the same results, and a live `asvp select` with a
// simulation's seed and round picks what that round picked.
package simulate
