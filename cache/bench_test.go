package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	bolt "go.etcd.io/bbolt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/features"
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
		// Format 2: each sample's view entry and content index entry are
		// written with its vector, as extraction writes them.
		entries := make([]ViewEntry, n)
		for k := range n {
			entries[k] = ViewEntry{Hash: sha256.Sum256([]byte(ids[k])), Size: 30_000, MtimeNS: 1_700_000_000_000_000_000, Inode: uint64(i + k)}
		}
		if err := s.PutViewBatch(ids[:n], vecs[:n*cols], nil, entries); err != nil {
			b.Fatal(err)
		}
	}
	if st, err := os.Stat(path); err == nil {
		b.Logf("%dx%d: cache file %.0f MB for %.0f MB of vectors", rows, cols, float64(st.Size())/1e6, float64(rows*cols*4)/1e6)
	}
	return s
}

// writePlain writes n random bytes to a new file and returns its path.
func writePlain(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "plain.bin")
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// readPlain reads the file at path into buf, which it allocates when nil.
func readPlain(b *testing.B, path string, buf []byte) []byte {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if buf == nil {
		st, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		buf = make([]byte, st.Size())
	}
	if _, err := io.ReadFull(f, buf); err != nil {
		b.Fatal(err)
	}
	return buf
}

// reportGBs reports the payload throughput of the benchmark's loop.
func reportGBs(b *testing.B, payload int) {
	b.ReportMetric(float64(payload)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkReadMatrix reads a whole generation, checksums included; SetBytes
// is the vector payload, so the MB/s column is comparable with
// BenchmarkSequentialFileRead. "fresh" allocates a new matrix per read (as
// ReadMatrix does), "reuse" reads into one matrix with ReadMatrixInto, and
// "vs-file" alternates ReadMatrixInto with a sequential read of a plain file
// of the same payload into a reused buffer, reporting both rates and their
// ratio: both sides then share whatever load the machine has. It also
// reports bytes per CPU-second of each side, which other processes affect
// less than wall time.
func BenchmarkReadMatrix(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			payload := sh.rows * sh.cols * 4
			s := fillBench(b, sh.rows, sh.cols)
			m, err := s.ReadMatrix(0) // warm the page cache and the mapping
			if err != nil {
				b.Fatal(err)
			}
			check := func(m *features.Matrix, err error) {
				if err != nil || m.Rows != sh.rows {
					b.Fatal(err)
				}
			}
			b.Run("fresh", func(b *testing.B) {
				b.SetBytes(int64(payload))
				for b.Loop() {
					check(s.ReadMatrix(0))
				}
				reportGBs(b, payload)
			})
			b.Run("reuse", func(b *testing.B) {
				b.SetBytes(int64(payload))
				for b.Loop() {
					check(s.ReadMatrixInto(0, m))
				}
				reportGBs(b, payload)
			})
			b.Run("vs-file", func(b *testing.B) {
				path := writePlain(b, payload)
				buf := readPlain(b, path, nil)
				var tCache, tFile, cpuCache, cpuFile time.Duration
				for b.Loop() {
					c0, t0 := cpuTime(), time.Now()
					check(s.ReadMatrixInto(0, m))
					c1, t1 := cpuTime(), time.Now()
					readPlain(b, path, buf)
					tCache += t1.Sub(t0)
					tFile += time.Since(t1)
					cpuCache += c1 - c0
					cpuFile += cpuTime() - c1
				}
				gb := float64(payload) * float64(b.N) / 1e9
				b.ReportMetric(gb/tCache.Seconds(), "cache-GB/s")
				b.ReportMetric(gb/tFile.Seconds(), "file-GB/s")
				b.ReportMetric(tFile.Seconds()/tCache.Seconds(), "ratio")
				// Bytes per CPU-second (user+system, all threads) do not
				// depend on how much of the machine other processes take.
				if cpuCache > 0 && cpuFile > 0 {
					b.ReportMetric(gb/cpuCache.Seconds(), "cache-cpuGB/s")
					b.ReportMetric(gb/cpuFile.Seconds(), "file-cpuGB/s")
				}
			})
		})
	}
}

// BenchmarkSequentialFileRead reads a plain file of the same payload size:
// the ceiling BenchmarkReadMatrix is measured against. "reuse" reads into a
// preallocated buffer, "fresh" allocates one per read like ReadMatrix.
func BenchmarkSequentialFileRead(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("%dx%d", sh.rows, sh.cols), func(b *testing.B) {
			n := sh.rows * sh.cols * 4
			path := writePlain(b, n)
			buf := readPlain(b, path, nil) // warm the page cache
			b.Run("fresh", func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					readPlain(b, path, nil)
				}
				reportGBs(b, n)
			})
			b.Run("reuse", func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					readPlain(b, path, buf)
				}
				reportGBs(b, n)
			})
		})
	}
}

// BenchmarkViewOpen1M opens the view of a 1,000,000-sample set and finds
// the samples an extraction must hash: the dataset's stats (here all
// unchanged but 1,000 modified and 1,000 new files) against the view's. It
// reports the seconds per open-and-compare and the bytes the view and the
// content index add to the file per sample.
func BenchmarkViewOpen1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "view.asvp")
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := db.EnsureSet(testInfo("bench", 4, DTypeFloat32))
	if err != nil {
		b.Fatal(err)
	}
	st0, _ := os.Stat(path)
	type stat struct {
		id          string
		size, mtime int64
		inode       uint64
	}
	ds := make([]stat, 0, n+1000)
	for lo := 0; lo < n; lo += 50_000 {
		err := db.update("bench", func(tx *bolt.Tx) error {
			sb, _ := s.setBucket(tx)
			vb, err := sb.CreateBucketIfNotExists(bucketView)
			if err != nil {
				return err
			}
			space, err := s.spaceBucket(tx)
			if err != nil {
				return err
			}
			vb.FillPercent, space.FillPercent = 0.9, 0.5
			for i := lo; i < lo+50_000; i++ {
				id := fmt.Sprintf("class-%02d/img_%07d.jpg", i%50, i)
				e := ViewEntry{Hash: sha256.Sum256([]byte(id)), Size: int64(20_000 + i%9_000), MtimeNS: 1_700_000_000_000_000_000 + int64(i)*1_000_003, Inode: uint64(1_000_000 + i)}
				if err := vb.Put([]byte(id), encodeViewEntry(e)); err != nil {
					return err
				}
				if err := space.Put(e.Hash[:], contentRef(s.Key(), []byte(id))); err != nil {
					return err
				}
				ds = append(ds, stat{id, e.Size, e.MtimeNS, e.Inode})
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st1, _ := os.Stat(path)
	for i := range 1000 {
		ds[i*997].mtime++ // modified
		ds = append(ds, stat{id: fmt.Sprintf("new/%04d.jpg", i), size: 1})
	}
	b.ResetTimer()
	for b.Loop() {
		view, err := s.View()
		if err != nil {
			b.Fatal(err)
		}
		hash := 0
		for _, d := range ds {
			if e, ok := view[d.id]; !ok || !e.SameStat(d.size, d.mtime, d.inode) {
				hash++
			}
		}
		if hash != 2000 {
			b.Fatalf("%d samples to hash, want 2000", hash)
		}
	}
	b.ReportMetric(float64(st1.Size()-st0.Size())/n, "file-bytes/sample")
}
