package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/loop"
)

// TestProbeSet: probe --set KEY trains on the dataset of that set and
// measures its output, where --pool would have to be named (two labelled
// datasets); --set with --pool or --outputs is a usage error, and a key
// that names no set says so.
func TestProbeSet(t *testing.T) {
	root := t.TempDir()
	for _, ds := range []string{"a", "b"} {
		for k := range 10 {
			class := []string{"x", "y"}[k%2]
			dir := filepath.Join(root, ds, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			seed := k + 1
			if ds == "b" {
				seed += 100
			}
			writeImage(t, filepath.Join(dir, strconv.Itoa(k)+".png"), 24, seed)
		}
	}
	c := filepath.Join(root, "c.asvp")
	specA, specB := "folder:"+filepath.Join(root, "a"), "folder:"+filepath.Join(root, "b")
	extractJSON(t, "--data", specA, "--cache", c)
	rb := extractJSON(t, "--data", specB, "--cache", c)
	keyB := rb.Sets[0].Key

	if _, stderr, err := asvpRun("probe", "--cache", c, "--labels", "6"); err == nil {
		t.Fatalf("probe on two labelled datasets without naming the pool succeeded; stderr %s", stderr)
	}
	for _, prefix := range []string{keyB, keyB[:8]} {
		out := asvp(t, "probe", "--cache", c, "--set", prefix, "--labels", "6", "--json")
		var res []loop.ProbeResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("probe output is not JSON: %v\n%s", err, out)
		}
		if len(res) != 1 || res[0].Pool != specB || res[0].TestSet != specB || res[0].Output != rb.Sets[0].Output || res[0].Labels != 6 || res[0].Test != 4 {
			t.Fatalf("probe --set %s: %+v; want %s's set (output %s), 6 trained on and 4 tested", prefix, res, specB, rb.Sets[0].Output)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"with --pool", []string{"--set", keyB, "--pool", specB}, 2, "either --set"},
		{"with --outputs", []string{"--set", keyB, "--outputs", "x"}, 2, "either --set"},
		{"unknown key", []string{"--set", strings.Repeat("0", 12)}, 1, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := asvpRun(append([]string{"probe", "--cache", c}, tc.args...)...)
			if exitCode(err) != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d (%v), stderr %q; want exit %d saying %q", exitCode(err), err, stderr, tc.code, tc.want)
			}
		})
	}
}
