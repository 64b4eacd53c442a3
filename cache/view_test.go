package cache

import (
	"crypto/sha256"
	"errors"
	bolt "go.etcd.io/bbolt"
	"path/filepath"
	"slices"
	"testing"
)

func hashOf(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

func entry(content string) ViewEntry {
	return ViewEntry{Hash: hashOf(content), Size: int64(len(content)), MtimeNS: 1, Inode: 7}
}

// extractInto plays an extraction of a set: the view first, then the
// vectors of the samples still missing (from vecs, by ID).
func extractInto(t *testing.T, s *Set, puts []ViewPut, removes []string, vecs map[string][]float32) (ViewResult, []string) {
	t.Helper()
	res, err := s.ApplyView(puts, removes)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range puts {
		ids = append(ids, p.ID)
	}
	missing, err := s.Missing(0, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range missing {
		for _, p := range puts {
			if p.ID == id {
				if err := s.PutViewBatch([]string{id}, vecs[id], nil, []ViewEntry{p.Entry}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return res, missing
}

// TestViewContentAddressing plays the cases of content addressing on two
// sets of one feature space: a second dataset over the same images copies
// and extracts nothing, a changed image loses its vectors (re-aligned
// generations included), a removed one leaves the view, a vector from
// before format 2 is adopted unless its file was modified after the set
// was created, another dtype is another space. Verify runs
// at the end (openTest) and must find the content index consistent.
func TestViewContentAddressing(t *testing.T) {
	db := openTest(t, true)
	info := testInfo("m", 4, DTypeFloat32)
	vec := func(c string) []float32 { h := hashOf(c); return []float32{float32(h[0]), float32(h[1]), 1, 2} }
	vecs := map[string][]float32{}
	for _, id := range []string{"a1", "a2", "a3", "b1", "b2", "b9"} {
		vecs[id] = vec("content-of-" + id[1:])
	}
	info.Dataset, info.DatasetID = "folder:/a", "spec:folder:/a"
	a, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	puts := []ViewPut{{"a1", entry("c1")}, {"a2", entry("c2")}, {"a3", entry("c3")}}
	if _, missing := extractInto(t, a, puts, nil, vecs); len(missing) != 3 {
		t.Fatalf("first extraction ran %v, want all 3", missing)
	}
	// A second view over two of the same images and a new one.
	info.Dataset, info.DatasetID = "folder:/b", "spec:folder:/b"
	b, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	res, missing := extractInto(t, b, []ViewPut{{"b1", entry("c1")}, {"b2", entry("c2")}, {"b9", entry("c9")}}, nil, vecs)
	if res.Copied != 2 || !slices.Equal(missing, []string{"b9"}) {
		t.Errorf("second dataset: copied %d, extracted %v; want 2 copied and b9 extracted", res.Copied, missing)
	}
	if m, err := b.ReadRows(0, []string{"b1"}); err != nil || !slices.Equal(m.Row(0), vecs["a1"]) {
		t.Errorf("b1 copied as %v, want a1's %v (%v)", m, vecs["a1"], err)
	}
	// Running it again does nothing.
	if res, missing := extractInto(t, b, []ViewPut{{"b1", entry("c1")}, {"b2", entry("c2")}, {"b9", entry("c9")}}, nil, vecs); res != (ViewResult{}) || len(missing) != 0 {
		t.Errorf("unchanged rerun: %+v, extracted %v", res, missing)
	}
	// A re-aligned generation of a, complete.
	g, err := a.AddGeneration(GenInfo{Dim: 2, Source: "adapter"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PutBatch(g, []string{"a1", "a2", "a3"}, []float32{1, 1, 2, 2, 3, 3}); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(g, 3); err != nil {
		t.Fatal(err)
	}
	// a1 replaced by other content of the same size, a3 removed.
	changed := ViewEntry{Hash: hashOf("c1-new"), Size: 2, MtimeNS: 2, Inode: 7}
	vecs["a1"] = vec("c1-new")
	res, missing = extractInto(t, a, []ViewPut{{"a1", changed}, {"a2", entry("c2")}}, []string{"a3"}, vecs)
	if res.Changed != 1 || res.Removed != 1 || !slices.Equal(missing, []string{"a1"}) {
		t.Errorf("change and removal: %+v, extracted %v; want 1 changed, 1 removed, a1 extracted", res, missing)
	}
	if n, _ := a.Count(0); n != 2 {
		t.Errorf("generation 0 holds %d after a removal, want 2", n)
	}
	if done, _ := a.Complete(g); done {
		t.Errorf("generation %d still complete after a1 changed", g)
	}
	if n, _ := a.Count(g); n != 1 {
		t.Errorf("generation %d holds %d, want only a2's vector", g, n)
	}
	if view, _ := a.View(); len(view) != 2 || view["a1"].Hash != changed.Hash {
		t.Errorf("view after change and removal: %v", view)
	}
	// b's copy of the old a1 content is its own: untouched.
	if m, err := b.ReadRows(0, []string{"b1"}); err != nil || !slices.Equal(m.Row(0), vec("content-of-1")) {
		t.Errorf("b1 changed with a1: %v %v", m, err)
	}
	// A set from before format 2: vectors and no view.
	info.Dataset, info.DatasetID = "folder:/old", "identity-hash"
	old, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.PutBatch(0, []string{"o1"}, []float32{9, 9, 9, 9}); err != nil {
		t.Fatal(err)
	}
	if res, missing := extractInto(t, old, []ViewPut{{"o1", entry("c-old")}}, nil, vecs); res.Adopted != 1 || len(missing) != 0 {
		t.Errorf("format-1 vector: %+v, extracted %v; want adopted", res, missing)
	}
	// One whose file was modified after the set was created may not be
	// the content its vector came from: dropped and extracted again.
	if err := old.PutBatch(0, []string{"o2"}, []float32{8, 8, 8, 8}); err != nil {
		t.Fatal(err)
	}
	vecs["o2"] = []float32{7, 7, 7, 7}
	touched := entry("c-o2")
	touched.MtimeNS = old.Info().Created.UnixNano() + 1
	if res, missing := extractInto(t, old, []ViewPut{{"o2", touched}}, nil, vecs); res.Adopted != 0 || res.Changed != 1 || !slices.Equal(missing, []string{"o2"}) {
		t.Errorf("format-1 vector of a file modified since: %+v, extracted %v; want it dropped and extracted", res, missing)
	}
	if m, err := old.ReadRows(0, []string{"o2"}); err != nil || !slices.Equal(m.Row(0), vecs["o2"]) {
		t.Errorf("o2 after extraction: %v, %v; want the new vector", m, err)
	}
	// float16 is another space: nothing to copy from.
	info16 := testInfo("m", 4, DTypeFloat16)
	info16.Dataset, info16.DatasetID = "folder:/c", "spec:folder:/c"
	h, err := db.EnsureSet(info16)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := extractInto(t, h, []ViewPut{{"a2", entry("c2")}}, nil, vecs); res.Copied != 0 {
		t.Errorf("float16 set copied a float32 vector")
	}
}

// TestVerifyContentIndex checks that Verify reports a content index entry
// that names a sample without that content.
func TestVerifyContentIndex(t *testing.T) {
	db := openTest(t, false)
	info := testInfo("m", 2, DTypeFloat32)
	s, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutViewBatch([]string{"x"}, []float32{1, 2}, nil, []ViewEntry{entry("cx")}); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(db); err != nil || !rep.OK() {
		t.Fatalf("clean file: %v %v", err, rep.Problems)
	}
	h := hashOf("not-cx")
	if err := db.update("test", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContent).Bucket([]byte(spaceKey(s.info))).Put(h[:], contentRef(s.Key(), []byte("x")))
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(db)
	if err != nil || rep.OK() || rep.Problems[0].ID != "x" {
		t.Errorf("stale content index entry: %v %v", err, rep.Problems)
	}
}

// TestMergeViews checks that Merge joins the views and content indexes of
// shard files (Verify then finds the index consistent) and refuses one
// sample with different content in two inputs.
func TestMergeViews(t *testing.T) {
	dir := t.TempDir()
	info := testInfo("m", 2, DTypeFloat32)
	shard := func(name string, ids ...string) *DB {
		db, err := Open(filepath.Join(dir, name), &Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := db.EnsureSet(info)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := s.PutViewBatch([]string{id}, []float32{1, float32(len(id))}, nil, []ViewEntry{entry(name + id)}); err != nil {
				t.Fatal(err)
			}
		}
		return db
	}
	s0, s1 := shard("s0", "x", "y"), shard("s1", "z")
	dst, err := Open(filepath.Join(dir, "merged"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := Merge(dst, s0, s1); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(dst); err != nil || !rep.OK() {
		t.Errorf("merged file: %v %v", err, rep.Problems)
	}
	s, _ := dst.Set(Fingerprint(info.ModelSHA256, info.Output, info.CardHash, info.DatasetID))
	if view, err := s.View(); err != nil || len(view) != 3 || view["z"].Hash != hashOf("s1z") {
		t.Errorf("merged view %v (%v)", view, err)
	}
	// x with other content in a third file.
	s2 := shard("s3", "x")
	if err := Merge(dst, s2); !errors.Is(err, ErrConflict) {
		t.Errorf("merging x of other content: %v, want a conflict", err)
	}
}
