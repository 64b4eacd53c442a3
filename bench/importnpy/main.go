// Command importnpy writes a synthetic embedding file for the import
// benchmark: a float32 .npy of ROWS x DIM seeded Gaussian values (C
// order) and its IDs file (FILE.ids.txt, one ID per line).
//
//	go run ./bench/importnpy -rows 1000000 -dim 512 -out /tmp/emb.npy
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/asvp-dev/asvp/internal/synthemb"
)

func main() {
	rows := flag.Int("rows", 1000000, "rows")
	dim := flag.Int("dim", 512, "dimension")
	out := flag.String("out", "", "the .npy to write (required)")
	seed := flag.Uint64("seed", 1, "seed of the values")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "importnpy: -out is required")
		os.Exit(2)
	}
	if err := synthemb.Write(*out, *rows, *dim, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "importnpy:", err)
		os.Exit(1)
	}
}
