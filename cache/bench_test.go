package cache

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Benchmark shapes: Fashion-MNIST train under EfficientNet-B0 pooled
// features (60,000 x 1280) and a 200,000-sample pool under a 576-dim backbone.
var benchShapes = []struct{ rows, cols int }{{60_000, 1280}, {200_000, 576}}

// fillBench writes a rows x cols float32 set in batches of 1,000.
func fillBench(b *testing.B, rows, cols int) *Set {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.asvp")
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := db.EnsureSet(testInfo("bench", cols, DTypeFloat32))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 1000
	ids := make([]string, batch)
	vecs := make([]float32, batch*cols)
	for i := 0; i < rows; i += batch {
		n := min(batch, rows-i)
		for k := range n {
			ids[k] = fmt.Sprintf("train/%07d", i+k)
		}
		for k := range vecs[:n*cols] {
			vecs[k] = rng.Float32()
		}
		if err := s.PutBatch(0, ids[:n], vecs[:n*cols]); err != nil {
			b.Fatal(err)
		}
	}
	if st, err := os.Stat(path); err == nil {
		b.Logf("%dx%d: cache file %.0f MB for %.0f MB of vectors", rows, cols, float64(st.Size())/1e6, float64(rows*cols*4)/1e6)
	}
	return s
}

// BenchmarkReadMatrix reads a whole generation; SetBytes is the vector
// payload, so the MB/s column is comparable with BenchmarkSequentialFileRead.
func BenchmarkReadMatrix(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			s := fillBench(b, sh.rows, sh.cols)
			if _, err := s.ReadMatrix(0); err != nil { // warm the page cache
				b.Fatal(err)
			}
			b.SetBytes(int64(sh.rows * sh.cols * 4))
			b.ResetTimer()
			for b.Loop() {
				m, err := s.ReadMatrix(0)
				if err != nil || m.Rows != sh.rows {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sh.rows*sh.cols*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// BenchmarkSequentialFileRead reads a plain file of the same payload size
// into a preallocated buffer: the ceiling ReadMatrix is measured against.
func BenchmarkSequentialFileRead(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			n := sh.rows * sh.cols * 4
			path := filepath.Join(b.TempDir(), "plain.bin")
			data := make([]byte, n)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, n)
			read := func() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				if _, err := io.ReadFull(f, buf); err != nil {
					b.Fatal(err)
				}
			}
			read() // warm the page cache
			b.SetBytes(int64(n))
			b.ResetTimer()
			for b.Loop() {
				read()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
