package loop

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/internal/proctest"
)

// TestRunGroupStopsEverything runs real shell trainers that start a child
// (a sleep that outlives its parent unless the process group is stopped),
// record the child's PID, and then are cancelled, time out, ignore SIGTERM,
// exit leaving the child behind, or exit on their own; after runGroup
// returns, the child must be gone and the error must say what happened.
func TestRunGroupStopsEverything(t *testing.T) {
	const grace = 300 * time.Millisecond
	for _, tc := range []struct {
		name    string
		script  string // $P is the file the child's PID goes to
		timeout time.Duration
		cancel  bool
		want    []string // substrings of the error; nil for none
		ctxErr  error
	}{
		{name: "cancelled", script: `sleep 300 & echo $! > "$P"; wait`, cancel: true,
			want: []string{"trainer command stopped", "context canceled"}, ctxErr: context.Canceled},
		{name: "cancelled, SIGTERM ignored", script: `trap '' TERM; sleep 300 & echo $! > "$P"; wait; wait`, cancel: true,
			want: []string{"trainer command stopped"}, ctxErr: context.Canceled},
		{name: "timeout", script: `sleep 300 & echo $! > "$P"; wait`, timeout: time.Second,
			want: []string{"trainer command stopped", "past its timeout of 1s"}, ctxErr: context.DeadlineExceeded},
		{name: "exit 0 leaving a child", script: `sleep 300 & echo $! > "$P"; exit 0`},
		{name: "exit 3 leaving a child", script: `sleep 300 & echo $! > "$P"; exit 3`,
			want: []string{"trainer command failed", "exit status 3"}},
		{name: "exit 0", script: `sleep 0 & echo $! > "$P"; wait`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			t.Setenv("P", pidFile)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var out bytes.Buffer
			done := make(chan error, 1)
			go func() { done <- runGroup(ctx, tc.script, tc.timeout, grace, &out) }()
			var pid int
			var err error
			finished := false
			for pid == 0 { // the script writes its child's PID first thing
				select {
				case err = <-done:
					finished = true
				case <-time.After(20 * time.Millisecond):
				}
				if pid = proctest.ReadPID(t, pidFile); pid == 0 && finished {
					t.Fatalf("the trainer ended (%v) without recording its child", err)
				}
			}
			if tc.cancel {
				cancel()
			}
			if !finished {
				err = <-done
			}
			if tc.want == nil && err != nil {
				t.Fatalf("error %v, want none", err)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v, want one containing %q", err, w)
				}
			}
			if tc.want != nil && !errors.Is(err, ErrTrainer) {
				t.Fatalf("error %v does not wrap ErrTrainer", err)
			}
			if tc.ctxErr != nil && !errors.Is(err, tc.ctxErr) {
				t.Fatalf("error %v does not wrap %v", err, tc.ctxErr)
			}
			proctest.WaitGone(t, pid)
		})
	}
}
