// Package report writes the results of an offline active-learning
// simulation (simulate.Results and its simulate.Summary) as files a
// person or a program can read: results.json (everything), results.csv
// (one row per pipeline, seed and round), report.md, a self-contained
// report.html (plots embedded as base64 PNG, no external URL, no script),
// and the plots learning_curves, total_cost and time_per_phase as PNG and
// SVG.
package report
