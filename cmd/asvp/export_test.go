package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportErrors(t *testing.T) {
	c := alignFixture(t)
	dir := t.TempDir()
	labeled, _ := fixtureLabels(t, c, 40)
	lpNet := filepath.Join(dir, "lp.bin")
	ftJSON(t, "--cache", c, "--data", fixPool, "--labeled", labeled, "--method", "lp", "--epochs", "2", "--save", lpNet)
	// LP writes no generation: the set is named.
	exportNet(t, "--cache", c, "--data", fixPool, "--net", lpNet, "--out", filepath.Join(dir, "lp.onnx"))

	garbage := filepath.Join(dir, "garbage.bin")
	if err := os.WriteFile(garbage, []byte("asvp-finetune\nbroken"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x.onnx")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no net", []string{"--cache", c, "--out", out}, true, "required"},
		{"no cache", []string{"--net", lpNet, "--out", out}, true, "required"},
		{"garbage net", []string{"--cache", c, "--data", fixPool, "--net", garbage, "--out", out}, false, "not a valid saved fine-tune"},
		{"lp net, set not named", []string{"--cache", c, "--net", lpNet, "--out", out}, true, "--data"},
		{"no such net", []string{"--cache", c, "--data", fixPool, "--net", filepath.Join(dir, "nope.bin"), "--out", out}, false, "--net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runExport(tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, errUsage) != tt.usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q (usage %v), want one containing %q (usage %v)", err, errors.Is(err, errUsage), tt.want, tt.usage)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a failed export wrote its output")
			}
		})
	}
}
