// Command importnpy writes a synthetic embedding file for the import
// benchmark: a float32 .npy of ROWS x DIM seeded Gaussian values (C
// order) and its IDs file (FILE.ids.txt, one ID per line).
//
//	go run ./bench/importnpy -rows 1000000 -dim 512 -out /tmp/emb.npy
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/asvp-dev/asvp/cache"
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
	if err := write(*out, *rows, *dim, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "importnpy:", err)
		os.Exit(1)
	}
}

func write(path string, rows, dim int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(cache.NPYHeader(rows, dim))
	rng := rand.New(rand.NewPCG(seed, 0x6e7079))
	var b [4]byte
	for range rows * dim {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(rng.NormFloat64())))
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	g, err := os.Create(path + ".ids.txt")
	if err != nil {
		return err
	}
	w = bufio.NewWriterSize(g, 1<<20)
	for i := range rows {
		fmt.Fprintf(w, "s%07d\n", i)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return g.Close()
}
