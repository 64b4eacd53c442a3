package selector

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/asvp-dev/asvp/features"
)

// SyntheticMixture returns n rows of d float32 features drawn from a seeded
// mixture of k unit-variance gaussians with means drawn from N(0, 2²), and
// each row's component as its label. It is the benchmark pool shared by the
// Go benchmarks and bench/selector; rows are generated in fixed blocks of
// 4096, each from its own PCG stream, so the data depend only on the
// arguments. IDs are "r<index>".
func SyntheticMixture(n, d, k int, seed uint64) (*features.Matrix, []int) {
	means := make([]float64, k*d)
	rng := rand.New(rand.NewPCG(seed, 0))
	for j := range means {
		means[j] = 2 * rng.NormFloat64()
	}
	m := features.NewMatrix(n, d)
	y := make([]int, n)
	const block = 4096
	_ = selParallel(context.Background(), n, block, 0, func(b, lo, hi int) {
		r := rand.New(rand.NewPCG(seed, uint64(b)+1))
		for i := lo; i < hi; i++ {
			c := r.IntN(k)
			y[i] = c
			row := m.Data[i*d : (i+1)*d]
			for j := range row {
				row[j] = float32(means[c*d+j] + r.NormFloat64())
			}
			m.IDs[i] = fmt.Sprintf("r%d", i)
		}
	})
	return m, y
}
