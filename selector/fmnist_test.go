package selector

import (
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
	px, labels, err := datasets.GrayPixels(ds, n)
	if err != nil {
		t.Fatal(err)
	}
	return px, labels
}
