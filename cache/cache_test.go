package cache

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSetRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		dtype   string
		dim, n  int
		batch   int
		readIDs int
	}{
		{"f32 small one batch", DTypeFloat32, 4, 10, 100, 5},
		{"f32 many batches", DTypeFloat32, 64, 300, 37, 50},
		{"f32 wide (overflow pages)", DTypeFloat32, 1280, 40, 16, 10},
		{"f16", DTypeFloat16, 33, 120, 50, 20},
		{"single sample", DTypeFloat32, 1, 1, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openTest(t, true)
			s, err := db.EnsureSet(testInfo("m", c.dim, c.dtype))
			if err != nil {
				t.Fatal(err)
			}
			ss := makeSamples(uint64(c.n), c.n, c.dim)
			ids, vecs := flatten(ss)
			idsIn, vecsIn := slices.Clone(ids), slices.Clone(vecs)
			putAll(t, s, 0, ss, c.batch)
			if !slices.Equal(ids, idsIn) || !slices.Equal(vecs, vecsIn) {
				t.Fatal("PutBatch modified its inputs")
			}
			if n, err := s.Count(0); err != nil || n != c.n {
				t.Fatalf("Count = %d, %v; want %d", n, err, c.n)
			}
			m, err := s.ReadMatrix(0)
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, m, sortedByID(ss), c.dtype)

			rng := rand.New(rand.NewPCG(5, 6))
			pick := make([]sample, c.readIDs)
			var pickIDs []string
			for i := range pick {
				pick[i] = ss[rng.IntN(len(ss))] // repeats allowed
				pickIDs = append(pickIDs, pick[i].id)
			}
			rows, err := s.ReadRows(0, pickIDs)
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, rows, pick, c.dtype)

			missing, err := s.Missing(0, append(slices.Clone(ids[:min(2, len(ids))]), "nope-1", "nope-2"))
			if err != nil || !slices.Equal(missing, []string{"nope-1", "nope-2"}) {
				t.Fatalf("Missing = %v, %v", missing, err)
			}
			if _, err := s.ReadRows(0, []string{ids[0], "nope"}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
				t.Fatalf("ReadRows of unknown ID: %v", err)
			}
		})
	}
}

func TestReopenAndOverwrite(t *testing.T) {
	db := openTest(t, true)
	path := db.Path()
	info := testInfo("m", 8, "")
	s, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	ss := makeSamples(1, 50, 8)
	putAll(t, s, 0, ss, 20)
	// Overwrite 5 samples with new vectors: the count must not grow.
	repl := makeSamples(2, 5, 8)
	for i := range repl {
		repl[i].id = ss[i].id
		ss[i] = repl[i]
	}
	putAll(t, s, 0, repl, 5)
	created := s.Info().Created
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s2, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Info().Created.Equal(created) || s2.Key() != Fingerprint(info.ModelSHA256, info.Output, info.CardHash, info.DatasetID) {
		t.Fatalf("reopened set info %+v", s2.Info())
	}
	if n, _ := s2.Count(0); n != 50 {
		t.Fatalf("count %d after overwrite, want 50", n)
	}
	m, err := s2.ReadMatrix(0)
	if err != nil {
		t.Fatal(err)
	}
	checkMatrix(t, m, sortedByID(ss), DTypeFloat32)
	sets, err := db.Sets()
	if err != nil || len(sets) != 1 || sets[0].Key != s2.Key() || sets[0].DType != DTypeFloat32 {
		t.Fatalf("Sets = %+v, %v", sets, err)
	}
}

