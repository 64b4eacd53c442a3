package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// testTmp is a folder for fixtures shared by several tests; removed at the end.
var testTmp string

// asvpBin is the asvp binary built once for this test run. Tests that need
// ONNX Runtime run it as a subprocess: the runtime allows one environment per
// process, and a subprocess can be killed like a user's run.
var asvpBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "asvp-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	asvpBin = filepath.Join(dir, "asvp")
	testTmp = dir
	build := exec.Command("go", "build", "-o", asvpBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build asvp:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// asvp runs the test binary with args and returns its stdout; it fails the
// test when the command fails.
func asvp(t testing.TB, args ...string) []byte {
	t.Helper()
	out, stderr, err := asvpRun(args...)
	if err != nil {
		t.Fatalf("asvp %v: %v\nstderr:\n%s", args, err, stderr)
	}
	return out
}

// asvpRun runs the test binary and returns stdout, stderr and the error.
// ASVP_HOME points at the checkout so the binary finds third_party/.
func asvpRun(args ...string) ([]byte, string, error) {
	cmd := asvpCmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

func asvpCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(asvpBin, args...)
	root, _ := filepath.Abs("../..")
	cmd.Env = append(os.Environ(), "ASVP_HOME="+root)
	return cmd
}

// exitCode is the exit status of a finished asvp subprocess: 0 for no
// error, -1 when it did not exit on its own (it could not start, or was
// killed).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
