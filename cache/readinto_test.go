package cache

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/features"
	bolt "go.etcd.io/bbolt"
)

// TestReadMatrixInto reads a generation into destinations of every kind and
// checks the rows against the samples as written, and whether memory was reused.
func TestReadMatrixInto(t *testing.T) {
	const dim = 1024
	tests := []struct {
		name  string
		rows  int // 1100 rows of 1024 values take the parallel path
		dtype string
		dst   func() *features.Matrix
		reuse bool // dst.Data's array must be the result's
	}{
		{"nil dst", 30, "", func() *features.Matrix { return nil }, false},
		{"empty dst", 30, "", func() *features.Matrix { return &features.Matrix{} }, false},
		{"too small", 30, "", func() *features.Matrix { return features.NewMatrix(29, dim) }, false},
		{"exact", 30, "", func() *features.Matrix { return features.NewMatrix(30, dim) }, true},
		{"larger, other shape", 30, "", func() *features.Matrix { return features.NewMatrix(100, 999) }, true},
		{"stale contents", 30, DTypeFloat16, func() *features.Matrix {
			m := features.NewMatrix(40, dim)
			for i := range m.Data {
				m.Data[i] = -7
			}
			for i := range m.IDs {
				m.IDs[i] = "stale"
			}
			return m
		}, true},
		{"parallel, nil dst", 1100, "", func() *features.Matrix { return nil }, false},
		{"parallel, reused", 1100, "", func() *features.Matrix { return features.NewMatrix(1200, dim) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, false)
			s, err := db.EnsureSet(testInfo("m", dim, tc.dtype))
			if err != nil {
				t.Fatal(err)
			}
			dtype := s.Info().DType
			ss := makeSamples(uint64(tc.rows), tc.rows, dim)
			putAll(t, s, 0, ss, 97)
			dst := tc.dst()
			var data0 *float32
			if dst != nil && cap(dst.Data) > 0 {
				data0 = &dst.Data[:1][0]
			}
			m, err := s.ReadMatrixInto(0, dst)
			if err != nil {
				t.Fatal(err)
			}
			if dst != nil && m != dst {
				t.Fatal("result is not dst")
			}
			if m.Cols != dim {
				t.Fatalf("Cols = %d, want %d", m.Cols, dim)
			}
			if got := data0 != nil && &m.Data[0] == data0; got != tc.reuse {
				t.Fatalf("data reused = %v, want %v", got, tc.reuse)
			}
			checkMatrix(t, m, sortedByID(ss), dtype)
		})
	}
}

// TestReadMatrixIntoLifetimes checks that IDs from an earlier read survive
// a later read into the same matrix and that nothing aliases the file.
func TestReadMatrixIntoLifetimes(t *testing.T) {
	const dim = 8
	path := filepath.Join(t.TempDir(), "c.asvp")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.EnsureSet(testInfo("m", dim, ""))
	if err != nil {
		t.Fatal(err)
	}
	first := makeSamples(1, 20, dim)
	putAll(t, s, 0, first, 20)
	m, err := s.ReadMatrixInto(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept := slices.Clone(m.IDs) // the strings, not copies of their bytes
	// Replace every vector and add more samples, then read into m again.
	second := makeSamples(2, 25, dim)
	putAll(t, s, 0, second, 25)
	if _, err := s.ReadMatrixInto(0, m); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The file is unmapped now: reading aliased memory would crash.
	want := sortedByID(append(slices.Clone(first), second...))
	checkMatrix(t, m, want, DTypeFloat32)
	for i, s := range sortedByID(first) {
		if kept[i] != s.id {
			t.Fatalf("kept ID %d = %q, want %q", i, kept[i], s.id)
		}
	}
}

// TestReadMatrixIntoCorrupt checks that ReadMatrixInto verifies checksums on
// both the serial and the parallel path and names the first bad sample.
func TestReadMatrixIntoCorrupt(t *testing.T) {
	const dim = 1024
	for _, rows := range []int{10, 1100} {
		db := openTest(t, false)
		s, err := db.EnsureSet(testInfo("m", dim, ""))
		if err != nil {
			t.Fatal(err)
		}
		ss := sortedByID(makeSamples(5, rows, dim))
		putAll(t, s, 0, ss, 500)
		// Damage records all over, listed backwards: the first one in ID
		// order must be reported, whichever worker finds which.
		var victims []string
		for i := rows - 2; i > 0; i -= max(rows/10, 3) {
			victims = append(victims, ss[i].id)
		}
		first := victims[len(victims)-1]
		err = db.bolt.Update(func(tx *bolt.Tx) error {
			vb := tx.Bucket(bucketSets).Bucket([]byte(s.Key())).Bucket(keyGens).Bucket(genKey(0)).Bucket(bucketVec)
			for _, id := range victims {
				v := slices.Clone(vb.Get([]byte(id)))
				v[len(v)-1] ^= 0x40
				if err := vb.Put([]byte(id), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		dst := features.NewMatrix(rows, dim)
		m, err := s.ReadMatrixInto(0, dst)
		if m != nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), first) {
			t.Fatalf("%d rows: ReadMatrixInto of damaged records = %v, %v; want ErrCorrupt naming %s", rows, m, err, first)
		}
	}
}

// TestReadRowsBound checks the guard against pages that loop: a walk that
// yields more records than the file has room for stops with ErrCorrupt
// instead of growing the matrix until memory runs out. A real loop needs
// a damaged file; here the room is given smaller than the records.
func TestReadRowsBound(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("b", 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, 0, makeSamples(2, 10, 4), 10)
	for _, tc := range []struct {
		hint, most int
		wantErr    bool
	}{
		{10, 10, false}, // the count fits the room: all rows
		{0, 10, false},  // a count of 0 grows the matrix up to the room
		{0, 5, true},    // more records than room: a loop
		{3, 5, true},
	} {
		err := db.view(func(tx *bolt.Tx) error {
			gb, _, err := s.genBucket(tx, 0)
			if err != nil {
				return err
			}
			m := &features.Matrix{Cols: 4, IDs: make([]string, tc.hint), Data: make([]float32, tc.hint*4)}
			rows, err := readRows(gb.Bucket(bucketVec).Cursor(), m, 4, tc.most, db.Path())
			if err == nil && rows != 10 {
				t.Errorf("hint %d, room %d: %d rows, want 10", tc.hint, tc.most, rows)
			}
			return err
		})
		if got := errors.Is(err, ErrCorrupt); got != tc.wantErr {
			t.Errorf("hint %d, room %d: err %v, want ErrCorrupt %v", tc.hint, tc.most, err, tc.wantErr)
		}
	}
}
