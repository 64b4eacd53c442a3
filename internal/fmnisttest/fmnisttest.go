package fmnisttest

import (
	"testing"

	"github.com/asvp-dev/asvp/datasets"
)

// Pixels returns the 28x28 gray pixels (one byte each, row-major) and the
// labels of the first n images of a Fashion-MNIST dataset spec
// ("fashion-mnist:train" or "fashion-mnist:test"), read by the datasets
// package. The test fails, saying to run make setup, when the data is
// missing.
func Pixels(t testing.TB, spec string, n int) ([]byte, []int) {
	t.Helper()
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
