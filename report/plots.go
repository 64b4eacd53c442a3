package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/asvp-dev/asvp/simulate"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot size: 10 x 5 inches, wide enough for a page's full width; the PNG
// at 144 dpi is 1440 x 720 pixels, so a browser shows it at a laptop
// screen's width without upscaling it.
const (
	plotW  = 10 * vg.Inch
	plotH  = 5 * vg.Inch
	pngDPI = 144
	// margin is the blank border around every figure: strokes on the
	// plot's edges (the outline of the rightmost bar, the title) stay
	// inside the picture.
	margin = 4 * vg.Millimeter
	// legendGap separates the plot from its legend, drawn in a column on
	// the right where it covers no data.
	legendGap = 12 * vg.Inch / 72
)

// lineStyle is how a pipeline is drawn in every figure: its colour, and
// for learning curves its dash pattern and marker, so that curves that
// coincide stay distinguishable (and in greyscale print).
type lineStyle struct {
	Color  color.RGBA
	Dashes []vg.Length // nil: solid
	Glyph  marker
	Radius vg.Length
}

// pipelineStyle gives each pipeline a fixed style, so figures agree. The
// pipelines are drawn in the order random, standard, svpp, asvp, asvp-ft,
// with markers of other shapes and lines more broken, so that a later
// curve drawn over an identical earlier one leaves it showing.
func pipelineStyle(p string) lineStyle {
	switch p {
	case simulate.PipelineRandom:
		return lineStyle{Color: color.RGBA{R: 0x77, G: 0x77, B: 0x77, A: 0xff}, Glyph: marker{ring}, Radius: vg.Points(5.5)}
	case simulate.PipelineStandard:
		return lineStyle{Color: color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, Dashes: []vg.Length{vg.Points(9), vg.Points(5)},
			Glyph: marker{box}, Radius: vg.Points(4.5)}
	case simulate.PipelineSVPP:
		return lineStyle{Color: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, Dashes: []vg.Length{vg.Points(3), vg.Points(5)},
			Glyph: marker{triangle}, Radius: vg.Points(4)}
	case simulate.PipelineASVP:
		return lineStyle{Color: color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, Dashes: []vg.Length{vg.Points(12), vg.Points(4), vg.Points(2), vg.Points(4)},
			Glyph: marker{cross}, Radius: vg.Points(3.5)}
	case simulate.PipelineASVPFT: // often asvp's curve exactly: drawn over it, thin and dotted
		return lineStyle{Color: color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, Dashes: []vg.Length{vg.Points(1.5), vg.Points(4)},
			Glyph: marker{plus}, Radius: vg.Points(5)}
	}
	return lineStyle{Color: color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, Dashes: []vg.Length{vg.Points(6), vg.Points(2), vg.Points(1.5), vg.Points(2)},
		Glyph: marker{diamond}, Radius: vg.Points(4.5)}
}

// shape is the outline a marker draws.
type shape int

const (
	ring shape = iota
	box
	triangle
	cross
	plus
	diamond
)

// marker is a hollow glyph with a 1.5 pt stroke (gonum's hollow glyphs
// stroke 0.5 pt, too faint to tell apart): hollow, so that one drawn over
// another of a different shape leaves both visible.
type marker struct{ Shape shape }

// DrawGlyph implements draw.GlyphDrawer.
func (m marker) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.5)})
	r := sty.Radius
	at := func(dx, dy vg.Length) vg.Point { return vg.Point{X: pt.X + dx, Y: pt.Y + dy} }
	var p vg.Path
	switch m.Shape {
	case ring:
		p.Move(at(r, 0))
		p.Arc(pt, r, 0, 2*math.Pi)
		p.Close()
	case box:
		p.Move(at(-r, -r))
		p.Line(at(r, -r))
		p.Line(at(r, r))
		p.Line(at(-r, r))
		p.Close()
	case triangle:
		h := r * vg.Length(math.Sqrt(3)/2)
		p.Move(at(0, r))
		p.Line(at(h, -r/2))
		p.Line(at(-h, -r/2))
		p.Close()
	case cross:
		p.Move(at(-r, -r))
		p.Line(at(r, r))
		p.Move(at(-r, r))
		p.Line(at(r, -r))
	case plus:
		p.Move(at(-r, 0))
		p.Line(at(r, 0))
		p.Move(at(0, -r))
		p.Line(at(0, r))
	default:
		p.Move(at(0, -r))
		p.Line(at(r, 0))
		p.Line(at(0, r))
		p.Line(at(-r, 0))
		p.Close()
	}
	c.Stroke(p)
}

// pipelineColor is the colour of pipelineStyle(p).
func pipelineColor(p string) color.RGBA { return pipelineStyle(p).Color }

// figure is one rendered plot in both formats.
type figure struct {
	Name, Title string
	PNG, SVG    []byte
}

// render draws p, with leg in a column on its right, inside a blank
// margin, as PNG and SVG.
func render(p *plot.Plot, leg plot.Legend, name, title string) (figure, error) {
	f := figure{Name: name, Title: title}
	drawTo := func(c draw.Canvas) {
		c.SetColor(color.White)
		c.Fill(c.Rectangle.Path())
		c = draw.Crop(c, margin, -margin, margin, -margin)
		if w := leg.Rectangle(c).Size().X; w > 0 {
			top := vg.Length(0)
			if p.Title.Text != "" {
				top = p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
			}
			leg.Top, leg.Left = true, true
			leg.Draw(draw.Crop(c, c.Size().X-w, 0, 0, -top))
			c = draw.Crop(c, 0, -(w + legendGap), 0, 0)
		}
		p.Draw(c)
	}
	img := vgimg.NewWith(vgimg.UseWH(plotW, plotH), vgimg.UseDPI(pngDPI))
	drawTo(draw.New(img))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&b); err != nil {
		return f, fmt.Errorf("report: %s.png: %w", name, err)
	}
	f.PNG = b.Bytes()
	svg := vgsvg.New(plotW, plotH)
	drawTo(draw.New(svg))
	var s bytes.Buffer
	if _, err := svg.WriteTo(&s); err != nil {
		return f, fmt.Errorf("report: %s.svg: %w", name, err)
	}
	f.SVG = s.Bytes()
	return f, nil
}

