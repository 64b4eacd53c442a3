// Package selector chooses which samples of a pool to label next: cheap
// proxies trained on a feature matrix, and the query strategies that use
// them. It needs no store: it computes on a features.Matrix.
//
// # Types
//
//   - Proxy: a trained classifier that gives class probabilities and an
//     embedding for rows of a matrix. TrainProxy builds one from a
//     ProxyConfig: a multinomial logistic regression ("linear") or the ASVP
//     paper's MLP ("mlp"); NetProxy wraps a fine-tuned nn.Net.
//   - Strategy: ranks or samples the unlabeled rows for a Request (pool,
//     labeled mask, budget, seed, proxy) and returns Picks. NewStrategy
//     knows random, the uncertainty scores (least-confidence, margin,
//     entropy) and their power-sampling variants, core-set k-center greedy,
//     BADGE and TypiClust; NeedsProxy says which of them score with a model.
//   - RoundSeed: the one derivation of every per-round random stream from a
//     run's seed, shared by the live loop and the simulator, so that a live
//     round with a simulation's seed and round picks what that round picked.
//
// Picks are written as CSV, JSON lines or Label Studio tasks
// (WritePicksCSV, WritePicksJSONL, WriteLabelStudioTasks).
//
// # Determinism
//
// Every strategy streams over the pool in fixed row blocks, keeps O(n)
// state, and gives the same picks for a seed whatever the worker count. The
// uncertainty strategies take rows whose scores tie in an order drawn from
// the seed, never in dataset order.
package selector
