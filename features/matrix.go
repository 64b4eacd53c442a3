package features

import (
	"fmt"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/mat"
)

// Matrix is a dense, row-major float32 matrix with one row per sample.
//
// Row i holds the features of the sample IDs[i]. Data has length Rows*Cols.
// A Matrix read from a cache owns its memory; callers may modify it.
type Matrix struct {
	IDs  []string
	Rows int
	Cols int
	Data []float32
}

// NewMatrix returns a zeroed Matrix of the given shape with room for IDs.
// It panics when rows or cols is negative, a programmer error.
func NewMatrix(rows, cols int) *Matrix {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("features: negative matrix shape %dx%d", rows, cols))
	}
	return &Matrix{IDs: make([]string, rows), Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// Row returns row i as a slice that aliases the matrix data.
func (m *Matrix) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// General returns the matrix as a gonum float32 general matrix, for the
// routines of gonum.org/v1/gonum/blas/blas32. It is a view: it shares
// m.Data, so it costs nothing and writes through it change m.
func (m *Matrix) General() blas32.General {
	return blas32.General{Rows: m.Rows, Cols: m.Cols, Stride: m.Cols, Data: m.Data[:m.Rows*m.Cols]}
}

// Dense returns a float64 copy of the matrix as a gonum mat.Dense, for the
// routines of gonum.org/v1/gonum/mat. The copy takes twice the memory of m;
// a matrix with no rows or no columns, which mat.Dense cannot hold, returns
// nil. Large matrices are converted on all CPUs.
func (m *Matrix) Dense() *mat.Dense {
	if m.Rows == 0 || m.Cols == 0 {
		return nil
	}
	out := make([]float64, m.Rows*m.Cols)
	src := m.Data[:len(out)]
	const chunk = 1 << 16
	workers := min(runtime.GOMAXPROCS(0), (len(out)+chunk-1)/chunk)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := len(out)*w/workers, len(out)*(w+1)/workers
		wg.Go(func() {
			for i, v := range src[lo:hi] {
				out[lo+i] = float64(v)
			}
		})
	}
	wg.Wait()
	return mat.NewDense(m.Rows, m.Cols, out)
}
