package chromium

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBrowserDrivesAPage loads a page from a local server, clicks its
// button with mouse events at the button's place (and once beside it),
// reads the page's state, its console output and a screenshot.
func TestBrowserDrivesAPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><body style="margin:0;background:#fff">
<button id="b" style="position:absolute;left:100px;top:50px;width:120px;height:40px;background:#0a0"
 onclick="window.clicks = (window.clicks||0) + 1; console.log('clicked', window.clicks)">press</button>
<script>window.clicks = 0</script></body>`))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Start(ctx, Options{Dir: t.TempDir(), Width: 400, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := b.Navigate(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		x, y float64
		want int
	}{
		{160, 70, 1},  // on the button
		{300, 200, 1}, // beside it: nothing happens
		{105, 55, 2},  // its corner
	} {
		if err := b.Click(ctx, tc.x, tc.y); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := b.Eval(ctx, "window.clicks", &n); err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("after a click at (%v, %v): %d clicks, want %d", tc.x, tc.y, n, tc.want)
		}
	}
	if log := strings.Join(b.Log(), "\n"); !strings.Contains(log, "console.log: clicked 2") {
		t.Errorf("console log %q lacks the second click", log)
	}
	if err := b.Eval(ctx, "nosuchname.x", nil); err == nil || !strings.Contains(err.Error(), "nosuchname is not defined") {
		t.Errorf("a throwing expression gives %v", err)
	}
	if err := b.Wait(ctx, "window.clicks > 5", 200*time.Millisecond); err == nil {
		t.Error("Wait on a condition that never holds returned no error")
	}
	shot, err := b.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got.X != 400 || got.Y != 300 {
		t.Errorf("screenshot is %v, want 400x300", got)
	}
	r, g, bl, _ := img.At(160, 70).RGBA()
	if !(g > 2*r && g > 2*bl) {
		t.Errorf("screenshot pixel on the button is %v,%v,%v, want the button's green", r>>8, g>>8, bl>>8)
	}
}
