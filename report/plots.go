package report

import (
	"bytes"
	"fmt"
	"image/color"

	"github.com/asvp-dev/asvp/simulate"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot size: 16 x 10 cm, 96 dpi in PNG.
const (
	plotW = 16 * vg.Centimeter
	plotH = 10 * vg.Centimeter
)

// pipelineColor gives each pipeline a fixed colour, so figures agree.
func pipelineColor(p string) color.RGBA {
	switch p {
	case simulate.PipelineRandom:
		return color.RGBA{R: 0x77, G: 0x77, B: 0x77, A: 0xff}
	case simulate.PipelineStandard:
		return color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	case simulate.PipelineSVPP:
		return color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	case simulate.PipelineASVP:
		return color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	}
	return color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
}

// figure is one rendered plot in both formats.
type figure struct {
	Name, Title string
	PNG, SVG    []byte
}

func render(p *plot.Plot, name, title string) (figure, error) {
	f := figure{Name: name, Title: title}
	for _, fm := range []struct {
		ext string
		dst *[]byte
	}{{"png", &f.PNG}, {"svg", &f.SVG}} {
		wt, err := p.WriterTo(plotW, plotH, fm.ext)
		if err != nil {
			return f, fmt.Errorf("report: %s.%s: %w", name, fm.ext, err)
		}
		var b bytes.Buffer
		if _, err := wt.WriteTo(&b); err != nil {
			return f, fmt.Errorf("report: %s.%s: %w", name, fm.ext, err)
		}
		*fm.dst = b.Bytes()
	}
	return f, nil
}

// learningCurves plots mean accuracy against labels with a ±1 std band.
func learningCurves(sum *simulate.Summary) (figure, error) {
	p := plot.New()
	p.Title.Text = "Learning curves (mean ± std over seeds)"
	p.X.Label.Text = "labels"
	p.Y.Label.Text = "test accuracy"
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Centimeter
	p.Add(plotter.NewGrid())
	for _, ps := range sum.Pipelines {
		if len(ps.Curve) == 0 {
			continue
		}
		c := pipelineColor(ps.Pipeline)
		mean := make(plotter.XYs, len(ps.Curve))
		band := make(plotter.XYs, 0, 2*len(ps.Curve))
		for i, pt := range ps.Curve {
			mean[i] = plotter.XY{X: float64(pt.Labels), Y: pt.Mean}
			band = append(band, plotter.XY{X: float64(pt.Labels), Y: pt.Mean + pt.Std})
		}
		for i := len(ps.Curve) - 1; i >= 0; i-- {
			pt := ps.Curve[i]
			band = append(band, plotter.XY{X: float64(pt.Labels), Y: pt.Mean - pt.Std})
		}
		poly, err := plotter.NewPolygon(band)
		if err != nil {
			return figure{}, err
		}
		poly.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x40} // not premultiplied
		poly.LineStyle.Width = 0
		line, points, err := plotter.NewLinePoints(mean)
		if err != nil {
			return figure{}, err
		}
		line.Color, line.Width = c, vg.Points(2)
		points.Color, points.Shape = c, draw.CircleGlyph{}
		p.Add(poly, line, points)
		p.Legend.Add(ps.Pipeline, line, points)
	}
	return render(p, "learning_curves", "Learning curves")
}

// totalCost plots, per pipeline, labeling cost with compute cost stacked on
// top: the paper's cost figure. When every pipeline reaches the summary's
// target accuracy it compares them there, at equal accuracy (labels and
// compute each needs to get there); otherwise at the final budget.
func totalCost(sum *simulate.Summary) (figure, error) {
	p := plot.New()
	p.Y.Label.Text = "USD"
	atTarget := sum.Target != nil && len(sum.Pipelines) > 0
	for _, ps := range sum.Pipelines {
		atTarget = atTarget && ps.AtTarget != nil
	}
	var names []string
	var lab, comp plotter.Values
	for _, ps := range sum.Pipelines {
		if atTarget {
			names = append(names, fmt.Sprintf("%s\n%.0f labels", ps.Pipeline, ps.AtTarget.Labels))
			lab = append(lab, ps.AtTarget.LabelingUSD)
			comp = append(comp, ps.AtTarget.ComputeUSD)
			continue
		}
		names = append(names, fmt.Sprintf("%s\n%d labels", ps.Pipeline, ps.Final.Labels))
		lab = append(lab, ps.Final.LabelingUSD)
		comp = append(comp, ps.Final.ComputeUSD)
	}
	p.Title.Text = "Total cost at the final budget (USD)"
	if atTarget {
		p.Title.Text = fmt.Sprintf("Total cost to reach %.1f%% test accuracy (USD)", 100**sum.Target)
	}
	if len(names) == 0 {
		return render(p, "total_cost", "Total cost")
	}
	w := vg.Points(40)
	lb, err := plotter.NewBarChart(lab, w)
	if err != nil {
		return figure{}, err
	}
	lb.Color = color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}
	cb, err := plotter.NewBarChart(comp, w)
	if err != nil {
		return figure{}, err
	}
	cb.Color = color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff}
	cb.StackOn(lb)
	p.Add(plotter.NewGrid(), lb, cb)
	p.Legend.Add("labeling", lb)
	p.Legend.Add("compute", cb)
	p.Legend.Top = true
	p.NominalX(names...)
	headroom(p)
	return render(p, "total_cost", "Total cost")
}

// timePerPhase plots, per pipeline, the mean seconds per seed spent in each
// phase over all rounds, stacked.
func timePerPhase(sum *simulate.Summary) (figure, error) {
	p := plot.New()
	p.Title.Text = "Time per phase (seconds per seed, all rounds)"
	p.Y.Label.Text = "seconds"
	var names []string
	phases := []struct {
		name string
		get  func(simulate.Phases) float64
		c    color.RGBA
	}{
		{"proxy train", func(p simulate.Phases) float64 { return p.ProxyTrain }, color.RGBA{0x8c, 0x56, 0x4b, 0xff}},
		{"selection", func(p simulate.Phases) float64 { return p.Select }, color.RGBA{0xe3, 0x77, 0xc2, 0xff}},
		{"indicator", func(p simulate.Phases) float64 { return p.Indicator }, color.RGBA{0xbc, 0xbd, 0x22, 0xff}},
		{"fine-tune", func(p simulate.Phases) float64 { return p.Finetune }, color.RGBA{0x1f, 0x77, 0xb4, 0xff}},
		{"re-align", func(p simulate.Phases) float64 { return p.Realign }, color.RGBA{0x17, 0xbe, 0xcf, 0xff}},
		{"eval train", func(p simulate.Phases) float64 { return p.EvalTrain }, color.RGBA{0xc7, 0xc7, 0xc7, 0xff}},
	}
	for _, ps := range sum.Pipelines {
		names = append(names, ps.Pipeline)
	}
	if len(names) == 0 {
		return render(p, "time_per_phase", "Time per phase")
	}
	var below *plotter.BarChart
	for _, ph := range phases {
		vals := make(plotter.Values, len(sum.Pipelines))
		for i, ps := range sum.Pipelines {
			vals[i] = ph.get(ps.Phases)
		}
		b, err := plotter.NewBarChart(vals, vg.Points(40))
		if err != nil {
			return figure{}, err
		}
		b.Color = ph.c
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		p.Legend.Add(ph.name, b)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	headroom(p)
	return render(p, "time_per_phase", "Time per phase")
}

// headroom raises the top of the Y axis so that the legend, drawn in the
// top right corner, stays clear of the bars.
func headroom(p *plot.Plot) {
	p.Y.Min = 0
	p.Y.Max *= 1.35
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
}
