package selector

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/features"
)

// benchPool returns the benchmark pool (SyntheticMixture, 10 components,
// seed 42), its labels, and a mask with the first nLabeled rows labeled.
func benchPool(n, d, nLabeled int) (*features.Matrix, []int, []bool) {
	m, y := SyntheticMixture(n, d, 10, 42)
	lab := make([]bool, n)
	for i := range nLabeled {
		lab[i] = true
	}
	return m, y, lab
}

// readProcKB returns a field (in kB) of /proc/self/status.
func readProcKB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v
		}
	}
	return -1
}

// peakTracker measures the peak resident memory added by a section: it
// resets the kernel's high-water mark (clear_refs 5) and also samples
// HeapInuse, reporting the larger of the two deltas.
type peakTracker struct {
	base     int64
	heapBase uint64
	heapPeak uint64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startPeak() *peakTracker {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p := &peakTracker{base: readProcKB("VmRSS"), heapBase: ms.HeapInuse, heapPeak: ms.HeapInuse, stop: make(chan struct{})}
	p.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				p.heapPeak = max(p.heapPeak, ms.HeapInuse)
			}
		}
	})
	return p
}

// done returns the peak added bytes.
func (p *peakTracker) done() int64 {
	close(p.stop)
	p.wg.Wait()
	rss := (readProcKB("VmHWM") - p.base) * 1024
	return max(rss, int64(p.heapPeak-p.heapBase))
}

// BenchmarkSelect1M selects 1,000 of a 1,000,000 × 512 float32 pool (2,048
// MB) with 1,000 labeled rows and a linear proxy over 10 classes. Metrics:
// peak_MB is the memory added on top of the pool, peak/matrix is (pool +
// added)/pool; kcenter adds GB/s of distance-kernel reads over the whole
// selection. Run with -benchtime=1x; it takes minutes.
func BenchmarkSelect1M(b *testing.B) {
	const n, d, nl, budget = 1_000_000, 512, 1000, 1000
	pool, y, lab := benchPool(n, d, nl)
	lx := &features.Matrix{Rows: nl, Cols: d, Data: pool.Data[:nl*d], IDs: pool.IDs[:nl]}
	proxy, err := TrainProxy(DefaultProxyConfig("linear"), lx, y[:nl], 10)
	if err != nil {
		b.Fatal(err)
	}
	matrixBytes := float64(n * d * 4)
	for _, name := range []string{"margin", "kcenter", "badge"} {
		b.Run(name, func(b *testing.B) {
			s, err := NewStrategy(name, StrategyOptions{})
			if err != nil {
				b.Fatal(err)
			}
			var peak int64
			b.ResetTimer()
			for b.Loop() {
				pk := startPeak()
				picks, err := s.Select(context.Background(), Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: budget, Seed: 1})
				peak = max(peak, pk.done())
				if err != nil || len(picks) != budget {
					b.Fatalf("picks %d err %v", len(picks), err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec, "s/select")
			b.ReportMetric(float64(peak)/(1<<20), "peak_MB")
			b.ReportMetric((matrixBytes+float64(peak))/matrixBytes, "peak/matrix")
			if name == "kcenter" {
				passes := (nl+centerChunk-1)/centerChunk + budget
				b.ReportMetric(float64(passes)*matrixBytes/sec/1e9, "GB/s")
			}
		})
	}
	// One greedy k-center pass alone (gemv + min update over the pool).
	b.Run("kcenter-pass", func(b *testing.B) {
		minD := make([]float32, n)
		norms, _ := poolSqNorms(context.Background(), pool.Data, n, d, 0)
		c := pool.Data[:d]
		b.SetBytes(int64(matrixBytes))
		for b.Loop() {
			_ = selParallel(context.Background(), n, selBlockRows, 0, func(_, lo, hi int) {
				dots := make([]float32, hi-lo)
				gemvRows(pool.Data[lo*d:hi*d], hi-lo, d, c, dots)
				for r, v := range dots {
					minD[lo+r] = min(minD[lo+r], float32(norms[lo+r]-2*float64(v)))
				}
			})
		}
	})
}

// BenchmarkMemBandwidth measures the machine's read bandwidth with a
// parallel float32 sum over 1 GiB (the ceiling for a streaming kernel).
func BenchmarkMemBandwidth(b *testing.B) {
	data := make([]float32, 1<<28)
	for i := range data {
		data[i] = 1
	}
	w := runtime.GOMAXPROCS(0)
	b.SetBytes(int64(len(data) * 4))
	for b.Loop() {
		sums := make([]float32, w)
		var wg sync.WaitGroup
		chunk := len(data) / w
		for k := range w {
			wg.Go(func() {
				var s0, s1, s2, s3 float32
				part := data[k*chunk : (k+1)*chunk]
				for i := 0; i+4 <= len(part); i += 4 {
					s0 += part[i]
					s1 += part[i+1]
					s2 += part[i+2]
					s3 += part[i+3]
				}
				sums[k] = s0 + s1 + s2 + s3
			})
		}
		wg.Wait()
	}
}

// BenchmarkStrategies100k runs every strategy on a 100,000 × 128 pool, budget 500.
func BenchmarkStrategies100k(b *testing.B) {
	const n, d = 100_000, 128
	pool, y, lab := benchPool(n, d, 500)
	lx := &features.Matrix{Rows: 500, Cols: d, Data: pool.Data[:500*d]}
	proxy, err := TrainProxy(DefaultProxyConfig("linear"), lx, y[:500], 10)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range StrategyNames() {
		b.Run(name, func(b *testing.B) {
			s, _ := NewStrategy(name, StrategyOptions{})
			for b.Loop() {
				if _, err := s.Select(context.Background(), Request{Pool: pool, Labeled: lab, Proxy: proxy, Budget: 500, Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
