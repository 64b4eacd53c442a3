package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/features"
)

// damageFixture writes a closed cache of two sets (float32 and float16),
// each with a pre-trained and a simulation generation and a recorded
// extraction error, a label set and a record namespace, spread over a few
// dozen pages; it returns the path and the file's bytes.
func damageFixture(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.asvp")
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for k, info := range []SetInfo{testInfo("a", 16, DTypeFloat32), testInfo("bb", 8, DTypeFloat16)} {
		s, err := db.EnsureSet(info)
		if err != nil {
			t.Fatal(err)
		}
		putAll(t, s, 0, makeSamples(uint64(k), 300, info.Dim), 64)
		if err := s.PutErrors(0, []SampleError{{ID: "bad.png", Path: "/data/bad.png", Reason: "truncated"}}); err != nil {
			t.Fatal(err)
		}
		g, err := s.AddGeneration(GenInfo{Dim: 4, Source: "adapter", Provenance: map[string]string{ProvenanceSimulation: "s1"}})
		if err != nil {
			t.Fatal(err)
		}
		putAll(t, s, g, makeSamples(uint64(k+10), 300, 4), 100)
	}
	if err := db.PutLabels("oracle", []string{"a", "b"}, map[string]int{"x": 0, "y": 1}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutRecord("ns", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// noPanic runs fn and fails the test, naming what, if fn panics.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic: %v\n%s", what, r, debug.Stack())
		}
	}()
	fn()
}

// damageOutcome is what the cache API made of one damaged file.
type damageOutcome struct {
	openErr    error // Open read-only failed
	problems   []Problem
	readErrs   []error // reads that failed with ErrCorrupt
	panicked   bool    // some error came from a recovered bbolt panic
	structural bool    // Verify reported damage to the page structure
}

// exercise opens the damaged file at path, verifies it, reads everything
// through the API, then writes to it. Every error must be one the caller
// can act on: ErrCorrupt (a *DamageError naming the file when bbolt
// failed, so the caller can say how to verify it), ErrNotFound or
// ErrNotCache, never a panic.
func exercise(t *testing.T, path, what string) damageOutcome {
	t.Helper()
	var out damageOutcome
	check := func(op string, err error) {
		t.Helper()
		switch {
		case err == nil, errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrCorrupt):
			out.readErrs = append(out.readErrs, err)
			if errors.Is(err, errPanicked) {
				out.panicked = true
				var de *DamageError
				if !strings.Contains(err.Error(), path) || !errors.As(err, &de) || de.Path != path {
					t.Errorf("%s: %s: %v: does not name the file in a *DamageError", what, op, err)
				}
			}
		default:
			t.Errorf("%s: %s: %v: want ErrCorrupt or ErrNotFound", what, op, err)
		}
	}
	noPanic(t, what+": read-only", func() {
		db, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotCache) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: Open: %v: want ErrCorrupt or ErrNotCache naming the file", what, err)
			}
			out.openErr = err
			return
		}
		defer db.Close()
		rep, err := Verify(db)
		if err != nil {
			t.Errorf("%s: Verify: %v", what, err)
		}
		out.problems = rep.Problems
		for _, p := range rep.Problems {
			out.structural = out.structural || strings.HasPrefix(p.Msg, "file structure")
		}
		_, err = db.Sets()
		check("Sets", err)
		for _, info := range []SetInfo{testInfo("a", 16, DTypeFloat32), testInfo("bb", 8, DTypeFloat16)} {
			key := Fingerprint(info.ModelSHA256, info.Output, info.CardHash, info.DatasetID)
			s, err := db.Set(key)
			check("Set", err)
			if err != nil {
				continue
			}
			_, err = s.Generations()
			check("Generations", err)
			for gen := range 2 {
				_, err = s.ReadMatrix(gen)
				check("ReadMatrix", err)
				_, err = s.ReadMatrixInto(gen, features.NewMatrix(1, 1))
				check("ReadMatrixInto", err)
				_, err = s.ReadRows(gen, []string{"bad.png"})
				check("ReadRows", err)
				_, err = s.Errors(gen)
				check("Errors", err)
				_, err = s.Count(gen)
				check("Count", err)
				_, err = s.ErrorCount(gen)
				check("ErrorCount", err)
				_, err = s.Missing(gen, []string{"x", "y"})
				check("Missing", err)
				check("Export", Export(s, gen, FormatNPY, new(bytes.Buffer)))
			}
		}
		_, _, err = db.Labels("oracle")
		check("Labels", err)
		_, err = db.LabelSets()
		check("LabelSets", err)
		_, err = db.Records("ns")
		check("Records", err)
		_, err = db.Record("ns", "k")
		check("Record", err)
	})
	noPanic(t, what+": read-write", func() {
		db, err := Open(path, &Options{NoSync: true})
		if err != nil {
			return
		}
		defer db.Close()
		s, err := db.EnsureSet(testInfo("a", 16, DTypeFloat32))
		check("EnsureSet", err)
		if err != nil {
			return
		}
		ids, vecs := flatten(makeSamples(99, 50, 16))
		check("PutBatch", s.PutBatch(0, ids, vecs))
		_, err = s.AddGeneration(GenInfo{Dim: 3, Source: "adapter"})
		check("AddGeneration", err)
		check("DeleteRecords", db.DeleteRecords("ns"))
	})
	return out
}

