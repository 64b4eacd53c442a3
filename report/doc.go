// Package report writes the results of an offline active-learning
// simulation (simulate.Results and its simulate.Summary) as files a
// person or a program can read: results.json (everything), results.csv
// (one row per pipeline, seed and round), report.md, a self-contained
// report.html (plots embedded as base64 PNG, no external URL, no script),
// and the plots learning_curves, total_cost and time_per_phase as PNG and
// SVG.
//
// The plots are 10 x 5 inches (the PNG 1440 x 720 pixels, so that
// report.html shows them at a page's full width without upscaling), with
// their legend in a column beside the data and a blank margin, so that
// nothing is clipped. In the learning curves each pipeline has its own
// colour, dash pattern and hollow marker, so that curves that coincide
// stay visible, and the ±std band is clipped to accuracy's range [0, 1].
// Numbers that round to zero are written without a sign, as the CLI
// writes them (FormatOpt).
package report
