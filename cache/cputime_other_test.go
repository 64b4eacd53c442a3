//go:build !unix

package cache

import "time"

// cpuTime returns zero: CPU time is only read on Unix.
func cpuTime() time.Duration { return 0 }
