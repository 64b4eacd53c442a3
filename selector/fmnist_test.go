package selector

import (
	"image"
	"testing"

	"github.com/asvp-dev/asvp/datasets"
)

// fmnistPixels returns the 28x28 pixels (one byte each, row-major) and the
// labels of the first n images of a Fashion-MNIST split, "train" or "t10k",
// read by the datasets package.
func fmnistPixels(t testing.TB, split string, n int) ([]byte, []int) {
	t.Helper()
	spec := "fashion-mnist:train"
	if split == "t10k" {
		spec = "fashion-mnist:test"
	}
	ds, err := datasets.Open(spec, datasets.Options{})
	if err != nil {
		t.Fatalf("Fashion-MNIST is needed (make setup): %v", err)
	}
	px := make([]byte, 0, n*784)
	labels := make([]int, n)
	for i := range n {
		img, err := ds.Image(i)
		if err != nil {
			t.Fatal(err)
		}
		px = append(px, img.(*image.Gray).Pix...)
		labels[i] = ds.Sample(i).Label
	}
	return px, labels
}