func TestBatchAtomicity(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("m", 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	good := makeSamples(1, 3, 4)
	putAll(t, s, 0, good, 3)
	if err := s.PutErrors(0, []SampleError{{ID: "e1", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	bad := makeSamples(2, 6, 4)
	cases := []struct {
		name     string
		mutate   func(ids []string, vecs []float32) ([]string, []float32)
		errs     []SampleError
		sentinel error
	}{
		{"NaN in row 4", func(ids []string, v []float32) ([]string, []float32) { v[4*4+1] = float32(math.NaN()); return ids, v }, nil, nil},
		{"Inf in last row", func(ids []string, v []float32) ([]string, []float32) {
			v[len(v)-1] = float32(math.Inf(1))
			return ids, v
		}, nil, nil},
		{"empty ID in row 3", func(ids []string, v []float32) ([]string, []float32) { ids[3] = ""; return ids, v }, nil, nil},
		{"newline in ID", func(ids []string, v []float32) ([]string, []float32) { ids[2] = "a\nb"; return ids, v }, nil, nil},
		{"short vectors", func(ids []string, v []float32) ([]string, []float32) { return ids, v[:len(v)-1] }, nil, ErrMismatch},
		{"bad error record after good vectors", func(ids []string, v []float32) ([]string, []float32) { return ids, v }, []SampleError{{ID: "", Reason: "x"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, vecs := c.mutate(flatten(bad))
			err := s.PutBatchWithErrors(0, ids, vecs, c.errs)
			if err == nil {
				t.Fatal("bad batch accepted")
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Fatalf("error %v, want %v", err, c.sentinel)
			}
			if n, _ := s.Count(0); n != 3 {
				t.Fatalf("count %d after failed batch, want 3", n)
			}
			m, err := s.ReadMatrix(0)
			if err != nil {
				t.Fatal(err)
			}
			checkMatrix(t, m, sortedByID(good), DTypeFloat32)
			allIDs, _ := flatten(bad)
			if miss, _ := s.Missing(0, allIDs); len(miss) != len(allIDs) {
				t.Fatalf("failed batch left %d samples behind", len(allIDs)-len(miss))
			}
			if errs, _ := s.Errors(0); len(errs) != 1 {
				t.Fatalf("errors %v", errs)
			}
		})
	}
	if err := s.PutBatch(7, []string{"x"}, []float32{1, 2, 3, 4}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("write to missing generation: %v", err)
	}
}

func TestEnsureSet(t *testing.T) {
	db := openTest(t, true)
	info := testInfo("m", 16, DTypeFloat32)
	s, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*SetInfo)
		want error
	}{
		{"same", func(*SetInfo) {}, nil},
		{"other dim", func(i *SetInfo) { i.Dim = 17 }, ErrMismatch},
		{"other dtype", func(i *SetInfo) { i.DType = DTypeFloat16 }, ErrMismatch},
		{"other model name only", func(i *SetInfo) { i.Model = "renamed" }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			i := info
			c.edit(&i)
			s2, err := db.EnsureSet(i)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if err == nil && s2.Info() != s.Info() {
				t.Fatalf("reopened %+v, want stored %+v", s2.Info(), s.Info())
			}
		})
	}
	bad := []struct {
		name string
		edit func(*SetInfo)
	}{
		{"zero dim", func(i *SetInfo) { i.Dim = 0 }},
		{"bad dtype", func(i *SetInfo) { i.DType = "int8" }},
		{"bad shard", func(i *SetInfo) { i.Shard = "3/3" }},
		{"wrong key", func(i *SetInfo) { i.Key = strings.Repeat("ab", 32) }},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			i := testInfo("other", 4, "")
			c.edit(&i)
			if _, err := db.EnsureSet(i); err == nil {
				t.Fatal("accepted")
			}
		})
	}

	// Lookup by key and prefix.
	for _, k := range []string{s.Key(), s.Key()[:8], s.Key()[:20]} {
		got, err := db.Set(k)
		if err != nil || got.Key() != s.Key() {
			t.Fatalf("Set(%q) = %v, %v", k, got, err)
		}
	}
	for _, k := range []string{s.Key()[:7], "zzzzzzzzzz", strings.Repeat("0", 64)} {
		if _, err := db.Set(k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Set(%q): %v, want ErrNotFound", k, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := Fingerprint("sha", "out", "card", "ds")
	if len(base) != 64 || !isHex(base) {
		t.Fatalf("fingerprint %q", base)
	}
	others := []string{
		Fingerprint("sha", "out", "card", "ds2"),
		Fingerprint("sha", "outc", "ard", "ds"), // concatenation would collide
		Fingerprint("sh", "aout", "card", "ds"),
		Fingerprint("", "", "", ""),
	}
	for _, o := range others {
		if o == base {
			t.Fatal("fingerprints collide")
		}
	}
	if Fingerprint("sha", "out", "card", "ds") != base {
		t.Fatal("fingerprint not deterministic")
	}
}

func TestGenerations(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("m", 6, ""))
	if err != nil {
		t.Fatal(err)
	}
	g0, err := s.Latest()
	if err != nil || g0.N != 0 || g0.Dim != 6 || g0.Source != SourcePretrained {
		t.Fatalf("gen 0 = %+v, %v", g0, err)
	}
	prov := map[string]string{"source": "adapter", "method": "lp-ft", "seed": "3", "round": "4", "parent": "0"}
	n1, err := s.AddGeneration(GenInfo{N: 99, Dim: 3, Source: "adapter", Provenance: prov})
	if err != nil || n1 != 1 {
		t.Fatalf("AddGeneration = %d, %v", n1, err)
	}
	prov["seed"] = "changed after the call"
	n2, err := s.AddGeneration(GenInfo{Dim: 6, Source: "onnx"})
	if err != nil || n2 != 2 {
		t.Fatalf("AddGeneration = %d, %v", n2, err)
	}
	if _, err := s.AddGeneration(GenInfo{Dim: 0, Source: "onnx"}); err == nil {
		t.Fatal("zero-dim generation accepted")
	}
	gens, err := s.Generations()
	if err != nil || len(gens) != 3 {
		t.Fatalf("Generations = %+v, %v", gens, err)
	}
	if gens[1].N != 1 || gens[1].Dim != 3 || gens[1].Provenance["seed"] != "3" || gens[1].Provenance["method"] != "lp-ft" {
		t.Fatalf("gen 1 = %+v", gens[1])
	}
	if last, _ := s.Latest(); last.N != 2 || last.Source != "onnx" {
		t.Fatalf("Latest = %+v", last)
	}
	// Each generation has its own dimension and samples.
	ss3 := makeSamples(3, 10, 3)
	putAll(t, s, 1, ss3, 4)
	if err := s.PutBatch(1, []string{"x"}, make([]float32, 6)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("6 values in 3-dim generation: %v", err)
	}
	m, err := s.ReadMatrix(1)
	if err != nil {
		t.Fatal(err)
	}
	checkMatrix(t, m, sortedByID(ss3), DTypeFloat32)
	if n, _ := s.Count(0); n != 0 {
		t.Fatalf("gen 0 count %d", n)
	}
	if m0, err := s.ReadMatrix(0); err != nil || m0.Rows != 0 || m0.Cols != 6 {
		t.Fatalf("empty gen 0: %+v, %v", m0, err)
	}
	if _, err := s.ReadMatrix(3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("gen 3: %v", err)
	}
}

func TestSampleErrors(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("m", 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	errs := []SampleError{{ID: "b.png", Path: "/data/b.png", Reason: "decode: bad huffman"}, {ID: "a.png", Path: "/data/a.png", Reason: "truncated"}}
	if err := s.PutBatchWithErrors(0, []string{"c.png"}, []float32{1, 2}, errs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Errors(0)
	want := []SampleError{errs[1], errs[0]}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Errors = %+v, %v; want %+v", got, err, want)
	}
	if n, _ := s.ErrorCount(0); n != 2 {
		t.Fatalf("ErrorCount %d", n)
	}
	miss, _ := s.Missing(0, []string{"a.png", "b.png", "c.png", "d.png"})
	if !slices.Equal(miss, []string{"d.png"}) {
		t.Fatalf("Missing = %v", miss)
	}
	// A successful retry clears the error.
	if err := s.PutBatch(0, []string{"a.png"}, []float32{3, 4}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Errors(0); len(got) != 1 || got[0].ID != "b.png" {
		t.Fatalf("after retry: %+v", got)
	}
	if n, _ := s.Count(0); n != 2 {
		t.Fatalf("count %d", n)
	}
}

func TestLabels(t *testing.T) {
	db := openTest(t, true)
	classes := []string{"T-shirt", "Trouser", "Pullover"}
	labels := map[string]int{"a": 0, "b": 2, "c": 1}
	if err := db.PutLabels("oracle", classes, labels); err != nil {
		t.Fatal(err)
	}
	gc, gl, err := db.Labels("oracle")
	if err != nil || !slices.Equal(gc, classes) || len(gl) != 3 || gl["b"] != 2 || gl["c"] != 1 || gl["a"] != 0 {
		t.Fatalf("Labels = %v %v %v", gc, gl, err)
	}
	// PutLabels replaces; AddLabels adds.
	if err := db.PutLabels("oracle", classes, map[string]int{"z": 1}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddLabels("oracle", classes, map[string]int{"y": 2, "z": 0}); err != nil {
		t.Fatal(err)
	}
	_, gl, _ = db.Labels("oracle")
	if len(gl) != 2 || gl["z"] != 0 || gl["y"] != 2 {
		t.Fatalf("after replace+add: %v", gl)
	}
	bad := []struct {
		name    string
		classes []string
		labels  map[string]int
	}{
		{"class out of range", classes, map[string]int{"a": 3}},
		{"negative class", classes, map[string]int{"a": -1}},
		{"no classes", nil, map[string]int{}},
		{"other classes", []string{"x", "y", "z"}, map[string]int{"a": 0}},
		{"empty id", classes, map[string]int{"": 0}},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if err := db.AddLabels("oracle", c.classes, c.labels); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, _, err := db.Labels("human"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing label set: %v", err)
	}
	if names, _ := db.LabelSets(); !slices.Equal(names, []string{"oracle"}) {
		t.Fatalf("LabelSets = %v", names)
	}
}

func TestRecords(t *testing.T) {
	db := openTest(t, true)
	put := map[string]string{"round-002": `{"r":2}`, "round-000": `{"r":0}`, "round-001": `{"r":1}`}
	for k, v := range put {
		if err := db.PutRecord("sim/seed-1", k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutRecord("other", "k", nil); err != nil {
		t.Fatal(err)
	}
	v, err := db.Record("sim/seed-1", "round-001")
	if err != nil || string(v) != `{"r":1}` {
		t.Fatalf("Record = %q, %v", v, err)
	}
	kvs, err := db.Records("sim/seed-1")
	if err != nil || len(kvs) != 3 {
		t.Fatalf("Records = %v, %v", kvs, err)
	}
	for i, kv := range kvs {
		if want := "round-00" + string(rune('0'+i)); kv.Key != want || string(kv.Value) != put[want] {
			t.Fatalf("record %d = %s %s", i, kv.Key, kv.Value)
		}
	}
	if v, err := db.Record("other", "k"); err != nil || len(v) != 0 {
		t.Fatalf("empty record = %q, %v", v, err)
	}
	for _, c := range [][2]string{{"sim/seed-1", "round-009"}, {"nope", "x"}} {
		if _, err := db.Record(c[0], c[1]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Record(%q,%q): %v", c[0], c[1], err)
		}
	}
	if err := db.DeleteRecords("sim/seed-1"); err != nil {
		t.Fatal(err)
	}
	if kvs, _ := db.Records("sim/seed-1"); len(kvs) != 0 {
		t.Fatalf("after delete: %v", kvs)
	}
	if err := db.DeleteRecords("never"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutRecord("", "k", nil); err == nil {
		t.Fatal("empty namespace accepted")
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	db := openTest(t, true)
	path := db.Path()
	s, err := db.EnsureSet(testInfo("m", 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, 0, makeSamples(1, 3, 2), 3)
	db.Close()

	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	// A second reader may open the file at the same time.
	ro2, err := Open(path, &Options{ReadOnly: true, LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	ro2.Close()
	rs, err := ro.Set(s.Key())
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]func() error{
		"PutBatch":      func() error { return rs.PutBatch(0, []string{"x"}, []float32{1, 2}) },
		"PutErrors":     func() error { return rs.PutErrors(0, []SampleError{{ID: "x", Reason: "r"}}) },
		"AddGeneration": func() error { _, err := rs.AddGeneration(GenInfo{Dim: 2, Source: "onnx"}); return err },
		"EnsureSet new": func() error { _, err := ro.EnsureSet(testInfo("new", 2, "")); return err },
		"PutLabels":     func() error { return ro.PutLabels("h", []string{"a"}, map[string]int{"x": 0}) },
		"PutRecord":     func() error { return ro.PutRecord("ns", "k", []byte("v")) },
		"DeleteRecords": func() error { return ro.DeleteRecords("ns") },
	}
	for name, w := range writes {
		err := w()
		if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s on read-only cache: %v", name, err)
		}
	}
	// Reads still work, and an existing set opens read-only.
	if _, err := ro.EnsureSet(testInfo("m", 2, "")); err != nil {
		t.Fatal(err)
	}
	if n, err := rs.Count(0); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

// TestReadMatrixLarge exercises the parallel decoding path (over parallelBytes
// of payload) and its error reporting.
func TestReadMatrixLarge(t *testing.T) {
	db := openTest(t, false)
	const rows, dim = 1100, 1024
	if rows*dim*4 <= parallelBytes {
		t.Fatal("fixture too small to take the parallel path")
	}
	s, err := db.EnsureSet(testInfo("m", dim, ""))
	if err != nil {
		t.Fatal(err)
	}
	ss := makeSamples(9, rows, dim)
	putAll(t, s, 0, ss, 250)
	m, err := s.ReadMatrix(0)
	if err != nil {
		t.Fatal(err)
	}
	want := sortedByID(ss)
	checkMatrix(t, m, want, DTypeFloat32)
	// Damage a record near the end behind the package's back.
	victim := want[rows-3].id
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		vb := tx.Bucket(bucketSets).Bucket([]byte(s.Key())).Bucket(keyGens).Bucket(genKey(0)).Bucket(bucketVec)
		v := slices.Clone(vb.Get([]byte(victim)))
		v[len(v)-5] ^= 1
		return vb.Put([]byte(victim), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadMatrix(0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("ReadMatrix of damaged record: %v", err)
	}
}
