package cache_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/asvp-dev/asvp/cache"
	"gonum.org/v1/gonum/mat"
)

// Reading a cached feature set into gonum. A cache written by `asvp extract`
// is opened the same way; `asvp cache ls --json` lists its set keys.
func Example() {
	dir, err := os.MkdirTemp("", "asvp-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := cache.Open(filepath.Join(dir, "features.asvp"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// A feature set: one model output under one preprocessing over one dataset.
	set, err := db.EnsureSet(cache.SetInfo{
		Model:       "my-backbone",
		ModelSHA256: "5f0c6a2e3d1b4c7a8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
		Output:      "pooled",
		CardHash:    "224-imagenet",
		Dataset:     "folder:photos",
		DatasetID:   "photos-v1",
		Dim:         3,
	})
	if err != nil {
		log.Fatal(err)
	}
	// Generation 0 holds the pre-trained features; one call is one transaction.
	err = set.PutBatch(0, []string{"cat.jpg", "dog.jpg"}, []float32{
		1, 2, 3,
		4, 5, 6,
	})
	if err != nil {
		log.Fatal(err)
	}

	// One bulk pass, every checksum verified; rows in ID order.
	m, err := set.ReadMatrix(0)
	if err != nil {
		log.Fatal(err)
	}
	X := m.Dense() // float64 gonum copy; m.General() is a float32 view for blas32
	var colMean mat.VecDense
	colMean.MulVec(X.T(), mat.NewVecDense(m.Rows, []float64{0.5, 0.5}))
	fmt.Println(m.IDs, m.Rows, "x", m.Cols)
	fmt.Println(mat.Formatted(colMean.T()))
	// Output:
	// [cat.jpg dog.jpg] 2 x 3
	// [2.5  3.5  4.5]
}
