package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDoctor(t *testing.T) {
	out := asvp(t, "doctor")
	for _, want := range []string{"onnx runtime", "version 1.24.3", "backbone mobilenet_v2-nsfwjs", "fashion-mnist:train"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	// Without the library: non-zero exit, and the fix is named.
	cmd := asvpCmd("doctor")
	cmd.Env = append(cmd.Env, "ASVP_ORT_LIB="+filepath.Join(t.TempDir(), "libonnxruntime.so.1"))
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("doctor without the library: err %v, want exit 1\n%s", err, b)
	}
	if !strings.Contains(string(b), "FAIL onnx runtime") || !strings.Contains(string(b), "make setup") {
		t.Errorf("doctor without the library does not say what failed and how to fix it:\n%s", b)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"extract", "--data", "fashion-mnist:test"}, 2, "--cache"},
		{[]string{"extract", "--data", "nope:x", "--cache", "/tmp/x.cache"}, 1, "nope"},
		{[]string{"extract", "--data", "fashion-mnist:test", "--cache", "/tmp/x.cache", "--shard", "3/2"}, 2, "--shard"},
		{[]string{"extract", "--data", "fashion-mnist:test", "--cache", "/tmp/x.cache", "--model", "resnet9000"}, 1, "resnet9000"},
		{[]string{"select", "--cache", "/tmp/x.cache"}, 2, "--out"},
		// Flags that do not exist or do not parse are usage errors in every command.
		{[]string{"extract", "--dat", "fashion-mnist:test"}, 2, "-dat"},
		{[]string{"simulate", "--budget", "abc"}, 2, "-budget"},
		{[]string{"finetune", "--epochs=-x"}, 2, "-epochs"},
		{[]string{"models", "ls", "--jsn"}, 2, "-jsn"},
	} {
		cmd := asvpCmd(tc.args...)
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("asvp %v: err %v, output %q; want exit %d mentioning %q", tc.args, err, b, tc.code, tc.want)
		}
		if strings.HasSuffix(strings.TrimSpace(string(b)), ": usage") {
			t.Errorf("asvp %v: message ends in the exit-code marker: %q", tc.args, b)
		}
	}
}

// TestMissingCacheNotCreated checks that commands which read an extracted
// cache refuse a path that does not exist and leave no file behind.
func TestMissingCacheNotCreated(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"select", "--budget", "2", "--out", filepath.Join(dir, "picks.csv")},
		{"finetune", "--data", "fashion-mnist:test", "--labeled", filepath.Join(dir, "l.csv")},
		{"simulate", "--pool", "fashion-mnist:test", "--test", "fashion-mnist:test", "--out", filepath.Join(dir, "sim")},
		{"probe"},
	} {
		path := filepath.Join(dir, "typo.cache")
		cmd := asvpCmd(append(args, "--cache", path)...)
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "typo.cache does not exist") {
			t.Errorf("asvp %s on a missing cache: err %v, output %q; want exit 1 saying it does not exist", args[0], err, b)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("asvp %s left %s behind (stat: %v)", args[0], path, err)
		}
	}
}