// TestDamagedPageCounts flips, one copy of the file at a time, each bit of
// the element count in the header of every page (the damage that used to
// crash asvp cache verify with "assertion failed: Page expected to be ...").
// Opening, verifying, reading and writing must never panic; whatever bbolt
// trips over must surface as ErrCorrupt from the reads and as problems from
// Verify.
func TestDamagedPageCounts(t *testing.T) {
	path, orig := damageFixture(t)
	// The page size, from the first meta page: after the page header (16
	// bytes), the magic and the version (4 bytes each).
	pageSize := int(binary.LittleEndian.Uint32(orig[24:]))
	if pageSize < 1024 || len(orig)%pageSize != 0 {
		t.Fatalf("file of %d bytes with a page size of %d", len(orig), pageSize)
	}
	dir := filepath.Dir(path)
	var opened, failedOpen, panicked, structural int
	for page := range len(orig) / pageSize {
		for bit := range 16 {
			b := bytes.Clone(orig)
			b[page*pageSize+10+bit/8] ^= 1 << (bit % 8) // the count: bytes 10..11 of the page header
			p := filepath.Join(dir, fmt.Sprintf("p%d-b%d.asvp", page, bit))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("page %d count bit %d", page, bit)
			got := exercise(t, p, what)
			if got.openErr != nil {
				failedOpen++
			} else {
				opened++
			}
			if got.panicked {
				panicked++
			}
			if got.structural {
				structural++
			}
			if len(got.readErrs) > 0 && got.openErr == nil && len(got.problems) == 0 {
				t.Errorf("%s: reads fail (%v) but Verify finds no problem", what, got.readErrs[0])
			}
			os.Remove(p)
		}
	}
	t.Logf("%d damaged files: %d opened, %d refused by Open; %d with bbolt failures turned into errors, %d with structure problems found by Verify",
		opened+failedOpen, opened, failedOpen, panicked, structural)
	// The sweep must reach the damage this test is about.
	if panicked == 0 || structural == 0 {
		t.Errorf("no bbolt failure was provoked (%d) or no structure problem found (%d): the fixture no longer covers the damage", panicked, structural)
	}
}

// TestVerifyRandomDamage flips random bits anywhere in the file: Verify must
// never crash, and must not pass a file it cannot read.
func TestVerifyRandomDamage(t *testing.T) {
	path, orig := damageFixture(t)
	trials := 3000
	if testing.Short() {
		trials = 300
	}
	rng := rand.New(rand.NewPCG(11, 13))
	dir := filepath.Dir(path)
	found := 0
	for trial := range trials {
		b := bytes.Clone(orig)
		at := rng.IntN(len(b))
		b[at] ^= 1 << rng.IntN(8)
		p := filepath.Join(dir, fmt.Sprintf("r%d.asvp", trial))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		noPanic(t, fmt.Sprintf("byte %d", at), func() {
			db, err := Open(p, &Options{ReadOnly: true})
			if err != nil {
				return
			}
			defer db.Close()
			rep, err := Verify(db)
			if err != nil {
				t.Errorf("byte %d: Verify: %v", at, err)
			}
			if !rep.OK() {
				found++
			}
		})
		os.Remove(p)
	}
	if found == 0 {
		t.Error("no damage found in any trial")
	}
}
