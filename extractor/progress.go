package extractor

import (
	"fmt"
	"io"
	"time"
)

// progress writes throttled status lines: count, rate and time left.
type progress struct {
	w      io.Writer
	every  time.Duration
	total  int
	cached int
	start  time.Time
	last   time.Time
}

func newProgress(w io.Writer, every time.Duration, total, cached int) *progress {
	now := time.Now()
	return &progress{w: w, every: every, total: total, cached: cached, start: now, last: now}
}

func (p *progress) update(done, failed int, final bool) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(done) / float64(p.total)
	}
	eta := "-"
	if rate > 0 && done < p.total {
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	word := "extract"
	if final {
		word = "extract done"
	}
	fmt.Fprintf(p.w, "%s: %d/%d samples (%.1f%%), %.1f img/s, ETA %s, %d failed, %d already cached\n",
		word, done, p.total, pct, rate, eta, failed, p.cached)
}
