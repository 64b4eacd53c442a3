//go:build unix

package embeddings

import (
	"os"
	"syscall"
)

// mapFile maps size bytes of f read-only, or returns nil when it cannot
// (the caller then reads the file).
func mapFile(f *os.File, size int64) (data []byte, unmap func() error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	syscall.Madvise(b, syscall.MADV_SEQUENTIAL)
	return b, func() error { return syscall.Munmap(b) }
}
