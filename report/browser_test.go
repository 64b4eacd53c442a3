package report

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium returns the path of a Chromium binary, failing the test when
// there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run make setup-test")
	return ""
}

// runChromium runs headless Chromium on page in a window w x h CSS pixels
// large, with the extra flags, and returns its standard output.
func runChromium(t *testing.T, bin, page string, w, h int, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--hide-scrollbars", "--force-device-scale-factor=1", "--user-data-dir=" + filepath.Join(dir, "profile"),
		"--window-size=" + strconv.Itoa(w) + "," + strconv.Itoa(h)}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+abs)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.Bytes())
	}
	return out.Bytes()
}

// layout is what the probe script measures in the rendered page, in CSS
// pixels.
type layout struct {
	ViewportWidth float64 `json:"viewportWidth"`
	ScrollWidth   float64 `json:"scrollWidth"`
	ColumnWidth   float64 `json:"columnWidth"` // the body's content box
	Images        []struct {
		Alt                         string
		X, Y, Width, Height         float64
		NaturalWidth, NaturalHeight float64
		Complete                    bool
	} `json:"images"`
	Overflowing []string `json:"overflowing"` // elements past the viewport's right edge, outside a scroll box
	Text        string   `json:"text"`
}

// probeScript measures the page once loaded and writes the result into
// it, for --dump-dom to print. It goes into a copy of the page only: the
// report itself has no script.
const probeScript = `<script>
window.addEventListener("load", () => {
  const vw = window.innerWidth;
  const body = document.body, cs = getComputedStyle(body);
  const col = body.getBoundingClientRect().width - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const images = [...document.images].map(i => { const r = i.getBoundingClientRect();
    return {Alt: i.alt, X: r.left, Y: r.top, Width: r.width, Height: r.height,
      NaturalWidth: i.naturalWidth, NaturalHeight: i.naturalHeight, Complete: i.complete}; });
  const overflowing = [];
  for (const e of document.body.querySelectorAll("*")) {
    if (e.closest(".scroll") && !e.classList.contains("scroll")) continue;
    const r = e.getBoundingClientRect();
    if (r.right > vw + 0.5) overflowing.push(e.tagName.toLowerCase() + " right edge " + r.right);
  }
  const pre = document.createElement("pre");
  pre.id = "asvp-probe";
  pre.textContent = JSON.stringify({viewportWidth: vw, scrollWidth: document.documentElement.scrollWidth,
    columnWidth: col, images, overflowing, text: document.body.innerText});
  document.body.appendChild(pre);
});
</script>`

// measure renders a probed copy of page in Chromium in a window w pixels
// wide and returns the layout it measured.
func measure(t *testing.T, bin, page string, w int) layout {
	t.Helper()
	h, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "probe.html")
	if err := os.WriteFile(probe, bytes.Replace(h, []byte("</body>"), []byte(probeScript+"</body>"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := runChromium(t, bin, probe, w, 900, "--dump-dom", "--virtual-time-budget=10000")
	m := regexp.MustCompile(`(?s)<pre id="asvp-probe">(.*?)</pre>`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe wrote nothing; the page Chromium dumped ends %q", tail(dom, 300))
	}
	js := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'").Replace(string(m[1]))
	var l layout
	if err := json.Unmarshal([]byte(js), &l); err != nil {
		t.Fatalf("probe result %q: %v", tail([]byte(js), 300), err)
	}
	return l
}

func tail(b []byte, n int) string { return string(b[max(0, len(b)-n):]) }

// TestHTMLInChromium opens report.html in headless Chromium as a person
// would, at a laptop's width and at a narrow one, and checks what they
// would see: each chart as wide as the text column, not upscaled from a
// smaller picture nor stretched out of shape; nothing running off the
// right of the page (wide tables scroll in their own box); no "-0.00"
// where a saving is zero up to rounding;
// and, on a screenshot, the first chart's lines and bands in colour.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	res, sum := zeroSavingFixture()
	dir := t.TempDir()
	files, err := Write(dir, res, sum)
	if err != nil {
		t.Fatal(err)
	}
	for _, width := range []int{1280, 800, 500} {
		l := measure(t, bin, files.HTML, width)
		t.Logf("window %d: viewport %.0f, column %.0f, page scroll width %.0f", width, l.ViewportWidth, l.ColumnWidth, l.ScrollWidth)
		if len(l.Images) != 3 {
			t.Fatalf("window %d: %d images, want 3", width, len(l.Images))
		}
		for _, im := range l.Images {
			t.Logf("window %d: %q at x=%.0f y=%.0f, %.0fx%.0f shown, %.0fx%.0f natural", width, im.Alt, im.X, im.Y, im.Width, im.Height, im.NaturalWidth, im.NaturalHeight)
			if !im.Complete || im.NaturalWidth == 0 || im.NaturalHeight == 0 {
				t.Errorf("window %d: %q did not load", width, im.Alt)
				continue
			}
			if im.Width < 0.98*l.ColumnWidth {
				t.Errorf("window %d: %q is %.0f px wide in a column of %.0f: the chart does not use the page's width", width, im.Alt, im.Width, l.ColumnWidth)
			}
			if im.Width > im.NaturalWidth+0.5 {
				t.Errorf("window %d: %q shown %.0f px wide from a %.0f px picture: upscaled, blurred", width, im.Alt, im.Width, im.NaturalWidth)
			}
			if shown, natural := im.Width/im.Height, im.NaturalWidth/im.NaturalHeight; shown < 0.98*natural || shown > 1.02*natural {
				t.Errorf("window %d: %q shown with aspect %.3f, the picture's is %.3f: distorted", width, im.Alt, shown, natural)
			}
		}
		if l.ScrollWidth > l.ViewportWidth+0.5 {
			t.Errorf("window %d: the page is %.0f px wide in a %.0f px window: it scrolls sideways", width, l.ScrollWidth, l.ViewportWidth)
		}
		for _, e := range l.Overflowing {
			t.Errorf("window %d: %s, past the window's %.0f px", width, e, l.ViewportWidth)
		}
		for _, bad := range []string{"-0.00", "-0 labels"} {
			if strings.Contains(l.Text, bad) {
				t.Errorf("window %d: the page shows %q", width, bad)
			}
		}
		if !strings.Contains(l.Text, "logme <&> reason") {
			t.Errorf("window %d: the page's text lacks the indicator's reason", width)
		}
	}

	// The screenshot: the first chart's region holds many coloured pixels,
	// which only the plots draw.
	l := measure(t, bin, files.HTML, 1280)
	shot := filepath.Join(dir, "out.png")
	first := l.Images[0]
	runChromium(t, bin, files.HTML, 1280, int(first.Y+first.Height)+40, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	r := image.Rect(int(first.X), int(first.Y), int(first.X+first.Width), int(first.Y+first.Height)).Intersect(img.Bounds())
	n, total := coloured(img, r), nonWhite(img, r)
	t.Logf("screenshot %v: %d non-white, %d coloured pixels in the first chart %v", img.Bounds(), total, n, r)
	if n < 5000 || total < 10000 {
		t.Errorf("the first chart shows %d coloured and %d non-white pixels: it did not render", n, total)
	}
}
