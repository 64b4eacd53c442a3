package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/simulate"
)

// fixture builds results by hand: four pipelines, two seeds, three rounds.
func fixture() (*simulate.Results, *simulate.Summary) {
	res := &simulate.Results{Name: "t", Pipelines: simulate.PipelineNames(), Seeds: []uint64{1, 2}, Rounds: 2,
		PoolSize: 1000, TestSize: 200, Dim: 16, Classes: []string{"a", "b"}}
	res.Settings.Strategy, res.Settings.Proxy.Kind, res.Settings.Init, res.Settings.Budget = "margin", "mlp", 100, 100
	res.Settings.Indicator = realign.DefaultIndicatorConfig()
	accs := map[string][]float64{
		simulate.PipelineRandom:   {0.50, 0.60, 0.70},
		simulate.PipelineStandard: {0.50, 0.70, 0.80},
		simulate.PipelineSVPP:     {0.50, 0.62, 0.71},
		simulate.PipelineASVP:     {0.50, 0.68, 0.79},
	}
	for _, p := range res.Pipelines {
		for _, seed := range res.Seeds {
			for r, a := range accs[p] {
				rec := simulate.RoundRecord{Pipeline: p, Seed: seed, Round: r, Labels: 100 * (r + 1),
					Accuracy: a + 0.01*float64(seed), Method: "ft", Seconds: simulate.Phases{EvalTrain: 2}}
				switch p {
				case simulate.PipelineStandard:
					rec.Seconds = simulate.Phases{Finetune: 30, Select: 1}
				case simulate.PipelineSVPP:
					rec.Seconds.ProxyTrain, rec.Seconds.Select = 3, 1
				case simulate.PipelineASVP:
					rec.Seconds.ProxyTrain, rec.Seconds.Select, rec.Seconds.Indicator = 3, 1, 0.5
					rec.Indicator = &simulate.IndicatorLog{Value: -0.3 + 0.1*float64(r), Best: -0.3, Update: r == 1, Reason: "logme <&> reason"}
					if r >= 1 {
						rec.Updates, rec.Method = 1, "ft"
					}
					if r == 1 {
						rec.Realigned, rec.Seconds.Finetune, rec.Seconds.Realign = true, 20, 4
					}
				}
				res.Records = append(res.Records, rec)
			}
		}
	}
	return res, simulate.Summarize(res, simulate.SummaryOptions{Costs: simulate.DefaultCostConfig()})
}

func TestWriteFiles(t *testing.T) {
	res, sum := fixture()
	dir := t.TempDir()
	files, err := Write(dir, res, sum)
	if err != nil {
		t.Fatal(err)
	}
	// results.json round-trips and holds every record and the summary.
	var doc Document
	b, err := os.ReadFile(files.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results.Records) != 4*2*3 || len(doc.Summary.Pipelines) != 4 {
		t.Errorf("results.json: %d records, %d pipeline summaries", len(doc.Results.Records), len(doc.Summary.Pipelines))
	}
	// standard at 0.805 (final) is above random's range: SSR is JSON null.
	if !bytes.Contains(b, []byte(`"ssr": null`)) {
		t.Error("results.json has no null SSR")
	}
	// results.csv: a header and one row per pipeline, seed and round.
	cf, err := os.Open(files.CSV)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+4*2*3 || rows[0][0] != "pipeline" || rows[1][0] != "random" || rows[1][4] != "0.51" {
		t.Errorf("results.csv: %d rows, first %v %v", len(rows), rows[0][:5], rows[1][:5])
	}
	// The total cost column is labeling + compute: standard seed 1 round 2:
	// 300 labels x 0.10 + 3 x 31 s x 3 USD/h.
	for _, r := range rows[1:] {
		if r[0] == "standard" && r[1] == "1" && r[2] == "2" {
			if want := 30 + 3*31*3.0/3600; r[22] != ff(want) {
				t.Errorf("standard seed 1 round 2 total %s, want %v", r[22], want)
			}
		}
	}
	md, err := os.ReadFile(files.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| pipeline | final accuracy |", "| standard | 0.8150 ± 0.0071 |", "n/a", "## asvp indicator log", "logme <&> reason", "learning_curves.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, name := range []string{"learning_curves", "total_cost", "time_per_phase"} {
		pf, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(pf)
		pf.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", name, err)
		}
		if coloured(img, img.Bounds()) < 200 {
			t.Errorf("%s.png has almost no coloured pixels", name)
		}
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg: %v, not an SVG", name, err)
		}
	}
}

