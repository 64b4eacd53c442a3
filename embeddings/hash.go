package embeddings

import (
	"encoding/binary"
	"encoding/hex"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"
)

// HashPrefix starts every content hash this package writes.
const HashPrefix = "xxh3:"

// hashChunk is the size of the pieces a content hash is computed over:
// large enough that combining their digests costs little, small enough to
// stay in a core's cache between hashing a piece and checking its values.
const hashChunk = 1 << 20

// Hash returns the content hash asvp keys an imported file by: the
// XXH3-128 digest of each 1 MiB chunk of b, then the XXH3-128 digest of
// those digests (16 bytes each, big-endian) followed by len(b) as 8
// little-endian bytes, written as HashPrefix and 32 hex digits. The chunks
// are hashed on every core, so hashing a file costs about what reading it
// does (SHA-256, at 1.5 GB/s on one core here, took ten times as long as a
// read of a page-cached file). It tells a changed file from the same one;
// it is not a cryptographic hash and says nothing about tampering.
func Hash(b []byte) string {
	digests := make([]byte, 16*chunks(len(b)))
	eachChunk(len(b), func(i, lo, hi int) { putDigest(digests, i, b[lo:hi]) })
	return finishHash(digests, int64(len(b)))
}

// chunks returns the number of hash chunks of n bytes (1 for none).
func chunks(n int) int { return max(1, (n+hashChunk-1)/hashChunk) }

// putDigest stores the digest of chunk i, b, in digests.
func putDigest(digests []byte, i int, b []byte) {
	d := xxh3.Hash128(b).Bytes()
	copy(digests[16*i:], d[:])
}

// finishHash combines chunk digests into the content hash of n bytes.
func finishHash(digests []byte, n int64) string {
	sum := xxh3.Hash128(binary.LittleEndian.AppendUint64(digests, uint64(n))).Bytes()
	return HashPrefix + hex.EncodeToString(sum[:])
}

// eachChunk calls fn for every hash chunk [lo, hi) of n bytes, chunk i
// starting at i*hashChunk, on GOMAXPROCS goroutines, and returns when all
// calls have. Chunks go out in order, so the first ones finish first.
func eachChunk(n int, fn func(i, lo, hi int)) {
	total := chunks(n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), total) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				lo := i * hashChunk
				fn(i, lo, min(lo+hashChunk, n))
			}
		})
	}
	wg.Wait()
}

// Hasher computes Hash of a stream: it equals Hash of the bytes written.
type Hasher struct {
	buf     []byte
	digests []byte
	n       int64
}

// NewHasher returns an empty Hasher.
func NewHasher() *Hasher { return &Hasher{buf: make([]byte, 0, hashChunk)} }

// Write adds p to the hashed bytes; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	h.n += int64(n)
	for len(p) > 0 {
		k := min(len(p), hashChunk-len(h.buf))
		h.buf = append(h.buf, p[:k]...)
		p = p[k:]
		if len(h.buf) == hashChunk {
			h.flush()
		}
	}
	return n, nil
}

func (h *Hasher) flush() {
	d := xxh3.Hash128(h.buf).Bytes()
	h.digests = append(h.digests, d[:]...)
	h.buf = h.buf[:0]
}

// Sum returns the content hash of the bytes written so far.
func (h *Hasher) Sum() string {
	digests := h.digests
	if len(h.buf) > 0 || h.n == 0 {
		d := xxh3.Hash128(h.buf).Bytes()
		digests = append(digests[:len(digests):len(digests)], d[:]...)
	}
	return finishHash(digests, h.n)
}
