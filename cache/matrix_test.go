package cache

import (
	"math"
	"testing"

	"github.com/asvp-dev/asvp/features"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/mat"
)

// TestMatrixGonum reads a generation and checks both gonum forms against the
// rows as read: the blas32 view element by element and through a real blas32
// product, the float64 copy exactly (float32 widens without loss).
func TestMatrixGonum(t *testing.T) {
	tests := []struct {
		name      string
		rows, dim int
	}{
		{"small", 7, 5},
		{"one row", 1, 3},
		{"parallel conversion", 300, 1024}, // 307,200 values: several workers
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, false)
			s, err := db.EnsureSet(testInfo("g", tc.dim, ""))
			if err != nil {
				t.Fatal(err)
			}
			putAll(t, s, 0, makeSamples(3, tc.rows, tc.dim), 100)
			m, err := s.ReadMatrix(0)
			if err != nil {
				t.Fatal(err)
			}
			g := m.General()
			if g.Rows != tc.rows || g.Cols != tc.dim || g.Stride != tc.dim {
				t.Fatalf("General shape %dx%d stride %d", g.Rows, g.Cols, g.Stride)
			}
			d := m.Dense()
			if r, c := d.Dims(); r != tc.rows || c != tc.dim {
				t.Fatalf("Dense dims %dx%d", r, c)
			}
			for i := range tc.rows {
				for j := range tc.dim {
					want := m.Row(i)[j]
					if g.Data[i*g.Stride+j] != want {
						t.Fatalf("General[%d,%d] = %v, want %v", i, j, g.Data[i*g.Stride+j], want)
					}
					if d.At(i, j) != float64(want) {
						t.Fatalf("Dense[%d,%d] = %v, want %v", i, j, d.At(i, j), want)
					}
				}
			}
			// G Gᵀ through blas32 against mat's float64 product of the copy.
			gram := blas32.General{Rows: tc.rows, Cols: tc.rows, Stride: tc.rows, Data: make([]float32, tc.rows*tc.rows)}
			blas32.Gemm(blas.NoTrans, blas.Trans, 1, g, g, 0, gram)
			var want mat.Dense
			want.Mul(d, d.T())
			for i := range tc.rows {
				for j := range tc.rows {
					got, w := float64(gram.Data[i*tc.rows+j]), want.At(i, j)
					if math.Abs(got-w) > 1e-4*(1+math.Abs(w)) {
						t.Fatalf("gram[%d,%d]: blas32 %v, mat %v", i, j, got, w)
					}
				}
			}
			// The view aliases the matrix; the copy does not.
			g.Data[0] = 42
			if m.Data[0] != 42 || d.At(0, 0) == 42 {
				t.Fatal("General must alias m.Data and Dense must not")
			}
		})
	}
	if (&features.Matrix{Cols: 4}).Dense() != nil {
		t.Fatal("Dense of an empty matrix is not nil")
	}
}
