package loop

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/internal/synthemb"
)

// BenchmarkImportNPY imports a rows x 512 float32 .npy (seeded Gaussian
// values, its IDs beside it) into a fresh cache, by reference (the
// default) and with --copy, against a plain read of the same file through
// a 1 MiB buffer, alternating the two in each iteration. It reports both
// times, their ratio (read / import: the import's speed as a share of a
// plain read's; the target is >= 0.5) and the import's peak Go heap over
// the matrix's bytes (the file's pages are mapped, not on the heap: the
// whole program's peak RSS is in scripts/bench.sh). The 1M size writes a
// 2 GB file under $TMPDIR, and its copy a 4 GB cache.
func BenchmarkImportNPY(b *testing.B) {
	for _, mode := range []string{"reference", "copy"} {
		for _, rows := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%dx512", mode, rows), func(b *testing.B) {
				benchImport(b, rows, mode == "copy")
			})
		}
	}
}

func benchImport(b *testing.B, rows int, copy bool) {
	dir := b.TempDir()
	npy := filepath.Join(dir, "emb.npy")
	if err := synthemb.Write(npy, rows, 512, 1); err != nil {
		b.Fatal(err)
	}
	matrix := float64(rows) * 512 * 4
	var read, imp time.Duration
	buf := make([]byte, 1<<20)
	peak := 0.0
	for b.Loop() {
		c := filepath.Join(dir, "c.cache")
		os.Remove(c)
		t0 := time.Now()
		if err := plainRead(npy, buf); err != nil {
			b.Fatal(err)
		}
		read += time.Since(t0)
		runtime.GC()
		base := heapBytes()
		stop := watchHeap(&peak, base)
		t0 = time.Now()
		if _, err := ImportFeatures(ImportFeaturesOptions{Cache: c, File: npy, Model: "bench", Copy: copy}); err != nil {
			b.Fatal(err)
		}
		imp += time.Since(t0)
		stop()
	}
	n := float64(b.N)
	b.ReportMetric(read.Seconds()/n, "read-s")
	b.ReportMetric(imp.Seconds()/n, "import-s")
	b.ReportMetric(read.Seconds()/imp.Seconds(), "speed-ratio")
	b.ReportMetric(peak/matrix, "peak-heap/matrix")
}

// plainRead reads the whole file through buf, as cat does.
func plainRead(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		_, err := f.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func heapBytes() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64())
}

// watchHeap samples the heap above base every 10 ms into *peak until stop.
func watchHeap(peak *float64, base float64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			*peak = max(*peak, heapBytes()-base)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
