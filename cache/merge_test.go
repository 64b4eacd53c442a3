package cache

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMergeShardsEqualsSingleFill(t *testing.T) {
	const dim = 12
	ss := makeSamples(21, 150, dim)
	ss1 := makeSamples(22, 40, 5) // generation 1, 5-dim
	failed := []SampleError{{ID: "bad-1", Path: "/d/bad-1", Reason: "corrupt jpeg"}, {ID: "bad-2", Reason: "too small"}}
	prov := map[string]string{"source": "adapter", "seed": "1"}
	classes := []string{"a", "b", "c"}

	// fill stores the samples whose index i satisfies keep(i).
	fill := func(db *DB, shard string, keep func(i int) bool) {
		t.Helper()
		info := testInfo("m", dim, "")
		info.Shard = shard
		s, err := db.EnsureSet(info)
		if err != nil {
			t.Fatal(err)
		}
		var part, part1 []sample
		var errs []SampleError
		labels := map[string]int{}
		for i, x := range ss {
			if keep(i) {
				part = append(part, x)
				labels[x.id] = i % 3
			}
		}
		for i, x := range ss1 {
			if keep(i) {
				part1 = append(part1, x)
			}
		}
		for i, e := range failed {
			if keep(i) {
				errs = append(errs, e)
			}
		}
		putAll(t, s, 0, part, 32)
		if err := s.PutErrors(0, errs); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddGeneration(GenInfo{Dim: 5, Source: "adapter", Provenance: prov}); err != nil {
			t.Fatal(err)
		}
		putAll(t, s, 1, part1, 32)
		if err := db.PutLabels("oracle", classes, labels); err != nil {
			t.Fatal(err)
		}
		if err := db.PutRecord("sim", shard+"-rec", []byte(shard)); err != nil {
			t.Fatal(err)
		}
	}
	single := openTest(t, true)
	fill(single, "", func(int) bool { return true })
	a, b := openTest(t, true), openTest(t, true)
	fill(a, "0/2", func(i int) bool { return i%2 == 0 })
	fill(b, "1/2", func(i int) bool { return i%2 == 1 })

	merged := openTest(t, true)
	if err := Merge(merged, a, b); err != nil {
		t.Fatal(err)
	}
	// Merging the same shard again is harmless (identical vectors).
	if err := Merge(merged, b); err != nil {
		t.Fatal(err)
	}
	sets, err := merged.Sets()
	if err != nil || len(sets) != 1 || sets[0].Shard != "" {
		t.Fatalf("merged sets %+v, %v", sets, err)
	}
	want, _ := single.Set(sets[0].Key)
	got, _ := merged.Set(sets[0].Key)
	for gen := range 2 {
		wm, err1 := want.ReadMatrix(gen)
		gm, err2 := got.ReadMatrix(gen)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !slices.Equal(wm.IDs, gm.IDs) || !slices.Equal(wm.Data, gm.Data) || wm.Cols != gm.Cols {
			t.Fatalf("generation %d: merged matrix differs from a single fill", gen)
		}
		wc, _ := want.Count(gen)
		gc, _ := got.Count(gen)
		if wc != gc {
			t.Fatalf("generation %d: count %d, want %d", gen, gc, wc)
		}
	}
	we, _ := want.Errors(0)
	ge, _ := got.Errors(0)
	if !slices.Equal(we, ge) {
		t.Fatalf("errors %v, want %v", ge, we)
	}
	gens, _ := got.Generations()
	if len(gens) != 2 || gens[1].Provenance["seed"] != "1" {
		t.Fatalf("generations %+v", gens)
	}
	_, wl, _ := single.Labels("oracle")
	_, gl, _ := merged.Labels("oracle")
	if len(wl) != len(gl) {
		t.Fatalf("labels %d, want %d", len(gl), len(wl))
	}
	for id, c := range wl {
		if gl[id] != c {
			t.Fatalf("label of %s = %d, want %d", id, gl[id], c)
		}
	}
	if kvs, _ := merged.Records("sim"); len(kvs) != 2 {
		t.Fatalf("records %v", kvs)
	}
}

func TestMergeConflicts(t *testing.T) {
	ss := makeSamples(1, 4, 3)
	base := func() *DB {
		db := openTest(t, true)
		s, err := db.EnsureSet(testInfo("m", 3, ""))
		if err != nil {
			t.Fatal(err)
		}
		putAll(t, s, 0, ss, 4)
		return db
	}
	cases := []struct {
		name  string
		other func(db *DB)
		want  error
		names string
	}{
		{"different vector", func(db *DB) {
			s, _ := db.EnsureSet(testInfo("m", 3, ""))
			if err := s.PutBatch(0, []string{ss[2].id}, []float32{9, 9, 9}); err != nil {
				t.Fatal(err)
			}
		}, ErrConflict, ss[2].id},
		{"generation dims differ", func(db *DB) {
			s, _ := db.EnsureSet(testInfo("m", 3, ""))
			s.AddGeneration(GenInfo{Dim: 4, Source: "onnx"})
		}, ErrMismatch, "generation 1"},
		{"label conflict", func(db *DB) {
			db.PutLabels("oracle", []string{"x", "y"}, map[string]int{"s1": 1})
		}, ErrConflict, `"s1"`},
		{"record conflict", func(db *DB) {
			db.PutRecord("ns", "k", []byte("two"))
		}, ErrConflict, "ns/k"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := base()
			s, _ := dst.EnsureSet(testInfo("m", 3, ""))
			s.AddGeneration(GenInfo{Dim: 3, Source: "onnx"})
			dst.PutLabels("oracle", []string{"x", "y"}, map[string]int{"s1": 0})
			dst.PutRecord("ns", "k", []byte("one"))
			src := base()
			c.other(src)
			err := Merge(dst, src)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.names) {
				t.Fatalf("got %v, want %v naming %s", err, c.want, c.names)
			}
		})
	}
	db := base()
	if err := Merge(db, db); err == nil {
		t.Fatal("merged a cache into itself")
	}
}

func TestJoinShards(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"0/2", "1/2", ""},
		{"0/3", "2/3", "0/3,2/3"},
		{"0/3,2/3", "1/3", ""},
		{"", "1/3", ""},
		{"1/4", "1/4", "1/4"},
	}
	for _, c := range cases {
		if got, err := joinShards(c.a, c.b); err != nil || got != c.want {
			t.Errorf("joinShards(%q, %q) = %q, %v; want %q", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := joinShards("0/2", "0/3"); !errors.Is(err, ErrMismatch) {
		t.Errorf("different shard counts: %v", err)
	}
}
