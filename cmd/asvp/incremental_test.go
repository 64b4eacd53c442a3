package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
)

// writeImage writes a w x w PNG, uncompressed, so that every image of one
// size has the same file size; seed picks its pixels.
func writeImage(t *testing.T, path string, w, seed int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, w))
	for y := range w {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*seed + y), uint8(y*7 + seed*13), uint8((x + y + seed) * 5), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// extractResult is the part of extract's JSON these tests read.
type extractResult struct {
	Dataset string `json:"dataset"`
	Samples int    `json:"samples"`
	Cached  int    `json:"already_cached"`
	Done    int    `json:"extracted"`
	Copied  int    `json:"copied"`
	Changed int    `json:"changed"`
	Removed int    `json:"removed"`
	Sets    []struct {
		Key    string `json:"key"`
		Output string `json:"output"`
		Count  int    `json:"count"`
	} `json:"sets"`
}

func extractJSON(t *testing.T, args ...string) extractResult {
	t.Helper()
	out := asvp(t, append([]string{"extract", "--quiet", "--tune-from", "none"}, args...)...)
	var r extractResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return r
}

// vectorOf reads sample id's generation-0 vector from the only set of spec.
func vectorOf(t *testing.T, path, spec, id string) []float32 {
	t.Helper()
	db, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.FindSet(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.ReadRows(0, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	return m.Row(0)
}

// TestExtractIncremental is the "done when", on real images and
// the real backbone: growing a folder by one image extracts one image; a
// manifest over a subset of an extracted folder extracts nothing; a renamed
// folder extracts nothing; a same-size replaced image is extracted again;
// a removed image leaves the set; the folder named in another form is the
// same dataset; verify passes throughout.
func TestExtractIncremental(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "pool")
	if err := os.Mkdir(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		writeImage(t, filepath.Join(pool, fmt.Sprintf("img%d.png", i)), 24, i+1)
	}
	c := filepath.Join(dir, "c.cache")
	check := func(what string, r extractResult, samples, extracted, copied, changed, removed int) {
		t.Helper()
		if r.Samples != samples || r.Done != extracted || r.Copied != copied || r.Changed != changed || r.Removed != removed {
			t.Errorf("%s: %d samples, %d extracted, %d copied, %d changed, %d removed; want %d, %d, %d, %d, %d",
				what, r.Samples, r.Done, r.Copied, r.Changed, r.Removed, samples, extracted, copied, changed, removed)
		}
		asvp(t, "cache", "verify", "--cache", c)
	}
	r := extractJSON(t, "--data", "folder:"+pool, "--cache", c)
	check("first extraction", r, 6, 6, 0, 0, 0)
	key := r.Sets[0].Key

	writeImage(t, filepath.Join(pool, "img6.png"), 24, 7)
	r = extractJSON(t, "--data", "folder:"+pool+"/./", "--cache", c)
	check("grown by one image", r, 7, 1, 0, 0, 0)
	if r.Sets[0].Key != key || r.Sets[0].Count != 7 {
		t.Errorf("grown pool: set %s with %d samples, want the same set %s with 7", r.Sets[0].Key, r.Sets[0].Count, key)
	}

	manifest := filepath.Join(dir, "subset.csv")
	if err := os.WriteFile(manifest, []byte("path\npool/img1.png\npool/img4.png\npool/img6.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = extractJSON(t, "--data", "csv:"+manifest, "--cache", c)
	check("manifest over a subset", r, 3, 0, 3, 0, 0)
	if got, want := vectorOf(t, c, "csv:"+manifest, "pool/img4.png"), vectorOf(t, c, "folder:"+pool, "img4.png"); !slices.Equal(got, want) {
		t.Errorf("the manifest's copy of img4 differs from the folder's")
	}

	moved := filepath.Join(dir, "moved")
	if err := os.Rename(pool, moved); err != nil {
		t.Fatal(err)
	}
	r = extractJSON(t, "--data", "folder:"+moved, "--cache", c)
	check("renamed folder", r, 7, 0, 7, 0, 0)

	before := vectorOf(t, c, "folder:"+moved, "img2.png")
	st, _ := os.Stat(filepath.Join(moved, "img2.png"))
	writeImage(t, filepath.Join(moved, "img2.png"), 24, 50)
	if st2, _ := os.Stat(filepath.Join(moved, "img2.png")); st2.Size() != st.Size() {
		t.Fatalf("the replacement is %d bytes, the original %d: not a same-size replacement", st2.Size(), st.Size())
	}
	r = extractJSON(t, "--data", "folder:"+moved, "--cache", c)
	check("same-size replacement", r, 7, 1, 0, 1, 0)
	if after := vectorOf(t, c, "folder:"+moved, "img2.png"); slices.Equal(before, after) {
		t.Errorf("the replaced image kept its old features")
	}

	if err := os.Remove(filepath.Join(moved, "img0.png")); err != nil {
		t.Fatal(err)
	}
	r = extractJSON(t, "--data", "folder:"+moved, "--cache", c)
	check("removed image", r, 6, 0, 0, 0, 1)
	if r.Sets[0].Count != 6 {
		t.Errorf("after a removal the set holds %d samples, want 6", r.Sets[0].Count)
	}
	// Named relative to the working folder, the moved folder is the same
	// dataset: export finds its one set.
	cmd := asvpCmd("cache", "export", "--cache", c, "--data", "folder:./moved/", "--out", filepath.Join(dir, "m.csv"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("export by a relative spec: %v\n%s", err, out)
	}
}

// TestAlignSharedAcrossViews: a re-alignment computed for one view serves
// another over the same images. align --model M on a folder runs M on
// every image; on a manifest over a subset of it, M's generation copies
// every sample from the folder's and runs M on none, bit for bit equal;
// on a manifest with one image more, only that one runs.
func TestAlignSharedAcrossViews(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "pool")
	if err := os.Mkdir(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		writeImage(t, filepath.Join(pool, fmt.Sprintf("img%d.png", i)), 24, i+1)
	}
	writeImage(t, filepath.Join(dir, "extra.png"), 24, 40)
	subset, more := filepath.Join(dir, "subset.csv"), filepath.Join(dir, "more.csv")
	if err := os.WriteFile(subset, []byte("path\npool/img1.png\npool/img4.png\npool/img5.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(more, []byte("path\npool/img2.png\nextra.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(dir, "c.cache")
	folder := "folder:" + pool
	for _, spec := range []string{folder, "csv:" + subset, "csv:" + more} {
		extractJSON(t, "--data", spec, "--cache", c)
	}
	m := filepath.Join(dir, "m.onnx")
	asvp(t, "models", "import-tfjs", "--dir", nsfwjsModelDir(t), "--out", m, "--outputs", "feat=out_relu")

	cases := []struct {
		spec                     string
		count, copied, extracted int
	}{
		{folder, 6, 0, 6},
		{"csv:" + subset, 3, 3, 0},
		{"csv:" + more, 2, 1, 1},
	}
	var fgen int
	for _, tc := range cases {
		r := align(t, "--cache", c, "--data", tc.spec, "--model", m)
		if r.Reused || r.Count != tc.count || r.Copied != tc.copied || r.Extracted != tc.extracted {
			t.Fatalf("align %s: reused %v, %d samples, %d copied, %d extracted; want %d, %d copied, %d extracted",
				tc.spec, r.Reused, r.Count, r.Copied, r.Extracted, tc.count, tc.copied, tc.extracted)
		}
		if tc.spec == folder {
			fgen = r.Generation
			continue
		}
		got, info, done := readGen(t, c, tc.spec, r.Generation)
		want, _, _ := readGen(t, c, folder, fgen)
		if !done || info.Source != "onnx" || got.Rows != tc.count {
			t.Fatalf("align %s: generation %d done %v, source %q, %d rows", tc.spec, r.Generation, done, info.Source, got.Rows)
		}
		for i, id := range got.IDs {
			j := slices.Index(want.IDs, filepath.Base(id))
			if j < 0 {
				continue // extra.png: not in the folder
			}
			for k, v := range got.Row(i) {
				if math.Float32bits(v) != math.Float32bits(want.Row(j)[k]) {
					t.Fatalf("align %s: %s value %d is %v, the folder's %s has %v", tc.spec, id, k, v, want.IDs[j], want.Row(j)[k])
				}
			}
		}
	}
	asvp(t, "cache", "verify", "--cache", c)
}

// TestFinetuneTestCopied: finetune --test over images that are also in the
// pool: the test set's generation of the tuned net copies those samples
// from the pool's generation just written, bit for bit, and computes only
// the rest.
func TestFinetuneTestCopied(t *testing.T) {
	root := t.TempDir()
	var labeled strings.Builder
	labeled.WriteString("id,label\n")
	for k := range 12 {
		class := []string{"x", "y"}[k%2]
		for _, ds := range []string{"pool", "test"} {
			if ds == "test" && k >= 4 {
				continue
			}
			dir := filepath.Join(root, ds, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeImage(t, filepath.Join(dir, fmt.Sprintf("%d.png", k)), 24, k+1)
		}
		fmt.Fprintf(&labeled, "%s/%d.png,%s\n", class, k, class)
	}
	// One test image the pool does not have.
	writeImage(t, filepath.Join(root, "test", "x", "99.png"), 24, 99)
	lab := filepath.Join(root, "labeled.csv")
	if err := os.WriteFile(lab, []byte(labeled.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := filepath.Join(root, "c.asvp")
	pool, test := "folder:"+filepath.Join(root, "pool"), "folder:"+filepath.Join(root, "test")
	for _, spec := range []string{pool, test} {
		asvp(t, "extract", "--quiet", "--data", spec, "--cache", c)
	}
	ft := ftJSON(t, "--cache", c, "--data", pool, "--labeled", lab, "--method", "ft", "--epochs", "2", "--test", test, "--quiet")
	if ft.Generation == nil || ft.TestGeneration == nil || ft.Copied != 0 || ft.TestCopied != 4 {
		t.Fatalf("finetune: generation %v, test generation %v, copied %d, test copied %d; want 0 and 4", ft.Generation, ft.TestGeneration, ft.Copied, ft.TestCopied)
	}
	pm, _, _ := readGen(t, c, pool, *ft.Generation)
	tm, _, done := readGen(t, c, test, *ft.TestGeneration)
	if !done || tm.Rows != 5 {
		t.Fatalf("test generation: done %v, %d rows; want 5", done, tm.Rows)
	}
	for i, id := range tm.IDs {
		j := slices.Index(pm.IDs, id)
		if j < 0 {
			continue
		}
		for k, v := range tm.Row(i) {
			if math.Float32bits(v) != math.Float32bits(pm.Row(j)[k]) {
				t.Fatalf("%s value %d: test %v, pool %v", id, k, v, pm.Row(j)[k])
			}
		}
	}
}
