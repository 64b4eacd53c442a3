// Package loop is the live active-learning loop on a feature cache, one
// function per step, each taking an options struct and returning a result
// that the CLI prints as JSON:
//
//   - Extract: run a backbone over a dataset into the cache (batched,
//     incremental, resumable, sharded), with the dataset's own labels as
//     its oracle label set and the pass's wall time.
//   - Select: train a proxy on the labelled samples' features, pick the
//     next batch with a strategy, and report the re-alignment indicator.
//   - Finetune: train the built-in network on the labelled set and store
//     its features of every sample as a new generation (a re-alignment).
//   - Align: re-extract a feature set with a fine-tuned ONNX model, or
//     with the one a trainer command returns, into a new generation.
//   - Export: one ONNX file of backbone and fine-tuned network.
//   - ImportLabels: merge labels from Label Studio or a CSV into the
//     labelled file.
//   - Probe: linear-probe accuracy of each cached output.
//   - Simulate: the offline simulation (package simulate) with its oracle
//     labels, costs and report.
//
// Errors describe the problem, not the command line: a bad option is an
// *OptionError naming the option, which the CLI turns into its flag. Every
// function that writes to the cache returns the error of closing it.
package loop
