package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/models/nn"
)

func TestExportErrors(t *testing.T) {
	c := alignFixture(t)
	dir := t.TempDir()
	labeled, _ := fixtureLabels(t, c, 40)
	netPath := filepath.Join(dir, "net.bin")
	ftJSON(t, "--cache", c, "--data", fixPool, "--labeled", labeled, "--method", "lp", "--epochs", "2", "--save", netPath)
	deploy := filepath.Join(dir, "deploy.onnx")
	exportNet(t, "--cache", c, "--net", netPath, "--out", deploy)

	// A net that no generation of the cache was written with.
	unknownNet := filepath.Join(dir, "other.bin")
	var buf bytes.Buffer
	if err := nn.NewNet(576, 8, 10, 9).Save(&buf); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.bin")
	for p, b := range map[string][]byte{unknownNet: buf.Bytes(), garbage: []byte("asvp-nn\nbroken")} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "x.onnx")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no net", []string{"--out", out}, true, "required"},
		{"garbage net", []string{"--net", garbage, "--out", out, "--output", "pool_final"}, false, "not a valid saved network"},
		{"no output known", []string{"--net", unknownNet, "--out", out}, true, "--output"},
		{"net not in cache", []string{"--cache", c, "--net", unknownNet, "--out", out}, true, "no generation written with net"},
		{"other backbone", []string{"--cache", c, "--net", netPath, "--model", deploy, "--out", out}, false, "was trained on features of model"},
		{"other output", []string{"--cache", c, "--net", netPath, "--output", "pool_final", "--out", out}, true, "trained on output pool_blocks_10_13_16"},
		{"dimension mismatch", []string{"--net", netPath, "--output", "pool_final", "--out", out}, false, "the net takes 576"},
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
