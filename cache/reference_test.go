package cache

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/asvp-dev/asvp/embeddings"
	"github.com/asvp-dev/asvp/features"
)

// writeNPYFiles writes m as DIR/emb.npy with its IDs file and returns the
// path of the .npy.
func writeNPYFiles(t *testing.T, dir string, m *features.Matrix) string {
	t.Helper()
	var npy, ids bytes.Buffer
	if err := ExportMatrix(m, "npy", &npy); err != nil {
		t.Fatal(err)
	}
	if err := WriteIDs(m, &ids); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "emb.npy")
	if err := os.WriteFile(p, npy.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".ids.txt", ids.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// refInfo is the set info of an import of the .npy at p by reference, as
// loop.ImportFeatures builds it.
func refInfo(t *testing.T, p string) SetInfo {
	t.Helper()
	n, err := embeddings.OpenNPY(p, p+".ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	return SetInfo{Model: "clip", Output: "embedding", CardHash: "import:clip", Dataset: ImportDataset("emb"),
		DatasetID: n.Hash + ",ids-" + n.IDsHash, DType: n.DType, Dim: n.Cols,
		Import: &ImportInfo{File: p, Format: "npy", Hash: n.Hash, IDs: p + ".ids.txt", IDsHash: n.IDsHash, Rows: n.Rows,
			Ref: &ImportRef{Path: p, IDs: p + ".ids.txt"}}}
}

// matrixByID returns m's rows in ID order, as ReadMatrix returns them.
func matrixByID(m *features.Matrix) *features.Matrix {
	order := make([]int, m.Rows)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return m.IDs[order[a]] < m.IDs[order[b]] })
	out := features.NewMatrix(m.Rows, m.Cols)
	for i, r := range order {
		out.IDs[i] = m.IDs[r]
		copy(out.Row(i), m.Row(r))
	}
	return out
}

func sameMatrix(t *testing.T, what string, got, want *features.Matrix) {
	t.Helper()
	if got.Rows != want.Rows || got.Cols != want.Cols || !slices.Equal(got.IDs, want.IDs) || !slices.Equal(got.Data, want.Data) {
		t.Fatalf("%s: %d x %d, IDs %q..., want %d x %d, IDs %q...", what, got.Rows, got.Cols, got.IDs[:min(3, len(got.IDs))],
			want.Rows, want.Cols, want.IDs[:3])
	}
}

