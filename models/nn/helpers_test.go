package nn

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

const fmnistDir = "/usr/share/datasets/fashion-mnist"

// readIDX reads a gzipped IDX file and returns its dimensions and the
// first limit items' bytes.
func readIDX(path string, limit int) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, err
	}
	var magic uint32
	if err := binary.Read(zr, binary.BigEndian, &magic); err != nil {
		return nil, nil, err
	}
	if magic>>8 != 0x08 {
		return nil, nil, fmt.Errorf("%s: not an unsigned-byte IDX file (magic %#x)", path, magic)
	}
	ndim := int(magic & 0xff)
	dims := make([]int, ndim)
	for i := range dims {
		var d uint32
		if err := binary.Read(zr, binary.BigEndian, &d); err != nil {
			return nil, nil, err
		}
		dims[i] = int(d)
	}
	item := 1
	for _, d := range dims[1:] {
		item *= d
	}
	n := min(limit, dims[0])
	buf := make([]byte, n*item)
	if _, err := io.ReadFull(zr, buf); err != nil {
		return nil, nil, err
	}
	dims[0] = n
	return dims, buf, nil
}

// loadFMNIST returns n samples of the given split as pixels/255 and labels.
func loadFMNIST(t testing.TB, split string, n int) ([]float32, []int, int) {
	t.Helper()
	dims, px, err := readIDX(fmt.Sprintf("%s/%s-images-idx3-ubyte.gz", fmnistDir, split), n)
	if err != nil {
		t.Fatalf("fashion-mnist images: %v", err)
	}
	_, lb, err := readIDX(fmt.Sprintf("%s/%s-labels-idx1-ubyte.gz", fmnistDir, split), n)
	if err != nil {
		t.Fatalf("fashion-mnist labels: %v", err)
	}
	x := make([]float32, len(px))
	for i, b := range px {
		x[i] = float32(b) / 255
	}
	y := make([]int, len(lb))
	for i, b := range lb {
		y[i] = int(b)
	}
	return x, y, dims[1] * dims[2]
}

// blobs returns n samples of dim features in c Gaussian clusters whose
// centres are sep apart on distinct axes, with labels.
func blobs(n, dim, c int, sep float64, seed uint64) ([]float32, []int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*dim)
	y := make([]int, n)
	for i := range n {
		y[i] = i % c
		for j := range dim {
			v := rng.NormFloat64()
			if j == y[i]%dim {
				v += sep
			}
			x[i*dim+j] = float32(v*0.5 + 3) // shifted and scaled: standardisation matters
		}
	}
	return x, y
}

func randMatrix(rng *rand.Rand, rows, cols int) *Matrix {
	m := NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = rng.NormFloat64()
	}
	return m
}

func testAccuracy(probs []float32, y []int, c int) float64 {
	correct := 0
	for i := range y {
		best := 0
		for k := 1; k < c; k++ {
			if probs[i*c+k] > probs[i*c+best] {
				best = k
			}
		}
		if best == y[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(y))
}

func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1e-8, math.Max(math.Abs(a), math.Abs(b)))
}
