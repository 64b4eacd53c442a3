package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/report"
	"github.com/asvp-dev/asvp/simulate"
)

// The crash fixture: real features of 3,000 Fashion-MNIST training images
// (the pool) and 500 test images, output pool_blocks_10_13_16 of the default
// backbone, extracted once by the built binary. Tests work on copies.
const (
	crashPool   = "fashion-mnist:train"
	crashTest   = "fashion-mnist:test"
	crashOutput = "pool_blocks_10_13_16"
	crashPoolN  = 3000
	crashTestN  = 500
)

var crashFix struct {
	once sync.Once
	path string
	err  error
}

// crashFixture returns a fresh copy of the shared crash-test cache.
func crashFixture(t *testing.T) string {
	t.Helper()
	crashFix.once.Do(func() {
		crashFix.path = filepath.Join(filepath.Dir(asvpBin), "crash-fixture.asvp")
		for _, a := range [][]string{
			{"extract", "--data", crashPool, "--limit", fmt.Sprint(crashPoolN), "--output", crashOutput, "--cache", crashFix.path, "--quiet"},
			{"extract", "--data", crashTest, "--limit", fmt.Sprint(crashTestN), "--output", crashOutput, "--cache", crashFix.path, "--quiet"},
		} {
			if _, stderr, err := asvpRun(a...); err != nil {
				crashFix.err = fmt.Errorf("asvp %v: %v\n%s", a, err, stderr)
				return
			}
		}
	})
	if crashFix.err != nil {
		t.Fatal(crashFix.err)
	}
	return copyFile(t, crashFix.path, filepath.Join(t.TempDir(), "c.asvp"))
}

// copyFile copies src to dst and returns dst.
func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// genState describes generation gen of the feature set of spec in a cache
// no process is writing: whether it exists, its sample count, and whether
// it is marked complete.
func genState(t *testing.T, path, spec string, gen int) (exists bool, count int, done bool) {
	t.Helper()
	db, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := db.FindSet(spec, crashOutput)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Generation(gen); err != nil {
		return false, 0, false
	}
	if count, err = set.Count(gen); err != nil {
		t.Fatal(err)
	}
	if done, err = set.Complete(gen); err != nil {
		t.Fatal(err)
	}
	return true, count, done
}

// generationCounts returns the number of generations of every set of a cache, by set key.
func generationCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	infos, err := db.Sets()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, in := range infos {
		s, err := db.Set(in.Key)
		if err != nil {
			t.Fatal(err)
		}
		gens, err := s.Generations()
		if err != nil {
			t.Fatal(err)
		}
		out[in.Key] = len(gens)
	}
	return out
}

