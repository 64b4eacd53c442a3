package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMigrateFormat1 opens the format-1 cache written by the release
// before content addressing (cmd/asvp/testdata/cache-v1, made by its
// make.sh): read-only it reads as it is; opened for writing it is backed up
// and migrated once, its spec made absolute, its vectors unchanged, and
// Verify finds nothing wrong.
func TestMigrateFormat1(t *testing.T) {
	src, err := os.ReadFile("../cmd/asvp/testdata/cache-v1/photos.cache")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v1.cache")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(db *DB) (SetInfo, []string, []float32) {
		t.Helper()
		infos, err := db.Sets()
		if err != nil || len(infos) != 1 {
			t.Fatalf("sets %v: %v", infos, err)
		}
		s, _ := db.Set(infos[0].Key)
		m, err := s.ReadMatrix(0)
		if err != nil {
			t.Fatal(err)
		}
		return infos[0], m.IDs, m.Data
	}
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Version() != 1 || ro.Migrated() != nil {
		t.Errorf("read-only open: version %d, migrated %v", ro.Version(), ro.Migrated())
	}
	before, ids, data := read(ro)
	ro.Close()
	if before.Dataset != "folder:../../testdata/photos" || len(ids) != 5 {
		t.Fatalf("fixture: dataset %q, %d samples", before.Dataset, len(ids))
	}
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := db.Migrated()
	if m == nil || m.From != 1 || db.Version() != FormatVersion || m.Backup != path+".v1.bak" {
		t.Fatalf("migration %+v, version %d", m, db.Version())
	}
	if bak, err := Open(m.Backup, &Options{ReadOnly: true}); err != nil {
		t.Errorf("backup: %v", err)
	} else {
		_, bids, bdata := read(bak)
		if bak.Version() != 1 || !slices.Equal(bids, ids) || !slices.Equal(bdata, data) {
			t.Errorf("backup: version %d, not the file before migration", bak.Version())
		}
		bak.Close()
	}
	after, ids2, data2 := read(db)
	if after.Key != before.Key || !filepath.IsAbs(strings.TrimPrefix(after.Dataset, "folder:")) || m.Specs[before.Dataset] != after.Dataset {
		t.Errorf("migrated set: key %s (was %s), dataset %q, specs %v", after.Key, before.Key, after.Dataset, m.Specs)
	}
	if !slices.Equal(ids, ids2) || !slices.Equal(data, data2) {
		t.Errorf("vectors changed by the migration")
	}
	if rep, err := Verify(db); err != nil || !rep.OK() {
		t.Errorf("verify after migration: %v %v", err, rep.Problems)
	}
	// FindSet by the spec as typed before still finds it (relative to here).
	if _, err := db.FindSet("folder:../../testdata/photos/", ""); err != nil {
		t.Errorf("find by the old relative spec: %v", err)
	}
	db.Close()
	if err := os.Remove(m.Backup); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Migrated() != nil {
		t.Errorf("migrated twice")
	}
	if _, err := os.Stat(m.Backup); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a second open wrote a backup again")
	}
}
