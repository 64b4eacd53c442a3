package datasets

import (
	"bytes"
	"path/filepath"
	"testing"
)

func BenchmarkOpenFashionMNISTTrain(b *testing.B) {
	for b.Loop() {
		if _, err := Open("fashion-mnist:train", Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, f := range []string{photosDir + "/rocket.jpg", photosDir + "/chelsea.png", "testdata/lossy.webp"} {
		data := readFile(b, f)
		b.Run(filepath.Base(f), func(b *testing.B) {
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data), f, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

func BenchmarkDecodeBombRefusal(b *testing.B) {
	bomb := bombPNG(100000, 100000)
	for b.Loop() {
		Decode(bytes.NewReader(bomb), "bomb.png", 0)
	}
}
