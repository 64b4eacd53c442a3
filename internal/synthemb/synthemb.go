// Package synthemb writes synthetic embedding files for the import
// benchmarks: the same file for the package benchmark and for the
// whole-program one (bench/importnpy).
package synthemb

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/asvp-dev/asvp/cache"
)

// Write writes path, a float32 .npy of rows x dim Gaussian values drawn
// from seed (C order), and path + ".ids.txt", one ID per line ("s0000000",
// "s0000001", ...), as `asvp cache export` lays them out.
func Write(path string, rows, dim int, seed uint64) error {
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
		f.Close()
		return fmt.Errorf("synthemb: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("synthemb: %s: %w", path, err)
	}
	ids := make([]byte, 0, rows*9)
	for i := range rows {
		ids = fmt.Appendf(ids, "s%07d\n", i)
	}
	return os.WriteFile(path+".ids.txt", ids, 0o644)
}
