package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
)

// makeShard writes shard i of n of a 4-dim set: sample k (k%n == i) has
// vector (k, k+0.5, -k, 1000+k).
func makeShard(t *testing.T, path string, i, n, total int) string {
	t.Helper()
	db, err := cache.Open(path, &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info := cache.SetInfo{Model: "tiny", ModelSHA256: strings.Repeat("a", 64), Output: "pool", CardHash: "c1",
		Dataset: "toy", DatasetID: "toy-1", Dim: 4}
	if n > 1 {
		info.Shard = fmt.Sprintf("%d/%d", i, n)
	}
	s, err := db.EnsureSet(info)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var vecs []float32
	for k := i; k < total; k += n {
		ids = append(ids, fmt.Sprintf("s%03d", k))
		vecs = append(vecs, float32(k), float32(k)+0.5, -float32(k), 1000+float32(k))
	}
	if err := s.PutBatchWithErrors(0, ids, vecs, []cache.SampleError{{ID: fmt.Sprintf("broken-%d", i), Reason: "bad image"}}); err != nil {
		t.Fatal(err)
	}
	return s.Key()
}

func runCacheCmd(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := runCache(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCacheCLI(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.asvp"), filepath.Join(dir, "b.asvp")
	key := makeShard(t, a, 0, 2, 10)
	makeShard(t, b, 1, 2, 10)
	merged := filepath.Join(dir, "merged.asvp")

	if out, _, err := runCacheCmd("merge", "--out", merged, a, b); err != nil || !strings.Contains(out, "merged 2 caches") {
		t.Fatalf("merge: %v %s", err, out)
	}
	if _, _, err := runCacheCmd("merge", "--out", merged, a); !errors.Is(err, errUsage) {
		t.Fatalf("merge onto an existing file: %v", err)
	}

	out, _, err := runCacheCmd("ls", "--cache", merged)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "SET") {
		t.Fatalf("ls table:\n%s", out)
	}
	fields := strings.Fields(lines[1])
	// SET MODEL OUTPUT DATASET SHARD GEN SOURCE DIM DTYPE SAMPLES ERRORS CREATED(date time)
	want := []string{key[:12], "tiny", "pool", "toy", "-", "0", "pretrained", "4", "float32", "10", "2"}
	if len(fields) != len(want)+2 || strings.Join(fields[:len(want)], " ") != strings.Join(want, " ") {
		t.Fatalf("ls row %q, want prefix %q", fields, want)
	}
	// Columns are aligned: every header word starts where its values start.
	if strings.Index(lines[0], "SAMPLES") != strings.Index(lines[1], " 10 ")+1 {
		t.Fatalf("table not aligned:\n%s", out)
	}

	out, _, err = runCacheCmd("ls", "--cache", merged, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var listing []struct {
		Key         string
		Shard       string
		Generations []struct {
			N, Dim, Samples, Errors int
		}
	}
	if err := json.Unmarshal([]byte(out), &listing); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, out)
	}
	if len(listing) != 1 || listing[0].Key != key || listing[0].Shard != "" || len(listing[0].Generations) != 1 ||
		listing[0].Generations[0].Samples != 10 || listing[0].Generations[0].Errors != 2 {
		t.Fatalf("ls --json = %+v", listing)
	}

	if out, _, err := runCacheCmd("verify", "--cache", merged); err != nil || !strings.Contains(out, "10 samples") || !strings.Contains(out, "ok") {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	// Export npy (+ IDs) and csv; check values against the construction rule.
	npy := filepath.Join(dir, "f.npy")
	if _, _, err := runCacheCmd("export", "--cache", merged, "--set", key[:10], "--format", "npy", "--out", npy); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(npy)
	ids, _ := os.ReadFile(npy + ".ids.txt")
	idList := strings.Split(strings.TrimSpace(string(ids)), "\n")
	if len(idList) != 10 || idList[0] != "s000" || idList[9] != "s009" {
		t.Fatalf("ids file %q", ids)
	}
	hl := int(binary.LittleEndian.Uint16(raw[8:10]))
	if !strings.Contains(string(raw[10:10+hl]), "'shape': (10, 4)") {
		t.Fatalf("npy header %q", raw[10:10+hl])
	}
	body := raw[10+hl:]
	for r := range 10 {
		k := float32(r)
		for c, w := range []float32{k, k + 0.5, -k, 1000 + k} {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(body[4*(4*r+c):])); got != w {
				t.Fatalf("npy [%d,%d] = %v, want %v", r, c, got, w)
			}
		}
	}
	csvPath := filepath.Join(dir, "f.csv")
	if _, _, err := runCacheCmd("export", "--cache", merged, "--set", key, "--gen", "0", "--out", csvPath); err != nil {
		t.Fatal(err)
	}
	csvData, _ := os.ReadFile(csvPath)
	csvLines := strings.Split(strings.TrimSpace(string(csvData)), "\n")
	if len(csvLines) != 11 || csvLines[0] != "id,f0,f1,f2,f3" || csvLines[4] != "s003,3,3.5,-3,1003" {
		t.Fatalf("csv:\n%s", csvData)
	}
	// Without --set, the cache's only feature set is exported, the same bytes.
	csvNoSet := filepath.Join(dir, "g.csv")
	if _, _, err := runCacheCmd("export", "--cache", merged, "--out", csvNoSet); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(csvNoSet); !bytes.Equal(b, csvData) {
		t.Fatalf("export without --set:\n%s\nwant\n%s", b, csvData)
	}
	if _, _, err := runCacheCmd("export", "--cache", merged, "--set", key, "--data", "x", "--out", csvNoSet); err == nil || !strings.Contains(err.Error(), "either --set") {
		t.Fatalf("export with --set and --data: %v", err)
	}

	// Corrupt one payload on disk: verify must fail and name the sample.
	file, _ := os.ReadFile(merged)
	pat := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1007))
	n := 0
	for i := bytes.Index(file, pat); i >= 0; {
		file[i+1] ^= 0x40
		n++
		j := bytes.Index(file[i+4:], pat)
		if j < 0 {
			break
		}
		i += 4 + j
	}
	if n == 0 {
		t.Fatal("payload not found")
	}
	os.WriteFile(merged, file, 0o644)
	out, _, err = runCacheCmd("verify", "--cache", merged)
	if err == nil || !strings.Contains(out, `"s007"`) || !strings.Contains(out, "checksum") {
		t.Fatalf("verify of a corrupt cache: %v\n%s", err, out)
	}
	t.Logf("verify: %v", err)
	// The count agrees with its noun: "1 problem", "2 problems".
	if m := regexp.MustCompile(`(\d+) (problems?) found`).FindStringSubmatch(err.Error()); m == nil || (m[1] == "1") != (m[2] == "problem") {
		t.Errorf("verify's verdict %q: want N problems, or 1 problem", err)
	}
}

