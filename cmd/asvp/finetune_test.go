package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models/nn"
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

func finetune(t *testing.T, args ...string) loop.FinetuneResult {
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

func loadNet(t *testing.T, path string) *nn.Net {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	net, err := nn.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return net
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

// oracleAccuracy recomputes a net's accuracy on generation-0 test features
// with the oracle labels, by its own argmax.
func oracleAccuracy(t *testing.T, cachePath string, net *nn.Net) float64 {
	t.Helper()
	m, _, _ := readGen(t, cachePath, fixTest, 0)
	db, err := cache.Open(cachePath, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, oracle, err := db.OracleLabels(fixTest)
	if err != nil {
		t.Fatal(err)
	}
	p := net.Predict(m.Data, m.Rows)
	right := 0
	for i, id := range m.IDs {
		row := p[i*net.Classes : (i+1)*net.Classes]
		if slices.Index(row, slices.Max(row)) == oracle[id] {
			right++
		}
	}
	return float64(right) / float64(m.Rows)
}

func TestFinetuneGenerations(t *testing.T) {
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 120)
	base := []string{"--cache", c, "--data", fixPool, "--labeled", labeled, "--seed", "3", "--test", fixTest}
	gen0, _, _ := readGen(t, c, fixPool, 0)
	test0, _, _ := readGen(t, c, fixTest, 0)

	// LP leaves the adapter the identity: the new generation is generation 0 bit for bit.
	lp := finetune(t, append(base, "--method", "lp", "--round", "1")...)
	if lp.Generation == nil || *lp.Generation != 1 || lp.TestGeneration == nil || *lp.TestGeneration != 1 {
		t.Fatalf("lp generations %v %v, want 1 and 1", lp.Generation, lp.TestGeneration)
	}
	g1, info1, done1 := readGen(t, c, fixPool, 1)
	if g1.Rows != fixPoolN || !done1 || info1.Source != "adapter" {
		t.Fatalf("lp generation: %d rows, done %v, source %q", g1.Rows, done1, info1.Source)
	}
	if !slices.Equal(g1.IDs, gen0.IDs) || !slices.Equal(g1.Data, gen0.Data) {
		t.Fatalf("lp generation differs from generation 0 (max diff %g)", maxDiff32(g1.Data, gen0.Data))
	}
	t1, _, _ := readGen(t, c, fixTest, 1)
	if !slices.Equal(t1.Data, test0.Data) {
		t.Fatal("lp test generation differs from its generation 0")
	}
	want := map[string]string{"method": "lp", "seed": "3", "round": "1", "parent_gen": "0", "labels": "120",
		"labeled_sha256": lp.LabeledSHA256, "net_sha256": lp.NetSHA256}
	for k, v := range want {
		if info1.Provenance[k] != v {
			t.Errorf("provenance %s = %q, want %q", k, info1.Provenance[k], v)
		}
	}

	// FT changes the features: the generation is net.Embed of generation 0.
	netPath := filepath.Join(t.TempDir(), "net.bin")
	ft := finetune(t, append(base, "--method", "ft", "--gen", "0", "--save", netPath)...)
	if *ft.Generation != 2 || ft.ParentGen != 0 {
		t.Fatalf("ft generation %d parent %d, want 2 and 0", *ft.Generation, ft.ParentGen)
	}
	net := loadNet(t, netPath)
	g2, _, done2 := readGen(t, c, fixPool, 2)
	wantEmbed := make([]float32, len(gen0.Data))
	net.Embed(gen0.Data, gen0.Rows, wantEmbed)
	if g2.Rows != fixPoolN || !done2 || maxDiff32(g2.Data, wantEmbed) != 0 {
		t.Fatalf("ft generation: %d rows, done %v, max diff to Embed %g", g2.Rows, done2, maxDiff32(g2.Data, wantEmbed))
	}
	if maxDiff32(g2.Data, gen0.Data) < 1e-3 {
		t.Fatal("ft generation equals generation 0: the adapter did not train")
	}
	if got := oracleAccuracy(t, c, net); ft.TestAccuracy == nil || *ft.TestAccuracy != got || ft.TestSamples != fixTestN {
		t.Fatalf("test accuracy %v on %d, recomputed %g on %d", ft.TestAccuracy, ft.TestSamples, got, fixTestN)
	}
	if *ft.TestAccuracy < 0.5 { // 120 labels of 10 classes on real features: far above chance
		t.Errorf("test accuracy %g, want well above chance", *ft.TestAccuracy)
	}

	// The same command again finds its complete generation and writes nothing.
	again := finetune(t, append(base, "--method", "ft", "--gen", "0", "--save", netPath)...)
	if *again.Generation != 2 || !again.Reused {
		t.Fatalf("rerun: generation %d reused %v, want 2 and true", *again.Generation, again.Reused)
	}

	// The default parent is generation 0, so a rerun without --gen (after a
	// kill between marking the generation done and exiting) is the same command.
	dflt := finetune(t, append(base, "--method", "ft", "--save", netPath)...)
	if *dflt.Generation != 2 || !dflt.Reused || dflt.ParentGen != 0 {
		t.Fatalf("rerun without --gen: generation %d reused %v parent %d, want 2, true, 0", *dflt.Generation, dflt.Reused, dflt.ParentGen)
	}

	// With --gen -1, finetune trains on the newest complete generation.
	latest := finetune(t, append(base, "--method", "lp", "--no-write", "--gen", "-1")...)
	if latest.ParentGen != 2 || latest.Generation != nil {
		t.Fatalf("--no-write on latest: parent %d generation %v, want 2 and none", latest.ParentGen, latest.Generation)
	}
}

// TestFinetuneResumesIncomplete plays a run killed after some batches: a
// generation with the run's provenance, part of its rows and no completion
// record. It must not count as complete, and the rerun must finish it.
func TestFinetuneResumesIncomplete(t *testing.T) {
	c := alignFixture(t)
	labeled, _ := fixtureLabels(t, c, 60)
	netPath := filepath.Join(t.TempDir(), "net.bin")
	args := []string{"--cache", c, "--data", fixPool, "--labeled", labeled, "--method", "ft", "--seed", "5", "--epochs", "3",
		"--save", netPath, "--write-batch", "64"}
	dry := finetune(t, append(args, "--no-write")...)
	net := loadNet(t, netPath)
	gen0, _, _ := readGen(t, c, fixPool, 0)
	embed := make([]float32, len(gen0.Data))
	net.Embed(gen0.Data, gen0.Rows, embed)

	// What the killed run left: two batches of 64 rows.
	db, err := cache.Open(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := db.FindSet(fixPool, "")
	if err != nil {
		t.Fatal(err)
	}
	cj, _ := json.Marshal(dry.Classes)
	prov := map[string]string{"labeled_sha256": dry.LabeledSHA256, "labels": "60", "method": "ft", "seed": "5", "round": "0",
		"parent_gen": "0", "net_sha256": dry.NetSHA256, "pool": fixPool, "classes": string(cj)}
	gen, err := set.AddGeneration(cache.GenInfo{Dim: gen0.Cols, Source: "adapter", Provenance: prov})
	if err != nil {
		t.Fatal(err)
	}
	const partial = 128
	if err := set.PutBatch(gen, gen0.IDs[:partial], embed[:partial*gen0.Cols]); err != nil {
		t.Fatal(err)
	}
	if latest, err := set.LatestComplete(); err != nil || latest != 0 {
		t.Fatalf("latest complete generation %d (%v), want 0: the half generation looks complete", latest, err)
	}
	if _, err := set.PickGeneration(gen); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("--gen %d on the half generation: %v, want an incomplete error", gen, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	res := finetune(t, args...)
	if *res.Generation != gen || res.Reused {
		t.Fatalf("rerun wrote generation %d (reused %v), want to finish %d", *res.Generation, res.Reused, gen)
	}
	m, _, done := readGen(t, c, fixPool, gen)
	if !done || m.Rows != fixPoolN || maxDiff32(m.Data, embed) != 0 {
		t.Fatalf("finished generation: done %v, %d rows, max diff %g", done, m.Rows, maxDiff32(m.Data, embed))
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
	unknown := write("unknown.csv", "id,label\ntest/00000,Coat\ntest/00001,Spaceship\n")
	outOfRange := write("range.csv", "id,label\ntest/00000,10\n")
	notCached := write("missing.csv", "id,label\ntest/00000,Coat\ntest/09999,Coat\n")
	base := []string{"--cache", c, "--data", fixPool}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no labeled", base, true, "required"},
		{"bad method", append(base, "--labeled", labeled, "--method", "sgd"), true, "--method"},
		{"unknown class", append(base, "--labeled", unknown), false, "unknown.csv:3"},
		{"index out of range", append(base, "--labeled", outOfRange), false, "neither a class name nor an index"},
		{"labels without features", append(base, "--labeled", notCached), false, `"test/09999"`},
		{"no such dataset", []string{"--cache", c, "--data", "fashion-mnist:nope", "--labeled", labeled}, false, "no feature set"},
		{"no such generation", append(base, "--labeled", labeled, "--gen", "7"), false, "generation 7"},
		{"test without features", append(base, "--labeled", labeled, "--test", "folder:/nonexistent"), false, "no feature set"},
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
