package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/cache"
)

// TestCacheMigrate migrates the format-1 cache of testdata/cache-v1 (made
// by the release before content addressing, see its make.sh): explicitly
// with cache migrate, its vectors are those that release exported, and
// extracting its dataset again runs nothing (the vectors are adopted);
// and automatically, on the first extract, which keeps a backup and
// extracts again only the photo modified after the format-1 extraction.
func TestCacheMigrate(t *testing.T) {
	// A format-1 vector is adopted only for a file not modified since its
	// set was created; a fresh clone gives the photos the clone's time.
	photos, _ := filepath.Abs("../../testdata/photos")
	setMtimes(t, photos, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	c := copyFile(t, "testdata/cache-v1/photos.cache", filepath.Join(dir, "photos.cache"))
	out := asvp(t, "cache", "migrate", "--cache", c)
	var m struct {
		Migrated bool              `json:"migrated"`
		From     int               `json:"from"`
		Backup   string            `json:"backup"`
		Specs    map[string]string `json:"specs"`
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if !m.Migrated || m.From != 1 || m.Backup != c+".v1.bak" || m.Specs["folder:../../testdata/photos"] != "folder:"+photos {
		t.Errorf("migrate said %s", out)
	}
	if _, err := os.Stat(m.Backup); err != nil {
		t.Errorf("no backup: %v", err)
	}
	csv := filepath.Join(dir, "after.csv")
	asvp(t, "cache", "export", "--cache", c, "--data", "folder:"+photos, "--out", csv)
	want, _ := os.ReadFile("testdata/cache-v1/photos.csv")
	if got, _ := os.ReadFile(csv); len(want) == 0 || string(got) != string(want) {
		t.Errorf("vectors after migration differ from those the format-1 release exported")
	}
	if out := asvp(t, "cache", "migrate", "--cache", c); !strings.Contains(string(out), `"migrated": false`) {
		t.Errorf("second migrate: %s", out)
	}
	r := extractJSON(t, "--data", "folder:../../testdata/photos", "--cache", c)
	if r.Done != 0 || r.Samples != 5 {
		t.Errorf("extracting the migrated dataset again: %+v, want nothing extracted", r)
	}
	asvp(t, "cache", "verify", "--cache", c)

	auto := filepath.Join(t.TempDir(), "photos.cache")
	if err := os.WriteFile(auto, mustRead(t, "testdata/cache-v1/photos.cache"), 0o644); err != nil {
		t.Fatal(err)
	}
	// One photo modified after the format-1 extraction: nothing says which
	// content its vector came from, so it alone is extracted again.
	now := time.Now()
	if err := os.Chtimes(filepath.Join(photos, "astronaut.png"), now, now); err != nil {
		t.Fatal(err)
	}
	if r := extractJSON(t, "--data", "folder:"+photos, "--cache", auto); r.Done != 1 || r.Changed != 1 {
		t.Errorf("extract on a format-1 cache, one photo modified since: %+v, want that one extracted", r)
	}
	if _, err := os.Stat(auto + ".v1.bak"); err != nil {
		t.Errorf("automatic migration kept no backup: %v", err)
	}
}

// setMtimes gives every file in dir the modification time when, and puts
// the times back at the end of the test.
func setMtimes(t *testing.T, dir string, when time.Time) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chtimes(p, fi.ModTime(), fi.ModTime()) })
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCacheGC renames an extracted folder, extracts it under its new name
// (a copy: nothing runs) and collects the old name's set: a dry run says
// what it would free and changes nothing; gc --compact drops it, shrinks
// the file and leaves it verified, the renamed set whole.
func TestCacheGC(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "pool")
	if err := os.Mkdir(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		writeImage(t, filepath.Join(pool, "i"+string(rune('a'+i%26))+string(rune('a'+i/26))+".png"), 24, i+1)
	}
	c := filepath.Join(dir, "c.cache")
	extractJSON(t, "--data", "folder:"+pool, "--cache", c, "--tune-from", "")
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(pool, moved); err != nil {
		t.Fatal(err)
	}
	if r := extractJSON(t, "--data", "folder:"+moved, "--cache", c, "--tune-from", ""); r.Done != 0 {
		t.Fatalf("renamed folder extracted %d", r.Done)
	}
	sets := func() []cache.SetInfo {
		db, err := cache.Open(c, &cache.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		infos, err := db.Sets()
		if err != nil {
			t.Fatal(err)
		}
		return infos
	}
	n := len(sets())
	var res struct {
		Sets []struct {
			Dataset string `json:"dataset"`
			Bytes   int64  `json:"bytes"`
		} `json:"sets"`
		Bytes  int64 `json:"bytes"`
		Before int64 `json:"file_bytes_before"`
		After  int64 `json:"file_bytes_after"`
	}
	if err := json.Unmarshal(asvp(t, "cache", "gc", "--cache", c, "--dry-run"), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Sets) != n/2 || res.Bytes < 40*576*4 || res.Sets[0].Dataset != "folder:"+pool {
		t.Errorf("dry run: %+v; want the %d sets of %s, at least %d bytes", res, n/2, pool, 40*576*4)
	}
	if got := len(sets()); got != n {
		t.Errorf("the dry run dropped sets: %d left of %d", got, n)
	}
	if err := json.Unmarshal(asvp(t, "cache", "gc", "--cache", c, "--compact"), &res); err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before {
		t.Errorf("compaction: %d bytes before, %d after", res.Before, res.After)
	}
	left := sets()
	if len(left) != n/2 || !slices.ContainsFunc(left, func(si cache.SetInfo) bool { return si.Dataset == "folder:"+moved }) {
		t.Errorf("after gc: %v", left)
	}
	asvp(t, "cache", "verify", "--cache", c)
	if r := extractJSON(t, "--data", "folder:"+moved, "--cache", c, "--tune-from", ""); r.Done != 0 || r.Cached != 40 {
		t.Errorf("after gc the renamed folder's set is not whole: %+v", r)
	}
}

// TestSelectBySet names the feature set by --set (a key prefix): select
// picks what it picks by --data; --set with --data is a usage error.
func TestSelectBySet(t *testing.T) {
	c := selectCache(t)
	labeled := writeLabeled(t, 60)
	db, err := cache.Open(c, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	infos, _ := db.Sets()
	db.Close()
	var key string
	for _, si := range infos {
		if _, _, acts := cache.ParseActivationsOutput(si.Output); !acts {
			key = si.Key[:10]
		}
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	asvp(t, "select", "--cache", c, "--labeled", labeled, "--budget", "10", "--seed", "1", "--out", a, "--quiet")
	asvp(t, "select", "--cache", c, "--set", key, "--labeled", labeled, "--budget", "10", "--seed", "1", "--out", b, "--quiet")
	if pa, pb := readPickIDs(t, a), readPickIDs(t, b); !slices.Equal(pa, pb) || len(pa) != 10 {
		t.Errorf("select --set picked %v, by the only dataset %v", pb, pa)
	}
	_, stderr, err := asvpRun("select", "--cache", c, "--set", key, "--data", "fashion-mnist:test", "--labeled", labeled, "--budget", "10", "--out", b)
	if exitCode(err) != 2 || !strings.Contains(stderr, "either --set") {
		t.Errorf("--set with --data: exit %d, stderr %q", exitCode(err), stderr)
	}
}
