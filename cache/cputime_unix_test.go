//go:build unix

package cache

import (
	"syscall"
	"time"
)

// cpuTime returns the user plus system CPU time this process has used, or
// zero where it cannot be read.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
