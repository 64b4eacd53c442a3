package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/embeddings"
)

// writeEmbeddings writes n rows of dim float32 values drawn around one of
// three class centres as an .npy with its IDs file (FILE.ids.txt) and an
// id,label CSV, as another tool would.
func writeEmbeddings(t *testing.T, dir, name string, n, dim int, seed uint64) (npy, labels string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 17))
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, dim)
	pad := (64 - (10+len(dict)+1)%64) % 64
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(dict)+pad+1))
	b.WriteString(dict + strings.Repeat(" ", pad) + "\n")
	var ids, lab strings.Builder
	lab.WriteString("id,label\n")
	classes := []string{"ant", "bee", "cat"}
	for i := range n {
		c := rng.IntN(3)
		for j := range dim {
			v := float32(rng.NormFloat64())
			if j%3 == c {
				v += 1.5
			}
			binary.Write(&b, binary.LittleEndian, math.Float32bits(v))
		}
		fmt.Fprintf(&ids, "%s-%04d\n", name, i)
		fmt.Fprintf(&lab, "%s-%04d,%s\n", name, i, classes[c])
	}
	npy = filepath.Join(dir, name+".npy")
	labels = filepath.Join(dir, name+".labels.csv")
	for p, data := range map[string][]byte{npy: b.Bytes(), npy + ".ids.txt": []byte(ids.String()), labels: []byte(lab.String())} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return npy, labels
}