func TestCacheCLIErrors(t *testing.T) {
	dir := t.TempDir()
	notCache := filepath.Join(dir, "x.txt")
	os.WriteFile(notCache, []byte("plain text, not a cache, long enough to look like something"), 0o644)
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no subcommand", nil, true, "subcommand"},
		{"unknown subcommand", []string{"frobnicate"}, true, "frobnicate"},
		{"ls without cache", []string{"ls"}, true, "--cache"},
		{"bad flag", []string{"ls", "--nope"}, true, "nope"},
		{"ls of non-cache", []string{"ls", "--cache", notCache}, false, "not an asvp feature cache"},
		{"ls of missing file", []string{"ls", "--cache", filepath.Join(dir, "none.asvp")}, false, "none.asvp"},
		{"export bad format", []string{"export", "--cache", notCache, "--set", "abcdefgh", "--format", "xls", "--out", "o"}, true, "xls"},
		{"export no extension", []string{"export", "--cache", notCache, "--set", "abcdefgh", "--out", "o"}, true, "--format"},
		{"merge no inputs", []string{"merge", "--out", filepath.Join(dir, "m.asvp")}, true, "IN1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCacheCmd(c.args...)
			if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v (usage %v), want usage=%v containing %q", err, errors.Is(err, errUsage), c.usage, c.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "m.asvp")); err == nil {
		t.Fatal("failed merge left a file")
	}
}
