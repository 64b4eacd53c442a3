package embeddings

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/zeebo/xxh3"

	"github.com/asvp-dev/asvp/internal/half"
)

// refHash computes Hash as its doc comment defines it, one chunk after
// another on one goroutine.
func refHash(b []byte) string {
	var digests []byte
	for lo := 0; lo < len(b) || lo == 0; lo += hashChunk {
		d := xxh3.Hash128(b[lo:min(lo+hashChunk, len(b))]).Bytes()
		digests = append(digests, d[:]...)
	}
	sum := xxh3.Hash128(binary.LittleEndian.AppendUint64(digests, uint64(len(b)))).Bytes()
	return "xxh3:" + hex.EncodeToString(sum[:])
}

func TestHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	for _, n := range []int{0, 1, 100, hashChunk - 1, hashChunk, hashChunk + 1, 3*hashChunk + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			want := refHash(b)
			if got := Hash(b); got != want {
				t.Fatalf("Hash = %s, want %s", got, want)
			}
			// The streaming Hasher agrees, however the bytes are cut.
			h := NewHasher()
			for rest := b; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(3*hashChunk/2))
				h.Write(rest[:k])
				rest = rest[k:]
			}
			if got := h.Sum(); got != want {
				t.Fatalf("Hasher.Sum = %s, want %s", got, want)
			}
			if prev, dup := seen[want]; dup {
				t.Fatalf("%d bytes hash like %d bytes", n, prev)
			}
			seen[want] = n
			if n > 0 {
				b[n-1]++ // one changed byte in the last chunk changes the hash
				if Hash(b) == want {
					t.Fatal("changing the last byte kept the hash")
				}
			}
		})
	}
}

func TestNonFinite(t *testing.T) {
	bad32 := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	fine := []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1}
	for _, size := range []int{4, 2} {
		pad := 0 // the values' address, modulo 8
		enc := func(vals []float32) []byte {
			// Memory that starts at a multiple of 8, so that pad sets the
			// values' alignment (Go may place a small slice anywhere).
			words := make([]uint64, 1+len(vals))
			b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), 8*len(words))[:pad]
			for _, v := range vals {
				if size == 2 {
					b = binary.LittleEndian.AppendUint16(b, half.FromFloat32(v))
				} else {
					b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
				}
			}
			return b[pad:]
		}
		for n := 1; n <= 40; n++ {
			pad = n % 8
			vals := make([]float32, n)
			for i := range vals {
				vals[i] = fine[i%len(fine)]
				if size == 2 && math.Abs(float64(vals[i])) > 65504 {
					vals[i] = 65504 // the largest finite float16
				}
			}
			if got := nonFinite(enc(vals), size); got != -1 {
				t.Errorf("size %d, %d finite values: %d, want -1", size, n, got)
			}
			for p := range n {
				for _, bad := range bad32 {
					for _, later := range []bool{false, true} {
						v := append([]float32(nil), vals...)
						v[p] = bad
						if later && p+1 < n {
							v[n-1] = bad // a later one must not hide the first
						}
						if got := nonFinite(enc(v), size); got != p {
							t.Errorf("size %d, %d values at %d mod 8, %v at %d (another at the end: %v): %d", size, n, pad, bad, p, later, got)
						}
					}
				}
			}
		}
	}
}

// TestScanAcrossChunks puts a NaN whose bytes straddle a hash chunk's end
// (a payload offset that is not a multiple of the value size) and another
// in a later chunk: scan names the first, and hashes as Hash does.
func TestScanAcrossChunks(t *testing.T) {
	for _, size := range []int{4, 2} {
		const offset = 3
		data := make([]byte, offset+size*((2*hashChunk+100)/size))
		k := (hashChunk - offset) / size // value k starts before the boundary, ends after it
		if start := offset + size*k; !(start < hashChunk && start+size > hashChunk) {
			t.Fatalf("value %d at %d does not straddle %d", k, start, hashChunk)
		}
		nan := []byte{0x00, 0x00, 0xc0, 0x7f}
		if size == 2 {
			nan = []byte{0x00, 0x7e}
		}
		copy(data[offset+size*(k+hashChunk/size):], nan) // a later one, in the third chunk
		if hash, first, _ := scan(data, offset, size); first != k+hashChunk/size || hash != Hash(data) {
			t.Fatalf("size %d, one NaN: first %d, want %d; hash %s, want %s", size, first, k+hashChunk/size, hash, Hash(data))
		}
		copy(data[offset+size*k:], nan)
		if _, first, _ := scan(data, offset, size); first != k {
			t.Fatalf("size %d: first %d, want %d", size, first, k)
		}
	}
}

// TestReadIDsManyProbes finds the repeat of an early ID among 200,000
// that differ only in their digits.
func TestReadIDsManyProbes(t *testing.T) {
	var b strings.Builder
	const n = 200_000
	for i := range n {
		fmt.Fprintf(&b, "sample-%d\n", i)
	}
	b.WriteString("sample-17\n")
	p, _ := writeFiles(t, nil, b.String())
	_, _, err := ReadIDs(p + ".ids.txt")
	var re *RowError
	if err == nil || !strings.Contains(err.Error(), `id "sample-17" repeats line 18`) || !errors.As(err, &re) || re.Row != n+1 {
		t.Fatalf("err %v, want the repeat on line %d", err, n+1)
	}
}

func TestFirstRepeat(t *testing.T) {
	many := func(edit func(ids []string)) []string {
		ids := make([]string, 10_000)
		for i := range ids {
			ids[i] = fmt.Sprintf("sample-%d", i)
		}
		edit(ids)
		return ids
	}
	for _, tc := range []struct {
		name           string
		ids            []string
		later, earlier int
	}{
		{"none", many(func([]string) {}), -1, -1},
		{"short", []string{"x", "y", "x"}, 2, 0},
		{"the first by line, not by hash", many(func(ids []string) {
			ids[7000] = ids[17]
			ids[3000] = ids[2999]
			ids[9000] = ids[2999]
		}), 3000, 2999},
		{"three alike", many(func(ids []string) {
			ids[50] = ids[10]
			ids[40] = ids[10]
		}), 40, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if later, earlier := firstRepeat(tc.ids); later != tc.later || earlier != tc.earlier {
				t.Fatalf("firstRepeat = %d, %d; want %d, %d", later, earlier, tc.later, tc.earlier)
			}
		})
	}
}
