package main

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/cache"
)

// killLoop starts the command made by mk again and again, SIGKILLs it after a
// random delay drawn from rng in [minDelay, maxDelay), and runs check after
// every kill. It stops when a run finishes on its own, after maxKills kills,
// or when budget is spent, and returns the number of kills.
func killLoop(t *testing.T, rng *rand.Rand, mk func() *exec.Cmd, minDelay, maxDelay time.Duration, maxKills int, budget time.Duration, check func()) int {
	t.Helper()
	kills := 0
	deadline := time.Now().Add(budget)
	for kills < maxKills && time.Now().Before(deadline) {
		cmd := mk()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay)))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run finished with an error before the kill: %v", err)
			}
			return kills
		case <-time.After(delay):
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			return kills // it finished just before the signal
		}
		kills++
		check()
	}
	return kills
}

// sameCache fails the test unless every feature set of want has an equal set
// in got: same keys, generations, IDs and vectors bit for bit.
func sameCache(t *testing.T, wantPath, gotPath string) {
	t.Helper()
	open := func(p string) *cache.DB {
		db, err := cache.Open(p, &cache.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	want, got := open(wantPath), open(gotPath)
	infos, err := want.Sets()
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) == 0 {
		t.Fatal("reference cache has no feature sets")
	}
	for _, in := range infos {
		ws, err := want.Set(in.Key)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := got.Set(in.Key)
		if err != nil {
			t.Fatalf("set %s (%s): %v", in.Key[:12], in.Output, err)
		}
		gens, err := ws.Generations()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gens {
			wm, err := ws.ReadMatrix(g.N)
			if err != nil {
				t.Fatal(err)
			}
			gm, err := gs.ReadMatrix(g.N)
			if err != nil {
				t.Fatalf("set %s gen %d: %v", in.Key[:12], g.N, err)
			}
			if !slices.Equal(wm.IDs, gm.IDs) {
				t.Fatalf("set %s gen %d: %d IDs, want %d", in.Key[:12], g.N, len(gm.IDs), len(wm.IDs))
			}
			if !slices.Equal(wm.Data, gm.Data) {
				t.Fatalf("set %s gen %d: vectors differ from the uninterrupted run", in.Key[:12], g.N)
			}
		}
	}
}

// TestKillExtractResumes kills `asvp extract` with SIGKILL at random moments,
// checks `asvp cache verify` after every kill, and checks that the resumed
// cache equals an uninterrupted run bit for bit.
func TestKillExtractResumes(t *testing.T) {
	dir := t.TempDir()
	args := func(c string) []string {
		return []string{"extract", "--data", "fashion-mnist:test", "--limit", "2000", "--batch", "16",
			"--output", "pool_blocks_10_13_16,pool_block_13", "--cache", c, "--quiet"}
	}
	ref := filepath.Join(dir, "ref.cache")
	t0 := time.Now()
	asvp(t, args(ref)...)
	full := time.Since(t0) // kill somewhere inside a run of this length
	crash := filepath.Join(dir, "crash.cache")
	rng := rand.New(rand.NewPCG(7, 7))
	kills := killLoop(t, rng, func() *exec.Cmd { return asvpCmd(args(crash)...) },
		100*time.Millisecond, max(200*time.Millisecond, full/4), 10, 90*time.Second,
		func() {
			if _, err := os.Stat(crash); err == nil { // killed before creating it: nothing to check
				asvp(t, "cache", "verify", "--cache", crash)
			}
		})
	asvp(t, args(crash)...) // finish
	t.Logf("survived %d kills", kills)
	if kills == 0 {
		t.Fatal("no run was killed mid-extraction: the delays are too long for this machine")
	}
	sameCache(t, ref, crash)
}