// TestKillFinetuneResumes kills `asvp finetune` with SIGKILL at random
// moments (first anywhere in the run, then steered into the write of the
// new generation), checks `asvp cache verify` after every kill, and checks
// that the finished cache equals an uninterrupted run bit for bit, with the
// new generation marked complete and no extra generation.
func TestKillFinetuneResumes(t *testing.T) {
	base := crashFixture(t)
	dir := t.TempDir()

	// 300 labeled samples, every tenth pool sample, labels from the oracle
	// label set extract stored from the dataset's own label file.
	db, err := cache.Open(base, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_, oracle, err := db.OracleLabels(crashPool)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("id,label\n")
	for i := 0; i < crashPoolN; i += 10 {
		id := fmt.Sprintf("train/%05d", i)
		c, ok := oracle[id]
		if !ok {
			t.Fatalf("no oracle label for %s", id)
		}
		fmt.Fprintf(&csv, "%s,%d\n", id, c)
	}
	labeled := filepath.Join(dir, "labeled.csv")
	if err := os.WriteFile(labeled, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	args := func(c string) []string {
		return []string{"finetune", "--cache", c, "--data", crashPool, "--labeled", labeled,
			"--method", "ft", "--seed", "1", "--epochs", "3", "--write-batch", "32"}
	}
	parse := func(b []byte) loop.FinetuneResult {
		t.Helper()
		var r loop.FinetuneResult
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("finetune output is not JSON: %v\n%s", err, b)
		}
		return r
	}
	ref := copyFile(t, base, filepath.Join(dir, "ref.asvp"))
	crash := copyFile(t, base, filepath.Join(dir, "crash.asvp"))
	t0 := time.Now()
	want := parse(asvp(t, args(ref)...))
	full := time.Since(t0)
	if want.Generation == nil || *want.Generation != 1 || want.Reused {
		t.Fatalf("reference run: generation %v reused %v, want a new generation 1", fmtGen(want.Generation), want.Reused)
	}
	write := time.Duration(want.Seconds["write"] * float64(time.Second))

	// After each kill: the cache verifies, and generation 1 is absent,
	// partial (or full) and unmarked, or complete and marked; never marked
	// while partial.
	var before, midWrite, after int
	check := func() {
		asvp(t, "cache", "verify", "--cache", crash)
		exists, n, done := genState(t, crash, crashPool, 1)
		switch {
		case !exists || (n == 0 && !done):
			before++
		case done && n == crashPoolN:
			after++
		case !done && n <= crashPoolN: // every row may be in, the mark not yet: a rerun marks it
			midWrite++
		default:
			t.Fatalf("after a kill generation 1 holds %d of %d samples, marked complete: %v", n, crashPoolN, done)
		}
	}
	mk := func() *exec.Cmd { return asvpCmd(args(crash)...) }
	rng := rand.New(rand.NewPCG(11, 11))
	budget := 40 * time.Second
	deadline := time.Now().Add(budget)
	// Two kills anywhere in the first half of a run: start-up, reading, training.
	kills := killLoop(t, rng, mk, 5*time.Millisecond, max(20*time.Millisecond, full/2), 2, budget, check)
	finished := kills < 2
	// Then kills steered into the write, the last `write` of a run: a kill
	// that lands before the first batch moves the window's start halfway to
	// its end. A run ends on its own once its remaining writes are shorter
	// than the delay drawn.
	lo, hi := max(10*time.Millisecond, full-2*write), max(20*time.Millisecond, full)
	for !finished && kills < 10 && time.Now().Before(deadline) {
		b0 := before
		if killLoop(t, rng, mk, lo, hi, 1, time.Until(deadline), check) == 0 {
			finished = true
			break
		}
		kills++
		if before > b0 && hi-lo > 20*time.Millisecond {
			lo += (hi - lo) / 2
		}
	}
	got := parse(asvp(t, args(crash)...)) // finish, or find it finished
	t.Logf("finetune: reference %v (write %v); survived %d kills: %d before the write, %d mid-write, %d after it",
		full.Round(time.Millisecond), write.Round(time.Millisecond), kills, before, midWrite, after)
	if kills == 0 {
		t.Fatal("no run was killed: the delays are too long for this machine")
	}
	if got.Generation == nil || *got.Generation != 1 {
		t.Fatalf("finished run wrote generation %v, want 1", fmtGen(got.Generation))
	}
	if got.NetSHA256 != want.NetSHA256 || got.LabeledSHA256 != want.LabeledSHA256 || got.TrainAccuracy != want.TrainAccuracy {
		t.Errorf("finished run trained another net: sha %s acc %v, want %s acc %v", got.NetSHA256[:12], got.TrainAccuracy, want.NetSHA256[:12], want.TrainAccuracy)
	}
	if again := parse(asvp(t, args(crash)...)); !again.Reused || again.Generation == nil || *again.Generation != 1 {
		t.Errorf("a rerun after finishing: generation %v reused %v, want generation 1 reused", fmtGen(again.Generation), again.Reused)
	}
	if exists, n, done := genState(t, crash, crashPool, 1); !exists || n != crashPoolN || !done {
		t.Fatalf("generation 1: exists %v, %d samples, complete %v; want %d, complete", exists, n, done, crashPoolN)
	}
	if w, g := generationCounts(t, ref), generationCounts(t, crash); !reflect.DeepEqual(w, g) {
		t.Errorf("generations per set %v, want %v as in the uninterrupted run", g, w)
	}
	asvp(t, "cache", "verify", "--cache", crash)
	sameCache(t, ref, crash)
}

// fmtGen formats an optional generation number.
func fmtGen(g *int) string {
	if g == nil {
		return "none"
	}
	return fmt.Sprint(*g)
}

// simRecordKey names a round record by pipeline, seed and round.
func simRecordKey(r simulate.RoundRecord) string {
	return fmt.Sprintf("%s/%d/%d", r.Pipeline, r.Seed, r.Round)
}

// readSimRecords reads results.json of a simulate report directory and
// returns its round records with the timing fields (which differ between
// runs) cleared, keyed by pipeline/seed/round.
func readSimRecords(t *testing.T, dir string) map[string]simulate.RoundRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc report.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if doc.Results == nil {
		t.Fatal("results.json has no results")
	}
	out := map[string]simulate.RoundRecord{}
	for _, r := range doc.Results.Records {
		r.Seconds, r.Finished = simulate.Phases{}, time.Time{}
		k := simRecordKey(r)
		if _, dup := out[k]; dup {
			t.Fatalf("results.json holds %s twice", k)
		}
		out[k] = r
	}
	return out
}

