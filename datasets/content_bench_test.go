package datasets

import (
	"testing"
)

// BenchmarkSampleHash hashes the files of testdata/photos (four PNGs and a
// JPEG, 1.7 MB) one after another on one goroutine: the cost content
// addressing adds to the first extraction of a file (later extractions of
// an unchanged file only stat it). Compare its per-image time with
// extraction's for the same files (BENCHMARKS.md).
func BenchmarkSampleHash(b *testing.B) {
	d, err := Open("folder:../testdata/photos", Options{})
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for i := range d.Len() {
		st, _ := SampleStat(d, i)
		bytes += st.Size
	}
	b.SetBytes(bytes)
	for b.Loop() {
		for i := range d.Len() {
			if _, err := SampleHash(d, i); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*d.Len()), "µs/image")
}
