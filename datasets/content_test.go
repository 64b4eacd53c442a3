package datasets

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSampleHashAndStat checks content addressing of file samples: the hash is of the file's bytes
// (so a same-size replacement changes it and a copy elsewhere keeps it), and the stat changes when
// the file is rewritten.
func TestSampleHashAndStat(t *testing.T) {
	a, b := encodePNG(t, pattern(5, 4)), encodePNG(t, pattern(4, 5))
	root := tree(t, t.TempDir(), map[string][]byte{"x/a.png": a, "y/b.png": b})
	other := tree(t, t.TempDir(), map[string][]byte{"renamed.png": a})
	d, err := Open("folder:"+root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open("folder:"+other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ha, err := SampleHash(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ha != sha256.Sum256(a) {
		t.Errorf("hash of %s is not the SHA-256 of its bytes", d.Sample(0).Path)
	}
	if hb, _ := SampleHash(d, 1); hb == ha {
		t.Errorf("two different images hash the same")
	}
	if ho, _ := SampleHash(o, 0); ho != ha {
		t.Errorf("the same bytes under another name and folder hash differently")
	}
	st, ok := SampleStat(d, 0)
	if !ok || st.Size != int64(len(a)) || st.MtimeNS == 0 || st.Inode == 0 {
		t.Fatalf("stat %+v ok %v", st, ok)
	}
	// Same size, other bytes, and a later modification time.
	same := append([]byte(nil), a...)
	same[len(same)-1] ^= 0xff
	p := d.Sample(0).Path
	if err := os.WriteFile(p, same, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Unix(0, st.MtimeNS).Add(time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	st2, _ := SampleStat(d, 0)
	if st2 == st {
		t.Errorf("stat unchanged after the file was rewritten: %+v", st2)
	}
	if h2, _ := SampleHash(d, 0); h2 == ha || st2.Size != st.Size {
		t.Errorf("a same-size replacement keeps the hash (%v) or changes the size", h2 == ha)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, ok := SampleStat(d, 0); ok {
		t.Errorf("stat of a removed file is ok")
	}
	if _, err := SampleHash(d, 0); err == nil {
		t.Errorf("hash of a removed file: no error")
	}
}

// TestSampleHashIDX checks that IDX samples hash their pixels: equal images hash equal, others not.
func TestSampleHashIDX(t *testing.T) {
	dir := t.TempDir()
	pix := []byte{1, 2, 3, 4, 1, 2, 3, 4, 9, 9, 9, 9}
	if err := os.WriteFile(filepath.Join(dir, "a-images-idx3-ubyte"), idxBytes(IDXUint8, []uint32{3, 2, 2}, pix), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open("idx:"+dir+":a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	h0, _ := SampleHash(d, 0)
	h1, _ := SampleHash(d, 1)
	h2, err := SampleHash(d, 2)
	if err != nil || h0 != h1 || h0 == h2 {
		t.Errorf("IDX hashes: equal images equal %v, different images differ %v (err %v)", h0 == h1, h0 != h2, err)
	}
	if _, ok := SampleStat(d, 0); ok {
		t.Errorf("an IDX sample has a file stat")
	}
}

func TestNormalizeSpec(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "pool"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	abs := filepath.Join(root, "pool")
	for _, tc := range []struct{ in, want string }{
		{"folder:pool", "folder:" + abs},
		{"folder:./pool/", "folder:" + abs},
		{"folder:" + abs, "folder:" + abs},
		{"folder:pool/../pool", "folder:" + abs},
		{"csv:m.csv", "csv:" + filepath.Join(root, "m.csv")},
		{"idx:pool", "idx:" + abs},
		{"idx:pool/:train", "idx:" + abs + ":train"},
		{"fashion-mnist:train", "fashion-mnist:train"},
		{"import:emb", "import:emb"},
		{"nonsense", "nonsense"},
	} {
		if got := NormalizeSpec(tc.in); got != tc.want {
			t.Errorf("NormalizeSpec(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
