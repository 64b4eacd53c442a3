package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExtractShardsMerge checks the scale-out contract: two shard files
// merged equal one extraction of the whole, bit for bit, and verify passes.
func TestExtractShardsMerge(t *testing.T) {
	dir := t.TempDir()
	args := func(c string, extra ...string) []string {
		return append([]string{"extract", "--data", "fashion-mnist:test", "--limit", "301", "--cache", c, "--quiet"}, extra...)
	}
	whole := filepath.Join(dir, "whole.cache")
	asvp(t, args(whole)...)
	s0, s1 := filepath.Join(dir, "s0.cache"), filepath.Join(dir, "s1.cache")
	asvp(t, args(s0, "--shard", "0/2")...)
	asvp(t, args(s1, "--shard", "1/2")...)
	merged := filepath.Join(dir, "merged.cache")
	asvp(t, "cache", "merge", "--out", merged, s0, s1)
	asvp(t, "cache", "verify", "--cache", merged)
	sameCache(t, whole, merged)
	sameCache(t, merged, whole)
}

// TestExtractUserModel runs a user's ONNX file described by card flags: the
// installed backbone given as a file with the card it has in the registry
// lands in the same feature set (same model bytes, same preprocessing), so
// nothing is extracted twice; a card that does not fit is refused.
func TestExtractUserModel(t *testing.T) {
	c := filepath.Join(t.TempDir(), "c.cache")
	asvp(t, "extract", "--data", "fashion-mnist:test", "--limit", "64", "--cache", c, "--quiet")
	model, _ := filepath.Abs("../../third_party/models/mobilenet_v2-nsfwjs.onnx")
	card := []string{"--model", model, "--input-size", "96", "--layout", "NHWC", "--scale", "0.00392156862745098",
		"--mean", "0,0,0", "--std", "1,1,1", "--resize", "stretch", "--output", "pool_blocks_10_13_16"}
	out := asvp(t, append([]string{"extract", "--data", "fashion-mnist:test", "--limit", "64", "--cache", c, "--quiet"}, card...)...)
	if !strings.Contains(string(out), `"already_cached": 64`) || !strings.Contains(string(out), `"extracted": 0`) {
		t.Errorf("the registry model given as a file with its own card extracted again:\n%s", out)
	}
	bad := append([]string{"extract", "--data", "fashion-mnist:test", "--limit", "8", "--cache", c, "--quiet"}, card...)
	bad = append(bad, "--layout", "NCHW")
	if _, stderr, err := asvpRun(bad...); err == nil || !strings.Contains(stderr, "does not fit") {
		t.Errorf("NCHW card on an NHWC model: err %v, stderr %q", err, stderr)
	}
}
