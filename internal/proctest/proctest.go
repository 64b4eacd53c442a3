// Package proctest helps tests check that the processes a command started
// are gone: it reads a PID a child process wrote and waits for that
// process to end.
package proctest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ReadPID returns the PID written in path (a number and a newline), 0
// while the file is absent or not completely written.
func ReadPID(t testing.TB, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// WaitGone fails the test unless process pid has ended (a zombie waiting
// to be reaped counts as ended) within five seconds: the signal that ends
// it may be sent just before the caller looks, and dying takes a moment.
// A process still running is killed, so that it does not outlive the test.
func WaitGone(t testing.TB, pid int) {
	t.Helper()
	for range 250 {
		if !Alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("process %d (%q) still runs after the trainer was stopped", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// Alive reports whether pid runs: it exists and is not a zombie.
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z' && b[i+2] != 'X'
}
