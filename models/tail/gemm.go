package tail

import (
	"sync"
	"sync/atomic"

	"github.com/asvp-dev/asvp/models/nn"
)

// float is the element type of the generic network: float32 in use,
// float64 in the gradient checks.
type float interface{ ~float32 | ~float64 }

// gemm computes C = op(A)·op(B) (or C += when acc) with nn.MatMul32 on up
// to workers goroutines (nn.MatMul for float64), with the same shapes and
// strides. Every element is one dot product summed in the order of the
// inner index, so the result does not depend on workers.
func gemm[T float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool, workers int) {
	if m == 0 || n == 0 {
		return
	}
	switch av := any(a).(type) {
	case []float32:
		nn.MatMul32Workers(workers, transA, transB, m, n, k, av, lda, any(b).([]float32), ldb, any(c).([]float32), ldc, acc)
	case []float64:
		nn.MatMul(transA, transB, m, n, k, av, lda, any(b).([]float64), ldb, any(c).([]float64), ldc, acc)
	}
}

// parallelFor calls f(i) for i in [0, n) on up to workers goroutines.
// Callers give each i its own output, so the order of calls does not
// matter. A goroutine takes a run of about n/(8·workers) indices at a
// time: one index per atomic add made the workers fight over the counter
// when f is short (a BatchNorm channel of a small batch).
func parallelFor(workers, n int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	workers = min(workers, n)
	step := max(1, n/(8*workers))
	var wg sync.WaitGroup
	var next atomic.Int64
	work := func() {
		for {
			i0 := int(next.Add(int64(step))) - step
			if i0 >= n {
				return
			}
			for i := i0; i < min(i0+step, n); i++ {
				f(i)
			}
		}
	}
	// The calling goroutine is one of the workers.
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