// stdBand is the polygon of a curve's ±1 std band, upper edge left to
// right then lower edge right to left, clipped to accuracy's range [0, 1].
func stdBand(curve []simulate.CurvePoint) plotter.XYs {
	band := make(plotter.XYs, 0, 2*len(curve))
	for _, pt := range curve {
		band = append(band, plotter.XY{X: float64(pt.Labels), Y: min(pt.Mean+pt.Std, 1)})
	}
	for i := len(curve) - 1; i >= 0; i-- {
		pt := curve[i]
		band = append(band, plotter.XY{X: float64(pt.Labels), Y: max(pt.Mean-pt.Std, 0)})
	}
	return band
}

// newLegend is the legend of a figure, with thumbnails wide enough to
// show a dash pattern.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.ThumbnailWidth = vg.Points(36)
	l.Padding = vg.Points(4)
	return l
}

// learningCurves plots mean accuracy against labels with a ±1 std band.
// All bands are drawn first, then all lines, then all markers, so that no
// band washes over another pipeline's curve.
func learningCurves(sum *simulate.Summary) (figure, error) {
	p := plot.New()
	p.Title.Text = "Learning curves (mean ± std over seeds)"
	p.X.Label.Text = "labels"
	p.Y.Label.Text = "test accuracy"
	p.Add(plotter.NewGrid())
	leg := newLegend()
	var lines, points []plot.Plotter
	for _, ps := range sum.Pipelines {
		if len(ps.Curve) == 0 {
			continue
		}
		st := pipelineStyle(ps.Pipeline)
		c := st.Color
		mean := make(plotter.XYs, len(ps.Curve))
		for i, pt := range ps.Curve {
			mean[i] = plotter.XY{X: float64(pt.Labels), Y: pt.Mean}
		}
		poly, err := plotter.NewPolygon(stdBand(ps.Curve))
		if err != nil {
			return figure{}, fmt.Errorf("report: learning curve of %s: %w", ps.Pipeline, err)
		}
		poly.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x30} // not premultiplied
		poly.LineStyle.Width = 0
		line, pts, err := plotter.NewLinePoints(mean)
		if err != nil {
			return figure{}, fmt.Errorf("report: learning curve of %s: %w", ps.Pipeline, err)
		}
		line.Color, line.Width, line.Dashes = c, vg.Points(2), st.Dashes
		pts.Color, pts.Shape, pts.Radius = c, st.Glyph, st.Radius
		p.Add(poly)
		lines, points = append(lines, line), append(points, pts)
		leg.Add(ps.Pipeline, line, pts)
	}
	p.Add(lines...)
	p.Add(points...)
	return render(p, leg, "learning_curves", "Learning curves")
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
	leg := newLegend()
	if len(names) == 0 {
		return render(p, leg, "total_cost", "Total cost")
	}
	w := vg.Points(48)
	lb, err := plotter.NewBarChart(lab, w)
	if err != nil {
		return figure{}, fmt.Errorf("report: total_cost: %w", err)
	}
	lb.Color = color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}
	cb, err := plotter.NewBarChart(comp, w)
	if err != nil {
		return figure{}, fmt.Errorf("report: total_cost: %w", err)
	}
	cb.Color = color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff}
	cb.StackOn(lb)
	p.Add(barGrid(), lb, cb)
	leg.Add("compute", cb) // top to bottom, as stacked
	leg.Add("labeling", lb)
	p.NominalX(names...)
	barRange(p, len(names))
	return render(p, leg, "total_cost", "Total cost")
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
	leg := newLegend()
	if len(names) == 0 {
		return render(p, leg, "time_per_phase", "Time per phase")
	}
	p.Add(barGrid())
	var below *plotter.BarChart
	bars := make([]*plotter.BarChart, len(phases))
	for i, ph := range phases {
		vals := make(plotter.Values, len(sum.Pipelines))
		for i, ps := range sum.Pipelines {
			vals[i] = ph.get(ps.Phases)
		}
		b, err := plotter.NewBarChart(vals, vg.Points(48))
		if err != nil {
			return figure{}, fmt.Errorf("report: time_per_phase: %w", err)
		}
		b.Color = ph.c
		if below != nil {
			b.StackOn(below)
		}
		below, bars[i] = b, b
		p.Add(b)
	}
	for i := len(phases) - 1; i >= 0; i-- { // top to bottom, as stacked
		leg.Add(phases[i].name, bars[i])
	}
	p.NominalX(names...)
	barRange(p, len(names))
	return render(p, leg, "time_per_phase", "Time per phase")
}

// barGrid is the horizontal grid of a bar chart.
func barGrid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	return g
}

// barRange sets the axes of a chart of n bars: half a slot of room on
// either side of the outer bars, and the Y axis from 0 with a little room
// above the tallest bar.
func barRange(p *plot.Plot, n int) {
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.Y.Min = 0
	p.Y.Max *= 1.05
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
}
