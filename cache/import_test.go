package cache

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/features"
)

func importInfo(sha string, dim int) SetInfo {
	return SetInfo{Model: "clip", Output: "embedding", CardHash: "import:clip", Dataset: ImportDataset("emb"),
		DatasetID: "xxh3:" + sha, DType: DTypeFloat32, Dim: dim,
		Import: &ImportInfo{File: "emb.npy", Format: "npy", Hash: sha, Rows: 300}}
}

// importMatrix is 300 rows whose IDs are not in byte order, so that
// ImportSet's sorting matters.
func importMatrix(dim int) *features.Matrix {
	m := features.NewMatrix(300, dim)
	for i := range m.Rows {
		m.IDs[i] = fmt.Sprintf("s%d", (i*37)%300)
		for j := range dim {
			m.Data[i*dim+j] = float32(i) + float32(j)/8
		}
	}
	return m
}

func TestImportSet(t *testing.T) {
	db := openTest(t, true)
	m := importMatrix(4)
	s, n, err := db.ImportSet(importInfo("aa", 4), m, nil)
	if err != nil || n != 300 {
		t.Fatalf("import: %d rows, %v", n, err)
	}
	got, err := s.ReadRows(0, m.IDs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Data {
		if got.Data[i] != v {
			t.Fatalf("value %d: read %v, imported %v", i, got.Data[i], v)
		}
	}
	if g, _ := s.Generation(0); g.Source != SourceImport {
		t.Errorf("generation 0 source %q, want %q", g.Source, SourceImport)
	}
	// The same file again: nothing written, the same set.
	s2, n, err := db.ImportSet(importInfo("aa", 4), m, nil)
	if err != nil || n != 0 || s2.Key() != s.Key() {
		t.Fatalf("re-import: %d rows written, key %s vs %s, %v", n, s2.Key(), s.Key(), err)
	}
	// A changed file: another set.
	s3, n, err := db.ImportSet(importInfo("bb", 4), m, nil)
	if err != nil || n != 300 || s3.Key() == s.Key() {
		t.Fatalf("changed file: %d rows, key %s (first %s), %v", n, s3.Key(), s.Key(), err)
	}
	if _, err := db.FindSet(ImportDataset("emb"), ""); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("two imports under one name: FindSet %v, want ErrAmbiguous", err)
	}
}

// TestImportSetInterrupted: an import killed after some batches leaves a
// set that FindSet and PickGeneration refuse, naming the file, and that a
// rerun completes by writing only the missing rows.
func TestImportSetInterrupted(t *testing.T) {
	db := openTest(t, true)
	m := importMatrix(3)
	info := importInfo("cc", 3)
	s, err := db.EnsureSet(info) // what ImportSet does first
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBatch(0, m.IDs[:100], m.Data[:100*3]); err != nil { // the batches a killed run wrote
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"FindSet":            func() error { _, err := db.FindSet(ImportDataset("emb"), "embedding"); return err },
		"PickGeneration(0)":  func() error { _, err := s.PickGeneration(0); return err },
		"PickGeneration(-1)": func() error { _, err := s.PickGeneration(-1); return err },
	} {
		err := f()
		if !errors.Is(err, ErrIncomplete) || !errContains(err, "interrupted import of emb.npy (100 of 300 rows stored)") {
			t.Errorf("%s: %v, want ErrIncomplete naming the file and the rows", name, err)
		}
	}
	_, n, err := db.ImportSet(info, m, nil)
	if err != nil || n != 200 {
		t.Fatalf("rerun: %d rows written, %v; want the 200 missing", n, err)
	}
	if _, err := db.FindSet(ImportDataset("emb"), "embedding"); err != nil {
		t.Fatalf("after the rerun: %v", err)
	}
}

func TestImportSetRefusesNonFinite(t *testing.T) {
	db := openTest(t, true)
	m := importMatrix(2)
	m.Data[2*150+1] = float32(math.Inf(-1))
	_, _, err := db.ImportSet(importInfo("dd", 2), m, nil)
	if err == nil || !errContains(err, `row 151 (sample "s150"): value 1 is -Inf`) {
		t.Fatalf("error %v, want the row, the sample and its -Inf value", err)
	}
	if sets, err := db.Sets(); err != nil || len(sets) != 0 {
		t.Fatalf("sets after a refused import: %v %v, want none", sets, err)
	}
}

func errContains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