// TestImportSelectSimulate is the "done when": embeddings and
// labels from elsewhere, no image, give a batch from select and a report
// from simulate with random and svpp; the pipelines that fine-tune a
// backbone are refused as a usage error that says why; the set exported
// as Parquet reads back as it was imported.
func TestImportSelectSimulate(t *testing.T) {
	dir := t.TempDir()
	c := filepath.Join(dir, "emb.cache")
	train, trainLabels := writeEmbeddings(t, dir, "train", 600, 12, 1)
	test, testLabels := writeEmbeddings(t, dir, "test", 300, 12, 2)
	out := asvp(t, "cache", "import", "--cache", c, "--from", train, "--model", "toy", "--labels", trainLabels, "--quiet")
	if !strings.Contains(string(out), "imported 600 x 12 float32") || !strings.Contains(string(out), "dataset import:train") {
		t.Fatalf("import said %q", out)
	}
	asvp(t, "cache", "import", "--cache", c, "--from", test, "--model", "toy", "--labels", testLabels, "--quiet")
	before, _ := os.ReadFile(c)
	if out := asvp(t, "cache", "import", "--cache", c, "--from", test, "--model", "toy", "--labels", testLabels, "--quiet"); !strings.Contains(string(out), "already imported") {
		t.Fatalf("re-import said %q", out)
	}
	if after, _ := os.ReadFile(c); !bytes.Equal(before, after) {
		t.Error("re-importing the same file changed the cache's bytes")
	}

	labeled := filepath.Join(dir, "labeled.csv")
	raw, _ := os.ReadFile(trainLabels)
	lines := strings.SplitAfter(string(raw), "\n")
	os.WriteFile(labeled, []byte(strings.Join(lines[:61], "")), 0o644) // header + 60 labels
	for _, strat := range []string{"margin", "kcenter", "badge"} {
		batch := filepath.Join(dir, strat+".csv")
		asvp(t, "select", "--cache", c, "--data", "import:train", "--labeled", labeled, "--strategy", strat,
			"--proxy", "mlp", "--budget", "20", "--out", batch)
		got, _ := os.ReadFile(batch)
		if n := strings.Count(string(got), "\n"); n != 21 || !strings.Contains(string(got), "train-") {
			t.Fatalf("%s: batch of %d lines:\n%s", strat, n-1, got)
		}
	}

	rep := filepath.Join(dir, "report")
	asvp(t, "simulate", "--cache", c, "--pool", "import:train", "--test", "import:test", "--pipelines", "random,svpp",
		"--strategy", "margin", "--proxy", "linear", "--init", "30", "--budget", "30", "--rounds", "2", "--seeds", "1", "--out", rep)
	if _, err := os.Stat(filepath.Join(rep, "report.md")); err != nil {
		t.Fatalf("simulate wrote no report: %v", err)
	}
	_, stderr, err := asvpRun("simulate", "--cache", c, "--pool", "import:train", "--test", "import:test", "--pipelines", "random,standard,svpp",
		"--strategy", "margin", "--init", "30", "--budget", "30", "--rounds", "1", "--seeds", "1", "--out", rep+"2")
	if exitCode(err) != 2 || !strings.Contains(stderr, "pipeline standard fine-tunes the backbone") || !strings.Contains(stderr, "--pipelines random,svpp") {
		t.Fatalf("simulate with standard on imported features: exit %d, stderr %q", exitCode(err), stderr)
	}

	pq := filepath.Join(dir, "train.parquet")
	asvp(t, "cache", "export", "--cache", c, "--data", "import:train", "--out", pq)
	back, err := embeddings.ReadParquet(pq, embeddings.ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orig, err := embeddings.ReadNPY(train, train+".ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	// The export is in ID order, which the IDs' zero padding makes file order.
	if strings.Join(back.Matrix.IDs, ",") != strings.Join(orig.Matrix.IDs, ",") || !slices.Equal(back.Matrix.Data, orig.Matrix.Data) {
		t.Fatal("the exported Parquet differs from the imported .npy")
	}
	// Imported into another cache, under a Parquet name: the same vectors.
	c2 := filepath.Join(dir, "other.cache")
	asvp(t, "cache", "import", "--cache", c2, "--from", pq, "--model", "toy", "--quiet")
	npyOut := filepath.Join(dir, "again.npy")
	asvp(t, "cache", "export", "--cache", c2, "--out", npyOut)
	again, err := embeddings.ReadNPY(npyOut, npyOut+".ids.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !slices.Equal(again.Matrix.Data, orig.Matrix.Data) {
		t.Fatal("npy -> cache -> parquet -> cache -> npy changed the vectors")
	}

	// The .npy was imported by reference: with the file gone, select
	// refuses naming it; an import with --copy brings the vectors into
	// the cache, after which the file may go.
	var listing []struct {
		Dataset string
		Import  struct{ Reference *struct{ Path string } }
	}
	if err := json.Unmarshal(asvp(t, "cache", "ls", "--cache", c, "--json"), &listing); err != nil {
		t.Fatal(err)
	}
	for _, l := range listing {
		if l.Import.Reference == nil || l.Import.Reference.Path != filepath.Join(dir, l.Dataset[len("import:"):]+".npy") {
			t.Fatalf("cache ls: %s is not listed by reference to its file: %+v", l.Dataset, l.Import.Reference)
		}
	}
	moved := filepath.Join(dir, "moved.npy")
	if err := os.Rename(train, moved); err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(dir, "gone.csv")
	selectArgs := []string{"select", "--cache", c, "--data", "import:train", "--labeled", labeled, "--budget", "10", "--out", batch}
	_, stderr, err = asvpRun(selectArgs...)
	if exitCode(err) != 1 || !strings.Contains(stderr, "holds its vectors by reference to "+train) || !strings.Contains(stderr, "--copy") {
		t.Fatalf("select with the file gone: exit %d, stderr %q", exitCode(err), stderr)
	}
	os.Rename(moved, train)
	out = asvp(t, "cache", "import", "--cache", c, "--from", train, "--model", "toy", "--copy", "--json", "--quiet")
	var res struct {
		Written int
		Stored  string
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Written != 600 || res.Stored != "cache" {
		t.Fatalf("import --copy: %s (%v)", out, err)
	}
	os.Remove(train)
	asvp(t, selectArgs...)
	if got, _ := os.ReadFile(batch); strings.Count(string(got), "\n") != 11 {
		t.Fatalf("select after the copy wrote %q", got)
	}
}

// TestImportRefusesBadFiles: a file with a bad row fails naming the row,
// and nothing is written: no cache file when there was none, the same
// bytes when there was one.
func TestImportRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	npy, labels := writeEmbeddings(t, dir, "good", 50, 4, 3)
	existing := filepath.Join(dir, "existing.cache")
	asvp(t, "cache", "import", "--cache", existing, "--from", npy, "--model", "toy", "--quiet")
	before, _ := os.ReadFile(existing)

	raw, _ := os.ReadFile(npy)
	nan := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint32(nan[len(raw)-4*4*20+8:], math.Float32bits(float32(math.NaN()))) // row 31, value 2
	ids, _ := os.ReadFile(npy + ".ids.txt")
	dup := strings.Replace(string(ids), "good-0007\n", "good-0003\n", 1)
	for _, tc := range []struct {
		name, npy, ids, labels string
		want                   string
	}{
		{"nan", string(nan), string(ids), "", "row 31 (1-based): id \"good-0030\": value 2 (0-based column) is NaN"},
		{"duplicate id", string(raw), dup, "", "row 8 (1-based): id \"good-0003\" repeats line 4"},
		{"id count", string(raw), strings.Join(strings.SplitAfter(string(ids), "\n")[:49], ""), "", "row 50 (1-based): no ID"},
		{"label of an unknown id", string(raw), string(ids), "id,label\ngood-0001,ant\nnope,bee\n", "line 3: id \"nope\" is not in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			p := filepath.Join(d, "bad.npy")
			os.WriteFile(p, []byte(tc.npy), 0o644)
			os.WriteFile(p+".ids.txt", []byte(tc.ids), 0o644)
			args := []string{"--from", p, "--model", "toy", "--quiet"}
			if tc.labels != "" {
				os.WriteFile(filepath.Join(d, "l.csv"), []byte(tc.labels), 0o644)
				args = append(args, "--labels", filepath.Join(d, "l.csv"))
			}
			fresh := filepath.Join(d, "new.cache")
			_, stderr, err := asvpRun(append([]string{"cache", "import", "--cache", fresh}, args...)...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q: want %q", exitCode(err), stderr, tc.want)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Errorf("a refused import left %s (%v)", fresh, err)
			}
			if _, _, err := asvpRun(append([]string{"cache", "import", "--cache", existing}, args...)...); err == nil {
				t.Fatal("no error on the existing cache")
			}
			if after, _ := os.ReadFile(existing); !bytes.Equal(before, after) {
				t.Error("a refused import changed the existing cache's bytes")
			}
		})
	}
	_ = labels
}