// TestHTMLSelfContained checks the page's structure: three images with
// non-empty base64 PNG data that decode, no external URL, no script, and
// escaped user text.
func TestHTMLSelfContained(t *testing.T) {
	res, sum := fixture()
	dir := t.TempDir()
	files, err := Write(dir, res, sum)
	if err != nil {
		t.Fatal(err)
	}
	h, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	imgs := regexp.MustCompile(`<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"`).FindAllSubmatch(h, -1)
	if len(imgs) != 3 {
		t.Fatalf("report.html has %d embedded PNG images, want 3", len(imgs))
	}
	for i, m := range imgs {
		if len(m[1]) < 1000 {
			t.Errorf("image %d: only %d bytes of data", i, len(m[1]))
		}
	}
	for _, bad := range []string{"http://", "https://", "<script", "src=\"/", "<link", "@import"} {
		if bytes.Contains(h, []byte(bad)) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	if !bytes.Contains(h, []byte(`<td class="text">logme &lt;&amp;&gt; reason</td>`)) {
		t.Error("indicator reason is not HTML-escaped, or not a left-aligned text cell")
	}
}

func TestFormatOpt(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		v    *float64
		want string
	}{
		{nil, "n/a"},
		{f(-1e-9), "0.000"},
		{f(0), "0.000"},
		{f(-0.1334), "-0.133"},
		{f(0.4567), "0.457"},
	} {
		if got := FormatOpt(tc.v, "%.3f"); got != tc.want {
			t.Errorf("FormatOpt(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	// Signed formats, as the savings use: zero has no sign either way.
	for _, tc := range []struct {
		v      float64
		format string
		want   string
	}{
		{math.Copysign(0, -1), "%+.2f", "0.00"},
		{-1e-13, "%+.2f", "0.00"},
		{0, "%+.2f", "0.00"},
		{0.004, "%+.2f", "0.00"},
		{-0.3, "%+.0f", "0"},
		{0.3, "%+.0f", "0"},
		{-0.6, "%+.0f", "-1"},
		{1.25, "%+.2f", "+1.25"},
		{-1.25, "%+.2f", "-1.25"},
		{-100, "%+.0f", "-100"},
	} {
		if got := FormatOpt(&tc.v, tc.format); got != tc.want {
			t.Errorf("FormatOpt(%v, %q) = %q, want %q", tc.v, tc.format, got, tc.want)
		}
	}
}

// TestUSD checks the report's dollar amounts: cents, more digits below a
// cent, and never a negative zero.
func TestUSD(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "$0.00"},
		{math.Copysign(0, -1), "$0.00"},
		{-1e-15, "$0.00"},
		{1e-15, "$0.00"},
		{0.0042, "$0.0042"},
		{-0.0042, "-$0.0042"},
		{12.345, "$12.35"},
		{-3.5, "-$3.50"},
	} {
		if got := usd(tc.v); got != tc.want {
			t.Errorf("usd(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// zeroSavingFixture is fixture with asvp's final savings against svpp and
// standard zero up to rounding, on either side of it.
func zeroSavingFixture() (*simulate.Results, *simulate.Summary) {
	res, sum := fixture()
	f := func(v float64) *float64 { return &v }
	asvp := sum.Pipeline(simulate.PipelineASVP)
	asvp.Final.VsSVPP = &simulate.Saving{Baseline: simulate.PipelineSVPP, BaselineLabels: f(300), USD: f(-1e-13), Labels: f(-0.2)}
	asvp.Final.VsStandard = &simulate.Saving{Baseline: simulate.PipelineStandard, BaselineLabels: f(300), USD: f(math.Copysign(0, -1)), Labels: f(0)}
	return res, sum
}

// TestNoNegativeZero writes a report where one pipeline's saving against
// another is zero up to rounding (the same labels, compute a hair apart):
// report.md and report.html write it as the CLI does, "0.00 USD (0
// labels)", never "-0.00 USD (-0 labels)".
func TestNoNegativeZero(t *testing.T) {
	res, sum := zeroSavingFixture()
	files, err := Write(t.TempDir(), res, sum)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{files.Markdown, files.HTML} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"-0.00", "-0 labels", "+0.00", "+0 labels", "$-0"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s shows %q", filepath.Base(name), bad)
			}
		}
		if !bytes.Contains(b, []byte("0.00 USD (0 labels)")) {
			t.Errorf("%s lacks the zero saving \"0.00 USD (0 labels)\"", filepath.Base(name))
		}
	}
}