// TestImportReference: a set imported by reference reads the file's rows
// (in ID order, every read checking the file again), re-importing it is a
// no-op, and an import with a copy then moves its vectors into the cache,
// after which the file may go.
func TestImportReference(t *testing.T) {
	db := openTest(t, true)
	m := importMatrix(4)
	p := writeNPYFiles(t, t.TempDir(), m)
	info := refInfo(t, p)
	s, already, err := db.ImportReference(info)
	if err != nil || already {
		t.Fatalf("import: already %v, %v", already, err)
	}
	if !s.ByReference(0) {
		t.Fatal("not by reference")
	}
	// Nothing of the vectors is in the cache, and the set is whole.
	if n, err := s.countStored(0); err != nil || n != 0 {
		t.Fatalf("stored vectors %d, %v; want none", n, err)
	}
	found, err := db.FindSet(ImportDataset("emb"), "")
	if err != nil || found.Key() != s.Key() {
		t.Fatalf("FindSet: %v", err)
	}
	if n, err := found.Count(0); err != nil || n != 300 {
		t.Fatalf("Count %d, %v", n, err)
	}
	got, err := found.ReadMatrix(0)
	if err != nil {
		t.Fatal(err)
	}
	sameMatrix(t, "ReadMatrix", got, matrixByID(m))
	rows, err := found.ReadRows(0, m.IDs[10:20])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows.IDs, m.IDs[10:20]) || !slices.Equal(rows.Data, m.Data[10*4:20*4]) {
		t.Fatalf("ReadRows: %q", rows.IDs)
	}
	if _, err := found.ReadRows(0, []string{"nope"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadRows of an unknown ID: %v, want ErrNotFound", err)
	}
	if miss, err := found.Missing(0, []string{"s3", "nope", "s299"}); err != nil || !slices.Equal(miss, []string{"nope"}) {
		t.Fatalf("Missing %q, %v", miss, err)
	}
	if r, err := Verify(db); err != nil || !r.OK() || r.Vectors != 300 || r.Samples != 300 {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	// Again: nothing to do.
	if s2, already, err := db.ImportReference(info); err != nil || !already || s2.Key() != s.Key() {
		t.Fatalf("re-import: already %v, %v", already, err)
	}
	// Moved, then imported again: the same set, reading the new place.
	moved := filepath.Join(t.TempDir(), "moved.npy")
	for _, ext := range []string{"", ".ids.txt"} {
		if err := os.Rename(p+ext, moved+ext); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := found.ReadMatrix(0); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("read with the file moved away: %v, want ErrSourceChanged", err)
	}
	movedInfo := refInfo(t, moved)
	if s2, already, err := db.ImportReference(movedInfo); err != nil || already || s2.Key() != s.Key() || s2.Info().Import.Ref.Path != moved {
		t.Fatalf("import from the new place: already %v, %v", already, err)
	}
	found, err = db.FindSet(ImportDataset("emb"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err = found.ReadMatrix(0); err != nil {
		t.Fatalf("read after the move: %v", err)
	}
	sameMatrix(t, "ReadMatrix after the move", got, matrixByID(m))
	p, info = moved, movedInfo
	// A copy: the vectors move into the cache, the set stays the same.
	info.Import.Ref = nil
	s3, n, err := db.ImportSet(info, m, nil)
	if err != nil || n != 300 || s3.Key() != s.Key() || s3.ByReference(0) {
		t.Fatalf("copy: %d written, by reference %v, %v", n, s3.ByReference(0), err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	found, err = db.FindSet(ImportDataset("emb"), "")
	if err != nil || found.ByReference(0) {
		t.Fatalf("FindSet after the copy: %v", err)
	}
	if got, err = found.ReadMatrix(0); err != nil {
		t.Fatal(err)
	}
	sameMatrix(t, "ReadMatrix of the copy", got, matrixByID(m))
}

// TestImportReferenceSourceChanged: a referenced file that changed, or is
// gone, is refused naming it (ErrSourceChanged), reported by Verify, and
// dropped by GC.
func TestImportReferenceSourceChanged(t *testing.T) {
	db := openTest(t, true)
	m := importMatrix(3)
	dir := t.TempDir()
	p := writeNPYFiles(t, dir, m)
	s, _, err := db.ImportReference(refInfo(t, p))
	if err != nil {
		t.Fatal(err)
	}
	other := importMatrix(3)
	other.Data[7] = 42
	writeNPYFiles(t, dir, other)
	_, err = s.ReadMatrix(0)
	if !errors.Is(err, ErrSourceChanged) || !errContains(err, p+" changed since the import: its content hash is xxh3:") || !errContains(err, "--copy") {
		t.Fatalf("changed file: %v, want ErrSourceChanged naming it", err)
	}
	r, err := Verify(db)
	if err != nil || r.OK() || !errContains(errors.New(r.Problems[0].String()), "changed since the import") {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	gc, err := db.GC(true)
	if err != nil || len(gc.Sets) != 1 || gc.Sets[0].Key != s.Key() || gc.Sets[0].Samples != 300 || !errContains(errors.New(gc.Sets[0].Reason), "gone or changed") {
		t.Fatalf("gc: %+v, %v", gc, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadRows(0, []string{"s1"}); !errors.Is(err, ErrSourceChanged) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file gone: %v, want ErrSourceChanged and ErrNotExist", err)
	}
	if gc, err := db.GC(false); err != nil || len(gc.Sets) != 1 {
		t.Fatalf("gc: %+v, %v", gc, err)
	}
	if sets, err := db.Sets(); err != nil || len(sets) != 0 {
		t.Fatalf("sets after gc: %v, %v; want none", sets, err)
	}
}

// TestImportReferenceAfterInterruptedCopy: a copy killed halfway leaves
// an incomplete set; importing by reference completes it at once, and a
// later copy writes only the rows the first one did not.
func TestImportReferenceAfterInterruptedCopy(t *testing.T) {
	db := openTest(t, true)
	m := importMatrix(3)
	p := writeNPYFiles(t, t.TempDir(), m)
	info := refInfo(t, p)
	copyInfo := info
	imp := *info.Import
	imp.Ref = nil
	copyInfo.Import = &imp
	s, err := db.EnsureSet(copyInfo)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutBatch(0, m.IDs[:100], m.Data[:100*3]); err != nil {
		t.Fatal(err)
	}
	if _, already, err := db.ImportReference(info); err != nil || already {
		t.Fatalf("reference import: already %v, %v", already, err)
	}
	found, err := db.FindSet(ImportDataset("emb"), "")
	if err != nil || !found.ByReference(0) {
		t.Fatalf("FindSet: %v", err)
	}
	got, err := found.ReadMatrix(0)
	if err != nil {
		t.Fatal(err)
	}
	sameMatrix(t, "ReadMatrix", got, matrixByID(m))
	if _, n, err := db.ImportSet(copyInfo, m, nil); err != nil || n != 200 {
		t.Fatalf("copy: %d written, %v; want the 200 missing", n, err)
	}
}
