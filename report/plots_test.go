package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/simulate"
)

// decodePNG decodes a figure's PNG or fails the test.
func decodePNG(t *testing.T, fig figure) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(fig.PNG))
	if err != nil {
		t.Fatalf("%s.png: %v", fig.Name, err)
	}
	return img
}

// near counts opaque pixels in r within tol of c in every channel.
func near(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if p.A < 200 {
				continue
			}
			if abs(int(p.R)-int(c.R)) <= tol && abs(int(p.G)-int(c.G)) <= tol && abs(int(p.B)-int(c.B)) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// curveSummary is a summary whose pipelines all have the same learning
// curve, with accuracies up to top and a std of std at every point.
func curveSummary(top, std float64, pipelines ...string) *simulate.Summary {
	sum := &simulate.Summary{Costs: simulate.DefaultCostConfig()}
	for _, p := range pipelines {
		ps := simulate.PipelineSummary{Pipeline: p, Seeds: 2}
		for i := range 4 {
			ps.Curve = append(ps.Curve, simulate.CurvePoint{Labels: 100 * (i + 1), Mean: top - 0.1*float64(3-i), Std: std, N: 2})
		}
		sum.Pipelines = append(sum.Pipelines, ps)
	}
	return sum
}

// TestIdenticalCurvesStayVisible draws five pipelines with the same
// learning curve: each must keep a good part of the pixels of its colour
// that it shows when drawn alone, so no curve hides another.
func TestIdenticalCurvesStayVisible(t *testing.T) {
	all := append(simulate.PipelineNames(), simulate.PipelineASVPFT)
	together, err := learningCurves(curveSummary(0.9, 0.01, all...))
	if err != nil {
		t.Fatal(err)
	}
	ti := decodePNG(t, together)
	for _, p := range all {
		alone, err := learningCurves(curveSummary(0.9, 0.01, p))
		if err != nil {
			t.Fatal(err)
		}
		ai := decodePNG(t, alone)
		c := pipelineColor(p)
		nt, na := near(ti, ti.Bounds(), c, 24), near(ai, ai.Bounds(), c, 24)
		t.Logf("%s: %d pixels of its colour among five identical curves, %d alone", p, nt, na)
		if na < 500 {
			t.Fatalf("%s alone shows only %d pixels of its colour", p, na)
		}
		if float64(nt) < 0.2*float64(na) {
			t.Errorf("%s keeps %d of its %d pixels when the five curves coincide: it is hidden", p, nt, na)
		}
	}
}

// TestFiguresNotClipped checks that nothing touches a figure's edges: the
// outermost pixels of every PNG are white, so no bar, legend entry, label
// or title runs off the picture.
func TestFiguresNotClipped(t *testing.T) {
	_, sum := fixture()
	high := curveSummary(1.0, 0.05, simulate.PipelineNames()...)
	for _, tc := range []struct {
		name string
		sum  *simulate.Summary
	}{{"fixture", sum}, {"curves at 1.0", high}} {
		for _, mk := range []func(*simulate.Summary) (figure, error){learningCurves, totalCost, timePerPhase} {
			fig, err := mk(tc.sum)
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, fig)
			b := img.Bounds()
			const k = 4 // px of blank border
			for _, edge := range []struct {
				name string
				r    image.Rectangle
			}{
				{"top", image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+k)},
				{"bottom", image.Rect(b.Min.X, b.Max.Y-k, b.Max.X, b.Max.Y)},
				{"left", image.Rect(b.Min.X, b.Min.Y, b.Min.X+k, b.Max.Y)},
				{"right", image.Rect(b.Max.X-k, b.Min.Y, b.Max.X, b.Max.Y)},
			} {
				if n := nonWhite(img, edge.r); n > 0 {
					t.Errorf("%s: %s.png: %d drawn pixels on the %s edge: clipped", tc.name, fig.Name, n, edge.name)
				}
			}
		}
	}
}

// TestChartsFillAWideColumn checks the PNGs are wide enough for a page's
// full width: at least 1,200 pixels, so that a browser shows them at the
// width of a laptop screen without upscaling.
func TestChartsFillAWideColumn(t *testing.T) {
	_, sum := fixture()
	for _, mk := range []func(*simulate.Summary) (figure, error){learningCurves, totalCost, timePerPhase} {
		fig, err := mk(sum)
		if err != nil {
			t.Fatal(err)
		}
		b := decodePNG(t, fig).Bounds()
		if b.Dx() < 1200 || b.Dx() < b.Dy() {
			t.Errorf("%s.png is %dx%d, want at least 1200 px wide and landscape", fig.Name, b.Dx(), b.Dy())
		}
	}
}

// TestStdBand checks the ±std band's polygon: upper edge left to right,
// lower edge back, never above accuracy 1 nor below 0.
func TestStdBand(t *testing.T) {
	pt := func(labels int, mean, std float64) simulate.CurvePoint {
		return simulate.CurvePoint{Labels: labels, Mean: mean, Std: std, N: 2}
	}
	for _, tc := range []struct {
		name  string
		curve []simulate.CurvePoint
		want  []float64 // Y of the polygon's points
	}{
		{"inside", []simulate.CurvePoint{pt(100, 0.5, 0.1), pt(200, 0.7, 0.05)}, []float64{0.6, 0.75, 0.65, 0.4}},
		{"above 1", []simulate.CurvePoint{pt(100, 0.97, 0.05), pt(200, 1, 0)}, []float64{1, 1, 1, 0.92}},
		{"below 0", []simulate.CurvePoint{pt(100, 0.02, 0.05), pt(200, 0.1, 0.2)}, []float64{0.07, 0.3, 0, 0}},
		{"one seed", []simulate.CurvePoint{pt(100, 0.5, 0)}, []float64{0.5, 0.5}},
	} {
		band := stdBand(tc.curve)
		if len(band) != len(tc.want) {
			t.Fatalf("%s: %d points, want %d", tc.name, len(band), len(tc.want))
		}
		for i, p := range band {
			if math.Abs(p.Y-tc.want[i]) > 1e-12 {
				t.Errorf("%s: point %d at y=%v, want %v", tc.name, i, p.Y, tc.want[i])
			}
			j := i
			if i >= len(tc.curve) {
				j = len(band) - 1 - i
			}
			if p.X != float64(tc.curve[j].Labels) {
				t.Errorf("%s: point %d at x=%v, want %d", tc.name, i, p.X, tc.curve[j].Labels)
			}
		}
	}
}

// TestPipelineStylesDistinct checks that every two pipelines differ in
// colour, dash pattern and marker shape, so that curves that coincide, or
// a page printed in grey, still tell them apart.
func TestPipelineStylesDistinct(t *testing.T) {
	names := append(simulate.PipelineNames(), simulate.PipelineASVPFT, "other")
	for i, a := range names {
		for _, b := range names[i+1:] {
			sa, sb := pipelineStyle(a), pipelineStyle(b)
			if sa.Color == sb.Color {
				t.Errorf("%s and %s share colour %v", a, b, sa.Color)
			}
			if slices.Equal(sa.Dashes, sb.Dashes) {
				t.Errorf("%s and %s share dash pattern %v", a, b, sa.Dashes)
			}
			if sa.Glyph == sb.Glyph {
				t.Errorf("%s and %s share marker %v", a, b, sa.Glyph)
			}
		}
	}
}
