package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/simulate"
)

// Files lists what Write wrote, as paths.
type Files struct {
	JSON, CSV, Markdown, HTML string
	Plots                     []string // PNG and SVG files
}

// Document is the content of results.json.
type Document struct {
	Results *simulate.Results `json:"results"`
	Summary *simulate.Summary `json:"summary"`
}

// Write writes the report of res and its summary sum into dir, creating
// dir when missing and replacing earlier files of the same names.
func Write(dir string, res *simulate.Results, sum *simulate.Summary) (Files, error) {
	var f Files
	if res == nil || sum == nil {
		return f, fmt.Errorf("report: nothing to write (results %v, summary %v)", res != nil, sum != nil)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, fmt.Errorf("report: %w", err)
	}
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(dir, name)
		if err := atomicfile.WriteBytes(p, b); err != nil {
			return "", fmt.Errorf("report: %w", err)
		}
		return p, nil
	}
	js, err := json.MarshalIndent(Document{Results: res, Summary: sum}, "", "  ")
	if err != nil {
		return f, fmt.Errorf("report: results.json: %w", err)
	}
	if f.JSON, err = write("results.json", append(js, '\n')); err != nil {
		return f, err
	}
	cs, err := resultsCSV(res, sum.Costs)
	if err != nil {
		return f, err
	}
	if f.CSV, err = write("results.csv", cs); err != nil {
		return f, err
	}
	var figs []figure
	for _, mk := range []func(*simulate.Summary) (figure, error){learningCurves, totalCost, timePerPhase} {
		fig, err := mk(sum)
		if err != nil {
			return f, err
		}
		figs = append(figs, fig)
		for _, x := range []struct {
			ext string
			b   []byte
		}{{"png", fig.PNG}, {"svg", fig.SVG}} {
			p, err := write(fig.Name+"."+x.ext, x.b)
			if err != nil {
				return f, err
			}
			f.Plots = append(f.Plots, p)
		}
	}
	if f.Markdown, err = write("report.md", markdown(res, sum, figs)); err != nil {
		return f, err
	}
	h, err := htmlReport(res, sum, figs)
	if err != nil {
		return f, err
	}
	if f.HTML, err = write("report.html", h); err != nil {
		return f, err
	}
	return f, nil
}

// resultsCSV has one row per pipeline, seed and round, with the cost of
// that seed's run up to the round.
func resultsCSV(res *simulate.Results, costs simulate.CostConfig) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"pipeline", "seed", "round", "labels", "accuracy", "train_accuracy", "method",
		"proxy_train_s", "select_s", "indicator_s", "finetune_s", "realign_s", "eval_train_s",
		"select_gen", "pool_gen", "test_gen", "realigned", "updates", "indicator_value", "indicator_update",
		"labeling_usd", "compute_usd", "total_usd"})
	runs := simulate.Runs(res.Records)
	for _, r := range res.Records {
		run := runs[r.Pipeline][r.Seed]
		var upto []simulate.RoundRecord
		for _, x := range run {
			if x.Round <= r.Round {
				upto = append(upto, x)
			}
		}
		c := simulate.RoundCost(upto, costs)
		iv, iu := "", ""
		if r.Indicator != nil {
			iv, iu = ff(r.Indicator.Value), strconv.FormatBool(r.Indicator.Update)
		}
		s := r.Seconds
		w.Write([]string{r.Pipeline, strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Round), strconv.Itoa(r.Labels),
			ff(r.Accuracy), ff(r.TrainAcc), r.Method,
			ff(s.ProxyTrain), ff(s.Select), ff(s.Indicator), ff(s.Finetune), ff(s.Realign), ff(s.EvalTrain),
			strconv.Itoa(r.SelectGen), strconv.Itoa(r.PoolGen), strconv.Itoa(r.TestGen), strconv.FormatBool(r.Realigned),
			strconv.Itoa(r.Updates), iv, iu, ff(c.LabelingUSD), ff(c.ComputeUSD), ff(c.TotalUSD)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("report: results.csv: %w", err)
	}
	return b.Bytes(), nil
}

