package cache

import "fmt"

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
		panic(fmt.Sprintf("cache: negative matrix shape %dx%d", rows, cols))
	}
	return &Matrix{IDs: make([]string, rows), Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// Row returns row i as a slice that aliases the matrix data.
func (m *Matrix) Row(i int) []float32 { return m.Data[i*m.Cols : (i+1)*m.Cols] }
