package tail

import (
	"sync"
	"sync/atomic"

	"github.com/asvp-dev/asvp/models/nn"
)

// float is the element type of the generic network: float32 in use,
// float64 in the gradient checks.
type float interface{ ~float32 | ~float64 }

// gemmSplitWork is the number of multiply-adds above which gemm spreads
// the columns of the product over workers.
const gemmSplitWork = 1 << 20

// gemm computes C = op(A)·op(B) (or C += when acc) as nn.MatMul32 does
// (nn.MatMul for float64), with the same shapes and strides. When the
// product is large and workers > 1 the columns of C are split into
// contiguous ranges computed at the same time; every element is still one
// product summed in the order of the inner index by the same routine, so
// the split does not change any bit.
func gemm[T float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool, workers int) {
	if m == 0 || n == 0 {
		return
	}
	parts := 1
	if workers > 1 && m*n*k >= gemmSplitWork {
		parts = min(workers, max(1, n/32))
	}
	if parts <= 1 {
		matmul(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, acc)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		j0, j1 := n*p/parts, n*(p+1)/parts
		if j0 == j1 {
			continue
		}
		bOff := j0
		if transB {
			bOff = j0 * ldb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			matmul(transA, transB, m, j1-j0, k, a, lda, b[bOff:], ldb, c[j0:], ldc, acc)
		}()
	}
	wg.Wait()
}

func matmul[T float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int, acc bool) {
	switch av := any(a).(type) {
	case []float32:
		nn.MatMul32(transA, transB, m, n, k, av, lda, any(b).([]float32), ldb, any(c).([]float32), ldc, acc)
	case []float64:
		nn.MatMul(transA, transB, m, n, k, av, lda, any(b).([]float64), ldb, any(c).([]float64), ldc, acc)
	}
}

// parallelFor calls f(i) for i in [0, n) on up to workers goroutines.
// Callers give each i its own output, so the order of calls does not
// matter.
func parallelFor(workers, n int, f func(i int)) {
	if workers <= 1 || n <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	workers = min(workers, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