func ff(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// FormatOpt formats an optional number with format, "n/a" when v is nil.
// A number that rounds to zero has no sign: never "-0.000", and with a
// signed format such as "%+.2f" "0.00" rather than "+0.00" or "-0.00".
// The CLI's tables use it too, so that they and the report agree.
func FormatOpt(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return unsignedZero(fmt.Sprintf(format, *v))
}

// unsignedZero drops the sign of a formatted number whose digits are all
// zero.
func unsignedZero(s string) string {
	if strings.Trim(s, "+-0.") == "" {
		return strings.TrimLeft(s, "+-")
	}
	return s
}

// usd formats dollars with cents, or with four decimals below a cent; an
// amount that rounds to zero is "$0.00", a negative one "-$1.50".
func usd(v float64) string {
	s := fmt.Sprintf("%.2f", math.Abs(v))
	if math.Abs(v) < 0.01 {
		s = fmt.Sprintf("%.4f", math.Abs(v))
	}
	if strings.Trim(s, "0.") == "" {
		return "$0.00"
	}
	if v < 0 {
		return "-$" + s
	}
	return "$" + s
}

func saving(s *simulate.Saving) string {
	if s == nil {
		return "—"
	}
	if s.USD == nil {
		return "n/a"
	}
	l := ""
	if s.Labels != nil {
		l = " (" + FormatOpt(s.Labels, "%+.0f") + " labels)"
	}
	return FormatOpt(s.USD, "%+.2f") + " USD" + l
}

// table is a header and rows of cells, rendered as markdown or HTML.
type table struct {
	Caption string
	Head    []string
	Rows    [][]string
	Text    []int // columns of words rather than numbers: left-aligned in HTML (the first always is)
}

// IsText reports whether column i holds words rather than numbers.
func (t table) IsText(i int) bool { return slices.Contains(t.Text, i) }

func (t table) markdown(b *strings.Builder) {
	if t.Caption != "" {
		fmt.Fprintf(b, "%s\n\n", t.Caption)
	}
	b.WriteString("| " + strings.Join(t.Head, " | ") + " |\n|")
	for range t.Head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	b.WriteString("\n")
}

// tables builds the report's tables: the summary, the per-budget ones, the
// asvp indicator log.
func tables(res *simulate.Results, sum *simulate.Summary) (summary table, budgets []table, indicator table) {
	summary = table{Head: []string{"pipeline", "final accuracy", "AUC", "SSR at final budget", "labels", "labeling",
		"compute", "total", "saving vs standard", "saving vs svpp", "labels to target", "cost to target"}}
	for _, ps := range sum.Pipelines {
		fb := ps.Final
		summary.Rows = append(summary.Rows, []string{ps.Pipeline, fmt.Sprintf("%.4f ± %.4f", fb.AccMean, fb.AccStd),
			fmt.Sprintf("%.4f", ps.AUC), FormatOpt(fb.SSR, "%.3f"), strconv.Itoa(fb.Labels), usd(fb.LabelingUSD), usd(fb.ComputeUSD),
			usd(fb.TotalUSD), saving(fb.VsStandard), saving(fb.VsSVPP), FormatOpt(ps.LabelsToTarget, "%.0f"), targetCost(ps.AtTarget)})
	}
	acc := table{Caption: "Accuracy at each budget (mean ± std over seeds)", Head: []string{"labels"}}
	ssr := table{Caption: "Sample saving ratio against random at each budget (n/a: outside random's range)", Head: []string{"labels"}}
	cost := table{Caption: "Total cost at each budget (labeling + compute, mean over seeds)", Head: []string{"labels"}}
	rows := 0
	for _, ps := range sum.Pipelines {
		acc.Head = append(acc.Head, ps.Pipeline)
		ssr.Head = append(ssr.Head, ps.Pipeline)
		cost.Head = append(cost.Head, ps.Pipeline)
		rows = max(rows, len(ps.Budgets))
	}
	for r := range rows {
		var a, s, c []string
		label := ""
		for _, ps := range sum.Pipelines {
			if r >= len(ps.Budgets) {
				a, s, c = append(a, ""), append(s, ""), append(c, "")
				continue
			}
			b := ps.Budgets[r]
			label = strconv.Itoa(b.Labels)
			a = append(a, fmt.Sprintf("%.4f ± %.4f", b.AccMean, b.AccStd))
			s = append(s, FormatOpt(b.SSR, "%.3f"))
			c = append(c, fmt.Sprintf("%s + %s = %s", usd(b.LabelingUSD), usd(b.ComputeUSD), usd(b.TotalUSD)))
		}
		acc.Rows = append(acc.Rows, append([]string{label}, a...))
		ssr.Rows = append(ssr.Rows, append([]string{label}, s...))
		cost.Rows = append(cost.Rows, append([]string{label}, c...))
	}
	budgets = []table{acc, ssr, cost}
	indicator = table{Head: []string{"seed", "round", "labels", "LogME", "best", "re-align", "final model", "reason"}, Text: []int{7}}
	for _, r := range res.Records {
		if r.Pipeline != simulate.PipelineASVP || r.Indicator == nil {
			continue
		}
		indicator.Rows = append(indicator.Rows, []string{strconv.FormatUint(r.Seed, 10), strconv.Itoa(r.Round),
			strconv.Itoa(r.Labels), fmt.Sprintf("%.4f", r.Indicator.Value), fmt.Sprintf("%.4f", r.Indicator.Best),
			map[bool]string{true: "yes", false: "no"}[r.Indicator.Update], r.Method, r.Indicator.Reason})
	}
	return summary, budgets, indicator
}

// settingsLines describes the run in a few lines.
func settingsLines(res *simulate.Results, sum *simulate.Summary) []string {
	st := res.Settings
	seeds := make([]string, len(res.Seeds))
	for i, s := range res.Seeds {
		seeds[i] = strconv.FormatUint(s, 10)
	}
	mode := "measured compute hours"
	if sum.Projected {
		mode = fmt.Sprintf("projected: %s per fine-tune, %s per feature extraction, cheap phases measured", usd(sum.Costs.PriceFinetune), usd(sum.Costs.PriceExtract))
	}
	lines := []string{
		fmt.Sprintf("Simulation %q: pool %d samples, test %d samples, %d-d features, %d classes.", res.Name, res.PoolSize, res.TestSize, res.Dim, len(res.Classes)),
		fmt.Sprintf("Strategy %s with the %s proxy; %d initial random labels, then %d rounds of %d; seeds %s.",
			st.Strategy, st.Proxy.Kind, st.Init, res.Rounds, st.Budget, strings.Join(seeds, ", ")),
		fmt.Sprintf("asvp indicator: rule %s (patience %d, min gain %g, threshold %g, every %d, max updates %d, min labels %d); final-model switch %q.",
			st.Indicator.Rule, st.Indicator.Patience, st.Indicator.MinGain, st.Indicator.Threshold, st.Indicator.Every,
			st.Indicator.MaxUpdates, st.Indicator.MinLabels, st.Switch.Mode),
		fmt.Sprintf("Prices: %s per label, %s per compute hour; compute cost: %s.", usd(sum.Costs.PriceLabel), usd(sum.Costs.PriceHour), mode),
	}
	if sum.Target != nil {
		lines = append(lines, fmt.Sprintf("Target accuracy for \"labels to target\": %.4f (random's final mean accuracy unless set).", *sum.Target))
	}
	return lines
}

func markdown(res *simulate.Results, sum *simulate.Summary, figs []figure) []byte {
	var b strings.Builder
	b.WriteString("# Active learning simulation report\n\n")
	for _, l := range settingsLines(res, sum) {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n## Summary\n\n")
	summary, budgets, ind := tables(res, sum)
	summary.markdown(&b)
	b.WriteString("Equivalent saving of a pipeline against a baseline at the same accuracy: (labels the baseline needs - labels used) x price per label - (compute cost - the baseline's compute cost); positive means cheaper. SSR: (n_random(acc) - n) / n_random(acc).\n\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "![%s](%s.png)\n\n", f.Title, f.Name)
	}
	b.WriteString("## Per budget\n\n")
	for _, t := range budgets {
		t.markdown(&b)
	}
	if len(ind.Rows) > 0 {
		b.WriteString("## asvp indicator log\n\n")
		ind.markdown(&b)
	}
	return []byte(b.String())
}

// targetCost renders what a pipeline pays to reach the target accuracy.
func targetCost(c *simulate.TargetCost) string {
	if c == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s + %s = %s", usd(c.LabelingUSD), usd(c.ComputeUSD), usd(c.TotalUSD))
}
