package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	bolt "go.etcd.io/bbolt"
)

// TestCacheSubcommandHelp checks that each `asvp cache SUB -h` describes
// SUB, not the cache command as a whole.
func TestCacheSubcommandHelp(t *testing.T) {
	const parent = "inspect, verify, export and merge feature caches"
	cases := []struct {
		sub  string
		want []string // phrases of the subcommand's own usage and summary
	}{
		{"ls", []string{"usage: asvp cache ls --cache FILE", "list the feature sets", "-json"}},
		{"verify", []string{"usage: asvp cache verify --cache FILE", "exit status 1 on any problem"}},
		{"export", []string{"usage: asvp cache export --cache FILE [--set KEY | --data SPEC", "write one generation's features", "FILE.ids.txt", "-gen"}},
		{"errors", []string{"usage: asvp cache errors --cache FILE [--data SPEC]", "extraction failed", "-output"}},
		{"merge", []string{"usage: asvp cache merge --out FILE IN1", "join shard files"}},
	}
	for _, c := range cases {
		t.Run(c.sub, func(t *testing.T) {
			_, stderr, err := runCacheCmd(c.sub, "-h")
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("-h: %v, want flag.ErrHelp", err)
			}
			if strings.Contains(stderr, parent) {
				t.Errorf("-h shows the cache command's summary:\n%s", stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("-h does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
	out, _, err := runCacheCmd("help")
	if err != nil || !strings.Contains(out, "errors ") || !strings.Contains(out, "list the samples whose extraction failed") {
		t.Errorf("cache help: %v\n%s", err, out)
	}
}

// addGen adds a generation of dimension dim to set key of the cache at
// path, sample k (of total) being (k, -k, ...) + base; done marks it
// complete as finetune and align do.
func addGen(t *testing.T, path, key string, dim, total int, base float32, prov map[string]string, done bool) int {
	t.Helper()
	db, err := cache.Open(path, &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.Set(key)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := s.AddGeneration(cache.GenInfo{Dim: dim, Source: "adapter", Provenance: prov})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var vecs []float32
	for k := range total {
		ids = append(ids, fmt.Sprintf("s%03d", k))
		for j := range dim {
			vecs = append(vecs, base+float32(k*(1-2*(j%2))))
		}
	}
	if err := s.PutBatch(gen, ids, vecs); err != nil {
		t.Fatal(err)
	}
	if done {
		if err := s.MarkComplete(gen, total); err != nil {
			t.Fatal(err)
		}
	}
	return gen
}

// TestCacheSimulationGenerations: export without --gen takes the
// generation select would (the newest complete one), never one a
// simulation wrote; ls marks simulation generations in text and JSON.
func TestCacheSimulationGenerations(t *testing.T) {
	sim := map[string]string{cache.ProvenanceSimulation: "demo-sim", "pipeline": "asvp", "round": "1"}
	cases := []struct {
		name    string
		gens    func(t *testing.T, path, key string) int // adds generations after 0; returns the simulation's
		wantGen int
		wantDim int
	}{
		{"only a simulation generation", func(t *testing.T, path, key string) int {
			return addGen(t, path, key, 3, 10, 100, sim, false)
		}, 0, 4},
		{"finetuned, then a simulation", func(t *testing.T, path, key string) int {
			addGen(t, path, key, 2, 10, 50, map[string]string{"method": "ft"}, true)
			return addGen(t, path, key, 3, 10, 100, sim, false)
		}, 1, 2},
		{"an interrupted finetune, then a simulation", func(t *testing.T, path, key string) int {
			addGen(t, path, key, 2, 10, 50, map[string]string{"method": "ft"}, false)
			return addGen(t, path, key, 3, 10, 100, sim, false)
		}, 0, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "c.asvp")
			key := makeShard(t, path, 0, 1, 10)
			simGen := c.gens(t, path, key)
			csvPath := filepath.Join(dir, "f.csv")
			out, _, err := runCacheCmd("export", "--cache", path, "--set", key[:12], "--out", csvPath)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("generation %d to", c.wantGen); !strings.Contains(out, want) {
				t.Errorf("export says %q, want %q", out, want)
			}
			data, _ := os.ReadFile(csvPath)
			header, _, _ := strings.Cut(string(data), "\n")
			if got := strings.Count(header, ",f"); got != c.wantDim {
				t.Errorf("exported %d columns (%q), want generation %d's %d", got, header, c.wantGen, c.wantDim)
			}

			out, _, err = runCacheCmd("ls", "--cache", path)
			if err != nil {
				t.Fatal(err)
			}
			rows := strings.Split(strings.TrimSpace(out), "\n")[1:]
			if len(rows) != simGen+1 {
				t.Fatalf("ls shows %d generations, want %d:\n%s", len(rows), simGen+1, out)
			}
			for _, row := range rows {
				// SET MODEL OUTPUT DATASET SHARD GEN SOURCE ...
				isSim := strings.Fields(row)[5] == fmt.Sprint(simGen)
				if marked := strings.Contains(row, " adapter (simulation demo-sim) "); marked != isSim || !isSim && strings.Contains(row, "simulation") {
					t.Errorf("ls row %q: simulation generation %v, marked %v", row, isSim, marked)
				}
			}
			out, _, err = runCacheCmd("ls", "--cache", path, "--json")
			if err != nil {
				t.Fatal(err)
			}
			var listing []struct {
				Generations []struct {
					N, Dim     int
					Simulation string
				}
			}
			if err := json.Unmarshal([]byte(out), &listing); err != nil {
				t.Fatal(err)
			}
			for _, g := range listing[0].Generations {
				if want := map[bool]string{true: "demo-sim"}[g.N == simGen]; g.Simulation != want {
					t.Errorf("ls --json generation %d: simulation %q, want %q", g.N, g.Simulation, want)
				}
			}
		})
	}
}

// TestCacheErrorsCommand lists recorded extraction errors through
// `asvp cache errors`, in text and JSON, for the set --data and --output
// pick and the generation --gen picks.
func TestCacheErrorsCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.asvp")
	db, err := cache.Open(path, &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	base := cache.SetInfo{Model: "tiny", ModelSHA256: strings.Repeat("a", 64), CardHash: "c1", Dim: 4}
	var sets []*cache.Set
	for _, in := range []struct{ data, output string }{{"folder:/a", "pool"}, {"folder:/a", "logits"}, {"folder:/b", "pool"}} {
		info := base
		info.Dataset, info.DatasetID, info.Output = in.data, in.data, in.output
		s, err := db.EnsureSet(info)
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
	}
	errsA := []cache.SampleError{
		{ID: "cats/zero.jpg", Path: "/a/cats/zero.jpg", Reason: "empty file"},
		{ID: "dogs/odd\tname.png", Path: "/a/dogs/odd\tname.png", Reason: "truncated image:\nline two"},
	}
	if err := sets[0].PutErrors(0, errsA); err != nil {
		t.Fatal(err)
	}
	if err := sets[1].PutErrors(0, errsA[:1]); err != nil {
		t.Fatal(err)
	}
	gen, err := sets[0].AddGeneration(cache.GenInfo{Dim: 2, Source: "onnx"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sets[0].PutErrors(gen, []cache.SampleError{{ID: "x.png", Reason: "gone"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cases := []struct {
		name  string
		args  []string
		want  []string // lines
		usage bool     // a usage error
		err   string   // an error containing this
	}{
		{"set and generation 0", []string{"--data", "folder:/a", "--output", "pool"},
			[]string{"cats/zero.jpg\t/a/cats/zero.jpg\tempty file", "dogs/odd name.png\t/a/dogs/odd name.png\ttruncated image: line two"}, false, ""},
		{"other output", []string{"--data", "folder:/a", "--output", "logits"},
			[]string{"cats/zero.jpg\t/a/cats/zero.jpg\tempty file"}, false, ""},
		{"later generation", []string{"--data", "folder:/a", "--output", "pool", "--gen", "1"},
			[]string{"x.png\t\tgone"}, false, ""},
		{"no errors", []string{"--data", "folder:/b"}, nil, false, ""},
		{"two datasets, no --data", nil, nil, true, "--data"},
		{"two outputs, no --output", []string{"--data", "folder:/a"}, nil, true, "--output"},
		{"unknown dataset", []string{"--data", "folder:/c"}, nil, false, "folder:/c"},
		{"missing generation", []string{"--data", "folder:/b", "--gen", "7"}, nil, false, "generation 7"},
		{"negative generation", []string{"--data", "folder:/b", "--gen", "-1"}, nil, true, "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := runCacheCmd(append([]string{"errors", "--cache", path}, c.args...)...)
			if c.err != "" {
				if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want usage=%v containing %q", err, c.usage, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			if out != "" {
				lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			}
			if !slices.Equal(lines, c.want) {
				t.Errorf("lines %q, want %q", lines, c.want)
			}
		})
	}

	out, _, err := runCacheCmd("errors", "--cache", path, "--data", "folder:/a", "--output", "pool", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []cache.SampleError
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !slices.Equal(got, errsA) {
		t.Errorf("--json %+v, want %+v (fields kept as stored)", got, errsA)
	}
	out, _, err = runCacheCmd("errors", "--cache", path, "--data", "folder:/b", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("--json without errors: %v %q, want []", err, out)
	}
}

// TestCacheErrorsAfterExtract runs a real extraction over a folder with
// broken images, then finds them with `asvp cache errors`.
func TestCacheErrorsAfterExtract(t *testing.T) {
	good, bad, why := hostileImages(t)
	root := filepath.Join(t.TempDir(), "data")
	writeTree(t, root, map[string][]byte{"cats/chelsea.png": good["cats/chelsea.png"], "dogs/rocket.jpg": good["dogs/rocket.jpg"]})
	broken := []string{"cats/truncated.jpg", "cats/zero.jpg", "dogs/text.jpg"}
	for _, id := range broken {
		writeTree(t, root, map[string][]byte{id: bad[id]})
	}
	c := filepath.Join(t.TempDir(), "c.asvp")
	spec := "folder:" + root
	asvp(t, "extract", "--data", spec, "--cache", c, "--batch", "4", "--quiet")

	out := asvp(t, "cache", "errors", "--cache", c)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(broken) {
		t.Fatalf("cache errors printed %d lines, want %d:\n%s", len(lines), len(broken), out)
	}
	for i, id := range broken { // in ID order
		f := strings.Split(lines[i], "\t")
		if len(f) != 3 || f[0] != id || f[1] != filepath.Join(root, filepath.FromSlash(id)) || !strings.Contains(f[2], why[id]) {
			t.Errorf("line %q, want %s, its path and a reason saying %q", lines[i], id, why[id])
		}
	}
	var got []cache.SampleError
	if err := json.Unmarshal(asvp(t, "cache", "errors", "--cache", c, "--data", spec, "--json"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(broken) || got[0].ID != broken[0] || got[0].Path != filepath.Join(root, "cats", "truncated.jpg") {
		t.Errorf("--json %+v", got)
	}
}

// boltWalkPanics reports whether walking every bucket, key and value of
// the bbolt file at path, as a plain bbolt program would, panics (a read
// outside the file counts: the walk asks for a panic instead of a crash).
func boltWalkPanics(path string) (panicked bool) {
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true})
	if err != nil {
		return false
	}
	defer func() {
		if recover() != nil {
			panicked = true
		}
		// A panic may leave bbolt's locks held: leak the handle rather than
		// risk Close waiting forever.
		if !panicked {
			db.Close()
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var walk func(b *bolt.Bucket, depth int)
	walk = func(b *bolt.Bucket, depth int) {
		if depth > 8 {
			return
		}
		var sum byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			for _, x := range k {
				sum ^= x
			}
			if v == nil {
				if child := b.Bucket(k); child != nil {
					walk(child, depth+1)
				}
			} else if len(v) > 0 {
				sum ^= v[0] ^ v[len(v)-1]
			}
		}
	}
	_ = db.View(func(tx *bolt.Tx) error {
		walk(tx.Cursor().Bucket(), 0)
		return nil
	})
	return false
}

// TestCacheVerifyDamagedStructure damages a page header's element count,
// as the walkthrough did, at a place where plain bbolt panics, and runs the
// asvp binary on it: verify exits 1 with PROBLEM lines, and no command
// prints a Go stack trace.
func TestCacheVerifyDamagedStructure(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.asvp")
	key := makeShard(t, orig, 0, 1, 400)
	b, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	if os.Getpagesize() != pageSize {
		t.Skipf("OS page size %d: the offsets assume 4 KiB", os.Getpagesize())
	}
	damaged := ""
	for page := 2; page < len(b)/pageSize && damaged == ""; page++ {
		if binary.LittleEndian.Uint16(b[page*pageSize+8:]) != 0x02 { // damage leaf pages only
			continue
		}
		for bit := range 16 {
			d := bytes.Clone(b)
			d[page*pageSize+10+bit/8] ^= 1 << (bit % 8) // the count: bytes 10..11 of the header
			p := filepath.Join(dir, fmt.Sprintf("page%d-bit%d.asvp", page, bit))
			if err := os.WriteFile(p, d, 0o644); err != nil {
				t.Fatal(err)
			}
			if !boltWalkPanics(p) {
				continue
			}
			db, err := cache.Open(p, &cache.Options{ReadOnly: true})
			if err != nil {
				continue
			}
			db.Close()
			damaged = p
			break
		}
	}
	if damaged == "" {
		t.Fatal("no count flip makes bbolt panic on a cache that still opens")
	}
	t.Logf("damage: %s", filepath.Base(damaged))

	noTrace := func(what, stderr string) {
		t.Helper()
		for _, s := range []string{"panic", "goroutine ", ".go:"} {
			if strings.Contains(stderr, s) {
				t.Errorf("%s printed %q:\n%s", what, s, stderr)
			}
		}
	}

	stdout, stderr, err := asvpRun("cache", "verify", "--cache", damaged)
	if code := exitCode(err); code != 1 || !bytes.Contains(stdout, []byte("PROBLEM")) {
		t.Errorf("verify: exit %d, want 1 with PROBLEM lines\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	noTrace("verify", stderr)
	stdout, stderr, err = asvpRun("cache", "verify", "--cache", damaged, "--json")
	var rep cache.Report
	if code := exitCode(err); code != 1 || json.Unmarshal(stdout, &rep) != nil || rep.OK() {
		t.Errorf("verify --json: exit %d, report %s", code, stdout)
	}
	noTrace("verify --json", stderr)

	for _, args := range [][]string{
		{"cache", "ls", "--cache", damaged},
		{"cache", "export", "--cache", damaged, "--set", key[:12], "--gen", "0", "--out", filepath.Join(dir, "f.csv")},
		{"cache", "errors", "--cache", damaged},
	} {
		_, stderr, err := asvpRun(args...)
		code := exitCode(err)
		if code != 0 && (code != 1 || !strings.Contains(stderr, damaged)) {
			t.Errorf("%v: exit %d, want 0, or 1 with an error naming the file\n%s", args[1:], code, stderr)
		}
		if code == 1 && strings.Contains(stderr, "corrupt data") && !strings.Contains(stderr, "asvp cache verify --cache "+damaged) {
			t.Errorf("%v: the error does not point at asvp cache verify:\n%s", args[1:], stderr)
		}
		noTrace(strings.Join(args[:2], " "), stderr)
	}
}
