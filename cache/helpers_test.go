package cache

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/half"
)

// openTest opens a new cache in t.TempDir(). At cleanup it closes the cache,
// reopens it read-only and fails the test if Verify finds a problem, unless
// the test corrupts the file on purpose (verify false).
func openTest(t *testing.T, verify bool) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "features.asvp")
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close() // may already be closed by the test
		if !verify {
			return
		}
		ro, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Errorf("reopening for verification: %v", err)
			return
		}
		defer ro.Close()
		rep, err := Verify(ro)
		if err != nil || !rep.OK() {
			t.Errorf("cleanup verification: %v %v", err, rep.Problems)
		}
	})
	return db
}

// testInfo returns a SetInfo of a made-up model and dataset.
func testInfo(model string, dim int, dtype string) SetInfo {
	return SetInfo{
		Model:       model,
		ModelSHA256: fmt.Sprintf("%064x", len(model)*7919+dim),
		Output:      "pooled",
		CardHash:    "card-" + model,
		Dataset:     "fashion-mnist:train",
		DatasetID:   "ds-1",
		DType:       dtype,
		Dim:         dim,
	}
}

// sample is one ID and its vector, generated independently of the cache.
type sample struct {
	id  string
	vec []float32
}

func makeSamples(seed uint64, n, dim int) []sample {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]sample, n)
	for i := range out {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		out[i] = sample{id: fmt.Sprintf("img/%05d.png", rng.IntN(1_000_000)*10+i%10), vec: v}
	}
	// IDs must be unique; make them so while keeping a shuffled order.
	for i := range out {
		out[i].id = fmt.Sprintf("%s#%d", out[i].id, i)
	}
	return out
}

func flatten(ss []sample) ([]string, []float32) {
	var ids []string
	var vecs []float32
	for _, s := range ss {
		ids = append(ids, s.id)
		vecs = append(vecs, s.vec...)
	}
	return ids, vecs
}

// putAll stores ss in batches of size batch.
func putAll(t *testing.T, s *Set, gen int, ss []sample, batch int) {
	t.Helper()
	for i := 0; i < len(ss); i += batch {
		ids, vecs := flatten(ss[i:min(i+batch, len(ss))])
		if err := s.PutBatch(gen, ids, vecs); err != nil {
			t.Fatal(err)
		}
	}
}

// sortedByID returns ss sorted by ID, as ReadMatrix orders rows.
func sortedByID(ss []sample) []sample {
	out := slices.Clone(ss)
	slices.SortFunc(out, func(a, b sample) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out
}

// wantValue returns what a stored value reads back as under dtype.
func wantValue(dtype string, v float32) float32 {
	if dtype == DTypeFloat16 {
		return half.ToFloat32(half.FromFloat32(v)) // internal/half is checked against an independent reference
	}
	return v
}

// checkMatrix compares m against ss row by row.
func checkMatrix(t *testing.T, m *features.Matrix, ss []sample, dtype string) {
	t.Helper()
	if m.Rows != len(ss) || len(m.IDs) != len(ss) || len(m.Data) != m.Rows*m.Cols {
		t.Fatalf("matrix %d rows, %d IDs, %d values; want %d rows", m.Rows, len(m.IDs), len(m.Data), len(ss))
	}
	for i, s := range ss {
		if m.IDs[i] != s.id {
			t.Fatalf("row %d: ID %q, want %q", i, m.IDs[i], s.id)
		}
		for j, v := range s.vec {
			if got, want := m.Row(i)[j], wantValue(dtype, v); got != want {
				t.Fatalf("row %d (%s) col %d: %v, want %v", i, s.id, j, got, want)
			}
		}
	}
}