// TestKillSimulateResumes kills `asvp simulate` with SIGKILL at random
// moments, checks `asvp cache verify` after every kill, finishes the run and
// checks that every round of every pipeline (accuracy, labels, picks,
// labeled-set hash, generations, indicator) equals an uninterrupted run's,
// and that the feature generations asvp wrote equal its bit for bit.
func TestKillSimulateResumes(t *testing.T) {
	base := crashFixture(t)
	dir := t.TempDir()
	args := func(c, out string) []string {
		return []string{"simulate", "--cache", c, "--pool", crashPool, "--test", crashTest, "--output", crashOutput,
			"--pool-limit", "2000", "--pipelines", "random,standard,svpp,asvp", "--init", "50", "--budget", "50",
			"--rounds", "4", "--seeds", "1", "--proxy", "linear", "--indicator", "every", "--every", "2",
			"--min-labels", "0", "--tune-epochs", "1", "--quiet", "--out", out}
	}
	ref := copyFile(t, base, filepath.Join(dir, "ref.asvp"))
	crash := copyFile(t, base, filepath.Join(dir, "crash.asvp"))
	refOut, crashOut := filepath.Join(dir, "ref"), filepath.Join(dir, "crash")
	t0 := time.Now()
	asvp(t, args(ref, refOut)...)
	full := time.Since(t0)
	want := readSimRecords(t, refOut)
	if len(want) != 5*5 { // asvp-ft derived from asvp
		t.Fatalf("reference run has %d round records, want 25", len(want))
	}
	realigned := 0
	for _, r := range want {
		if r.Realigned {
			realigned++
		}
	}
	if realigned == 0 {
		t.Fatal("reference asvp run never re-aligned: no feature generation to compare")
	}

	rng := rand.New(rand.NewPCG(13, 13))
	kills := killLoop(t, rng, func() *exec.Cmd { return asvpCmd(args(crash, crashOut)...) },
		50*time.Millisecond, max(100*time.Millisecond, full/2), 8, 30*time.Second,
		func() { asvp(t, "cache", "verify", "--cache", crash) })
	asvp(t, args(crash, crashOut)...) // finish
	t.Logf("simulate: reference %v; survived %d kills", full.Round(time.Millisecond), kills)
	if kills == 0 {
		t.Fatal("no run was killed: the delays are too long for this machine")
	}

	got := readSimRecords(t, crashOut)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing from the resumed run", k)
			continue
		}
		if w := want[k]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s differs from the uninterrupted run:\n got  labels %d acc %v train %v method %s gens %d/%d/%d updates %d labeled %.12s\n want labels %d acc %v train %v method %s gens %d/%d/%d updates %d labeled %.12s",
				k, g.Labels, g.Accuracy, g.TrainAcc, g.Method, g.SelectGen, g.PoolGen, g.TestGen, g.Updates, g.Labeled,
				w.Labels, w.Accuracy, w.TrainAcc, w.Method, w.SelectGen, w.PoolGen, w.TestGen, w.Updates, w.Labeled)
		}
	}
	if len(got) != len(want) {
		t.Errorf("resumed run has %d round records, want %d", len(got), len(want))
	}
	if w, g := generationCounts(t, ref), generationCounts(t, crash); !reflect.DeepEqual(w, g) {
		t.Errorf("generations per set %v, want %v as in the uninterrupted run", g, w)
	}
	sameCache(t, ref, crash)
}
