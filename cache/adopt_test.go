package cache

import (
	"bytes"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rawVec returns the stored record of id in generation gen of s (nil for none).
func rawVec(t *testing.T, s *Set, gen int, id string) []byte {
	t.Helper()
	var out []byte
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, _, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		out = bytes.Clone(gb.Bucket(bucketVec).Get([]byte(id)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAlignmentIdentity checks which provenance keys make two generations
// aligned the same way, and which generations are never shared.
func TestAlignmentIdentity(t *testing.T) {
	onnx := map[string]string{"model_sha256": "aa", "model_output": "features", "card_hash": "cc", "parent_gen": "0"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for kk, vv := range m {
			out[kk] = vv
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	tune := map[string]string{"net_sha256": "nn", "cut": "c1", "pool": "folder:/a", "labeled_sha256": "l1", "round": "1"}
	cases := []struct {
		name   string
		a, b   GenInfo
		shared bool
	}{
		{"onnx, another file name and trainer", GenInfo{Source: "onnx", Provenance: with(onnx, "model", "a.onnx")}, GenInfo{Source: "onnx", Provenance: with(onnx, "trainer_cmd", "x")}, true},
		{"onnx, another model", GenInfo{Source: "onnx", Provenance: onnx}, GenInfo{Source: "onnx", Provenance: with(onnx, "model_sha256", "bb")}, false},
		{"onnx, another output", GenInfo{Source: "onnx", Provenance: onnx}, GenInfo{Source: "onnx", Provenance: with(onnx, "model_output", "logits")}, false},
		{"onnx, another card", GenInfo{Source: "onnx", Provenance: onnx}, GenInfo{Source: "onnx", Provenance: with(onnx, "card_hash", "dd")}, false},
		{"onnx without its keys", GenInfo{Source: "onnx", Provenance: with(onnx, "card_hash", "")}, GenInfo{Source: "onnx", Provenance: with(onnx, "card_hash", "")}, false},
		{"finetune, another pool and labels", GenInfo{Source: "finetune", Provenance: tune}, GenInfo{Source: "finetune", Provenance: with(with(tune, "pool", "manifest:/b"), "labeled_sha256", "l2")}, true},
		{"finetune, another net", GenInfo{Source: "finetune", Provenance: tune}, GenInfo{Source: "finetune", Provenance: with(tune, "net_sha256", "mm")}, false},
		{"finetune, another cut", GenInfo{Source: "finetune", Provenance: tune}, GenInfo{Source: "finetune", Provenance: with(tune, "cut", "c2")}, false},
		{"finetune, activations of another dtype", GenInfo{Source: "finetune", Provenance: with(tune, "acts_dtype", "float32")}, GenInfo{Source: "finetune", Provenance: with(tune, "acts_dtype", "float16")}, false},
		{"another source, same net", GenInfo{Source: "finetune", Provenance: tune}, GenInfo{Source: "adapter", Provenance: tune}, false},
		{"simulation (no net hash)", GenInfo{Source: "finetune", Provenance: with(tune, "net_sha256", "")}, GenInfo{Source: "finetune", Provenance: with(tune, "net_sha256", "")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ia, oka := alignmentIdentity(c.a)
			ib, okb := alignmentIdentity(c.b)
			if got := oka && okb && ia == ib; got != c.shared {
				t.Errorf("shared %v, want %v (%q %v, %q %v)", got, c.shared, ia, oka, ib, okb)
			}
		})
	}
}

// TestAdoptAligned plays a re-alignment computed for one view serving
// another over partly the same images: set A (folder) holds generation 1
// aligned with model M; set B (a manifest over some of A's images, one
// changed, one new) adds its own generation for M and copies, bit for bit,
// exactly the vectors of equal content, first in part (a killed run: only
// some IDs) and then the rest. A generation of another model, and a set of
// another feature space holding M's generation, are never used.
func TestAdoptAligned(t *testing.T) {
	db := openTest(t, true)
	info := testInfo("m", 3, DTypeFloat16)
	vec := func(c string, salt float32) []float32 {
		h := hashOf(c)
		return []float32{float32(h[0]) + salt, float32(h[1]) / 7, salt}
	}
	g0 := map[string][]float32{}
	var aPuts, bPuts []ViewPut
	for i := range 10 {
		id := fmt.Sprintf("a%d", i)
		aPuts = append(aPuts, ViewPut{id, entry(fmt.Sprintf("c%d", i))})
		g0[id] = vec(fmt.Sprintf("c%d", i), 0)
	}
	// B: c0..c5 under other names, c6 replaced by new content, c42 new.
	for i := range 6 {
		id := fmt.Sprintf("b/%d", i)
		bPuts = append(bPuts, ViewPut{id, entry(fmt.Sprintf("c%d", i))})
		g0[id] = vec(fmt.Sprintf("c%d", i), 0)
	}
	bPuts = append(bPuts, ViewPut{"b/6", entry("c6-replaced")}, ViewPut{"b/42", entry("c42")})
	g0["b/6"], g0["b/42"] = vec("c6-replaced", 0), vec("c42", 0)

	info.Dataset, info.DatasetID = "folder:/a", "spec:folder:/a"
	a, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	extractInto(t, a, aPuts, nil, g0)
	aligned := func(model string) GenInfo {
		return GenInfo{Dim: 3, Source: "onnx", Provenance: map[string]string{"model": model + ".onnx", "model_sha256": model, "model_output": "features", "card_hash": "k", "parent_gen": "0"}}
	}
	writeGen := func(s *Set, g GenInfo, puts []ViewPut, salt float32) int {
		t.Helper()
		n, _, err := s.EnsureGeneration(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range puts {
			if err := s.PutBatch(n, []string{p.ID}, vec(string(p.Entry.Hash[:]), salt)); err != nil {
				t.Fatal(err)
			}
		}
		return n
	}
	// A: a generation of another model first (newer than nothing), then M's.
	writeGen(a, aligned("other"), aPuts, 5)
	ga := writeGen(a, aligned("M"), aPuts, 1)
	// A set of another feature space over the same images, holding M's generation.
	far := testInfo("far", 3, DTypeFloat16)
	far.Dataset, far.DatasetID = "folder:/far", "spec:folder:/far"
	f, err := db.EnsureSet(far)
	if err != nil {
		t.Fatal(err)
	}
	extractInto(t, f, bPuts, nil, g0)
	writeGen(f, aligned("M"), bPuts, 9)

	info.Dataset, info.DatasetID = "manifest:/b", "spec:manifest:/b"
	b, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	extractInto(t, b, bPuts, nil, g0)
	g := aligned("M")
	g.Provenance["model"], g.Provenance["trainer_cmd"] = "renamed.onnx", "train.sh"
	gb, _, err := b.EnsureGeneration(g)
	if err != nil {
		t.Fatal(err)
	}
	// A killed run: it copied only b/0 and b/1 (and nothing for b/6).
	if n, err := b.AdoptAligned(gb, []string{"b/0", "b/1", "b/6"}); err != nil || n != 2 {
		t.Fatalf("partial AdoptAligned: %d, %v; want 2", n, err)
	}
	n, err := b.AdoptAligned(gb, nil)
	if err != nil || n != 4 {
		t.Fatalf("AdoptAligned: %d, %v; want the 4 left of c0..c5", n, err)
	}
	if cnt, err := b.Count(gb); err != nil || cnt != 6 {
		t.Fatalf("count %d, %v; want 6", cnt, err)
	}
	for i := range 6 {
		got, want := rawVec(t, b, gb, fmt.Sprintf("b/%d", i)), rawVec(t, a, ga, fmt.Sprintf("a%d", i))
		if want == nil || !bytes.Equal(got, want) {
			t.Errorf("b/%d: record %x, want a%d's of M %x", i, got, i, want)
		}
	}
	for _, id := range []string{"b/6", "b/42"} {
		if got := rawVec(t, b, gb, id); got != nil {
			t.Errorf("%s: copied %x, want nothing (no equal content aligned with M in this space)", id, got)
		}
	}
	// Nothing is left to copy: a rerun copies none.
	if n, err := b.AdoptAligned(gb, nil); err != nil || n != 0 {
		t.Errorf("rerun: copied %d, %v; want 0", n, err)
	}
	// A generation not said to be aligned (no model hash) copies nothing.
	gx, _, err := b.EnsureGeneration(GenInfo{Dim: 3, Source: "adapter", Provenance: map[string]string{"net": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.AdoptAligned(gx, nil); err != nil || n != 0 {
		t.Errorf("unaligned generation: copied %d, %v; want 0", n, err)
	}
}
