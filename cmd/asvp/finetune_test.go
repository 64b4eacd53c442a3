package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/loop"
)

// Real Fashion-MNIST features shared by the finetune, align and export
// tests: 300 test-split images (the pool) and 200 train-split images (the
// held-out set), extracted once by the built binary with the default
// backbone. Tests work on copies.
const (
	fixPool  = "fashion-mnist:test"
	fixTest  = "fashion-mnist:train"
	fixPoolN = 200
	fixTestN = 100
)

var alignFix struct {
	once sync.Once
	path string
	err  error
}

// alignFixture returns a fresh copy of the shared feature cache.
func alignFixture(t *testing.T) string {
	t.Helper()
	alignFix.once.Do(func() {
		alignFix.path = filepath.Join(filepath.Dir(asvpBin), "align-fixture.asvp")
		for _, a := range [][]string{
			{"extract", "--data", fixPool, "--limit", strconv.Itoa(fixPoolN), "--cache", alignFix.path, "--quiet"},
			{"extract", "--data", fixTest, "--limit", strconv.Itoa(fixTestN), "--cache", alignFix.path, "--quiet"},
		} {
			if _, stderr, err := asvpRun(a...); err != nil {
				alignFix.err = fmt.Errorf("asvp %v: %v\n%s", a, err, stderr)
				return
			}
		}
	})
	if alignFix.err != nil {
		t.Fatal(alignFix.err)
	}
	b, err := os.ReadFile(alignFix.path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "c.asvp")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixtureLabels writes the oracle labels of the first n pool samples as an
// id,label CSV, the label as a class name on even rows and as an index on
// odd ones, and returns its path and the labels.
func fixtureLabels(t *testing.T, cachePath string, n int) (string, map[string]int) {
	t.Helper()
	db, err := cache.Open(cachePath, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	classes, oracle, err := db.OracleLabels(fixPool)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,label\n")
	labels := map[string]int{}
	for i := range n {
		id := fmt.Sprintf("test/%05d", i)
		c, ok := oracle[id]
		if !ok {
			t.Fatalf("no oracle label for %s", id)
		}
		labels[id] = c
		if i%2 == 0 {
			fmt.Fprintf(&b, "%s,%s\n", id, classes[c])
		} else {
			fmt.Fprintf(&b, "%s,%d\n", id, c)
		}
	}
	p := filepath.Join(t.TempDir(), "labeled.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, labels
}

func ftJSON(t *testing.T, args ...string) loop.FinetuneResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := runFinetune(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("finetune %v: %v\n%s", args, err, stderr.String())
	}
	var res loop.FinetuneResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("finetune output is not JSON: %v\n%s", err, stdout.String())
	}
	return res
}

// readGen returns generation gen of the set of spec, its description and
// whether it is marked complete.
func readGen(t *testing.T, cachePath, spec string, gen int) (*features.Matrix, cache.GenInfo, bool) {
	t.Helper()
	db, err := cache.Open(cachePath, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := db.FindSet(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := set.ReadMatrix(gen)
	if err != nil {
		t.Fatal(err)
	}
	g, err := set.Generation(gen)
	if err != nil {
		t.Fatal(err)
	}
	done, err := set.Complete(gen)
	if err != nil {
		t.Fatal(err)
	}
	return m, g, done
}

func maxDiff32(a, b []float32) float64 {
	if len(a) != len(b) {
		return 1e300
	}
	var m float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		m = max(m, d, -d)
	}
	return m
}

func TestFinetuneGenerations(t *testing.T) {
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 120)
	base := []string{"--cache", c, "--data", fixPool, "--labeled", labeled, "--seed", "3", "--test", fixTest, "--epochs", "4"}
	gen0, _, _ := readGen(t, c, fixPool, 0)

	// LP trains the head only: the features stay the pretrained ones, so no generation is written.
	lp := ftJSON(t, append(base, "--method", "lp", "--round", "1")...)
	if lp.Generation != nil || lp.Note == "" || lp.TestAccuracy == nil || lp.TestSamples != fixTestN {
		t.Fatalf("lp: generation %v, note %q, test %v on %d; want no generation and a held-out accuracy", lp.Generation, lp.Note, lp.TestAccuracy, lp.TestSamples)
	}
	if lp.MeanCosine < 0.999 {
		t.Errorf("lp moved the features: mean cosine %.4f with the pretrained ones", lp.MeanCosine)
	}
	if *lp.TestAccuracy < 0.5 { // 120 labels of 10 classes on real features: far above chance
		t.Errorf("lp test accuracy %g, want well above chance", *lp.TestAccuracy)
	}
	if got := generationCount(t, c); got != 1 {
		t.Fatalf("%d generations of the pool after lp, want 1 (no new one)", got)
	}

	// FT trains the tail: the features move, a generation of the pool and of the test set is written.
	netPath := filepath.Join(t.TempDir(), "net.bin")
	ft := ftJSON(t, append(base, "--method", "ft", "--round", "2", "--save", netPath)...)
	if ft.Generation == nil || *ft.Generation != 1 || ft.TestGeneration == nil || *ft.TestGeneration != 1 || ft.Cut != "block_12_add" {
		t.Fatalf("ft: generation %v, test generation %v, cut %q; want 1, 1, block_12_add", ft.Generation, ft.TestGeneration, ft.Cut)
	}
	g1, info1, done1 := readGen(t, c, fixPool, 1)
	if g1.Rows != fixPoolN || !done1 || info1.Source != "finetune" || info1.Dim != gen0.Cols {
		t.Fatalf("ft generation: %d rows, done %v, source %q, dim %d", g1.Rows, done1, info1.Source, info1.Dim)
	}
	if ft.MeanCosine > 0.99 || maxDiff32(g1.Data, gen0.Data) < 1e-2 {
		t.Fatalf("ft features barely moved: mean cosine %.4f, max diff %g", ft.MeanCosine, maxDiff32(g1.Data, gen0.Data))
	}
	want := map[string]string{"method": "ft", "seed": "3", "round": "2", "parent_gen": "0", "labels": "120", "cut": "block_12_add",
		"labeled_sha256": ft.LabeledSHA256, "net_sha256": ft.NetSHA256}
	for k, v := range want {
		if info1.Provenance[k] != v {
			t.Errorf("provenance %s = %q, want %q", k, info1.Provenance[k], v)
		}
	}
	if st, err := os.Stat(netPath); err != nil || st.Size() == 0 {
		t.Fatalf("--save wrote nothing: %v", err)
	}

	// The same command again finds its complete generation and writes nothing.
	again := ftJSON(t, append(base, "--method", "ft", "--round", "2", "--save", netPath)...)
	if *again.Generation != 1 || !again.Reused || again.NetSHA256 != ft.NetSHA256 {
		t.Fatalf("rerun: generation %d reused %v (same net %v), want 1, true, the same net", *again.Generation, again.Reused, again.NetSHA256 == ft.NetSHA256)
	}
}

// TestFinetuneResumesIncomplete plays a run killed after some batches: a
// generation with the run's provenance, part of its rows and no completion
// record. It must not count as complete, and the rerun must finish it to
// the bits of an uninterrupted run.
func TestFinetuneResumesIncomplete(t *testing.T) {
	ref := alignFixture(t)
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 60)
	args := func(cache string) []string {
		return []string{"--cache", cache, "--data", fixPool, "--labeled", labeled, "--method", "ft", "--seed", "5", "--epochs", "2", "--write-batch", "64"}
	}
	want := ftJSON(t, args(ref)...)
	full, info, _ := readGen(t, ref, fixPool, *want.Generation)

	// What the killed run left: two batches of 64 rows.
	db, err := cache.Open(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := db.FindSet(fixPool, "")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := set.AddGeneration(cache.GenInfo{Dim: full.Cols, Source: info.Source, Provenance: info.Provenance})
	if err != nil {
		t.Fatal(err)
	}
	const partial = 128
	if err := set.PutBatch(gen, full.IDs[:partial], full.Data[:partial*full.Cols]); err != nil {
		t.Fatal(err)
	}
	if latest, err := set.LatestComplete(); err != nil || latest != 0 {
		t.Fatalf("latest complete generation %d (%v), want 0: the half generation looks complete", latest, err)
	}
	if _, err := set.PickGeneration(gen); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("the half generation %d: %v, want an incomplete error", gen, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	res := ftJSON(t, args(c)...)
	if *res.Generation != gen || res.Reused {
		t.Fatalf("rerun wrote generation %d (reused %v), want to finish %d", *res.Generation, res.Reused, gen)
	}
	m, _, done := readGen(t, c, fixPool, gen)
	if !done || m.Rows != fixPoolN || maxDiff32(m.Data, full.Data) != 0 {
		t.Fatalf("finished generation: done %v, %d rows, max diff to an uninterrupted run %g", done, m.Rows, maxDiff32(m.Data, full.Data))
	}
}

func TestFinetuneErrors(t *testing.T) {
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 20)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oneClass := write("one.csv", "id,label\ntest/00000,Coat\ntest/00001,Coat\n")
	outOfRange := write("range.csv", "id,label\ntest/00000,10\n")
	notCached := write("missing.csv", "id,label\ntest/00000,Coat\ntest/09999,Bag\n")
	base := []string{"--cache", c, "--data", fixPool}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no labeled", base, true, "required"},
		{"bad method", append(base, "--labeled", labeled, "--method", "sgd"), true, "--method"},
		{"one class", append(base, "--labeled", oneClass), false, `all 2 labels are "Coat"`},
		{"index out of range", append(base, "--labeled", outOfRange), false, "is not a class index 0..9"},
		{"labels without features", append(base, "--labeled", notCached), false, `"test/09999"`},
		{"no such dataset", []string{"--cache", c, "--data", "fashion-mnist:nope", "--labeled", labeled}, false, "no feature set"},
		{"test without features", append(base, "--labeled", labeled, "--test", "folder:/nonexistent"), false, "no feature set"},
		{"no such cut", append(base, "--labeled", labeled, "--tune-from", "block_3_add"), false, "no cached activations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runFinetune(t.Context(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, errUsage) != tt.usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (usage %v), want one containing %q (usage %v)", err, errors.Is(err, errUsage), tt.want, tt.usage)
			}
		})
	}
	// None of the failures added a generation.
	m, _, _ := readGen(t, c, fixPool, 0)
	db, err := cache.Open(c, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, _ := db.FindSet(fixPool, "")
	if gens, _ := set.Generations(); len(gens) != 1 || m.Rows != fixPoolN {
		t.Fatalf("failed runs left %d generations", len(gens))
	}
}
