package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	random := make([]byte, 3*4096+17)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	writeFile := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plainBolt := func(name string, fn func(tx *bolt.Tx) error) string {
		p := filepath.Join(dir, name)
		b, err := bolt.Open(p, 0o644, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Update(fn); err != nil {
			t.Fatal(err)
		}
		b.Close()
		return p
	}
	withMeta := func(name, magic, version string) string {
		return plainBolt(name, func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(bucketMeta)
			m.Put(keyMagic, []byte(magic))
			return m.Put(keyVersion, []byte(version))
		})
	}
	cases := []struct {
		name     string
		path     string
		readOnly bool
		want     error
	}{
		{"random bytes", writeFile("random.bin", random), false, ErrNotCache},
		{"random bytes read-only", writeFile("random2.bin", random), true, ErrNotCache},
		{"short text file", writeFile("notes.txt", []byte("hello, not a cache\n")), false, ErrNotCache},
		{"plain bbolt file", plainBolt("plain.db", func(tx *bolt.Tx) error {
			b, _ := tx.CreateBucket([]byte("users"))
			return b.Put([]byte("k"), []byte("v"))
		}), false, ErrNotCache},
		{"bbolt with other meta", withMeta("othermeta.db", "something else", "1"), false, ErrNotCache},
		{"newer version", withMeta("newer.db", Magic, strconv.Itoa(FormatVersion+1)), false, ErrVersion},
		{"newer version read-only", withMeta("newer2.db", Magic, strconv.Itoa(FormatVersion+1)), true, ErrVersion},
		{"garbage version", withMeta("garbage.db", Magic, "x"), false, ErrNotCache},
		{"missing file read-only", filepath.Join(dir, "absent.db"), true, os.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadFile(c.path)
			db, err := Open(c.path, &Options{ReadOnly: c.readOnly})
			if err == nil {
				db.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.path) {
				t.Fatalf("error %q, want %v naming the path", err, c.want)
			}
			after, _ := os.ReadFile(c.path)
			if !bytes.Equal(before, after) {
				t.Fatal("a rejected file was modified")
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	db := openTest(t, true)
	start := time.Now()
	_, err := Open(db.Path(), &Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another asvp process") || !strings.Contains(err.Error(), db.Path()) {
		t.Fatalf("second writer: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("lock timeout not honoured")
	}
}

func TestVerifyCatchesFlippedByte(t *testing.T) {
	db := openTest(t, false)
	path := db.Path()
	s, err := db.EnsureSet(testInfo("m", 16, ""))
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, 0, makeSamples(1, 20, 16), 20)
	// A vector with a distinctive pattern that appears nowhere else.
	marker := make([]float32, 16)
	for i := range marker {
		marker[i] = 1234.5 + float32(i)*0.25
	}
	if err := s.PutBatch(0, []string{"victim"}, marker); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(db); err != nil || !rep.OK() || rep.Samples != 21 || rep.Sets != 1 || rep.Generations != 1 {
		t.Fatalf("before corruption: %+v, %v", rep, err)
	}
	db.Close()

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pattern := make([]byte, 0, 64)
	for _, v := range marker {
		pattern = binary.LittleEndian.AppendUint32(pattern, math.Float32bits(v))
	}
	found := 0
	for off := 0; ; {
		i := bytes.Index(raw[off:], pattern)
		if i < 0 {
			break
		}
		raw[off+i+21] ^= 0x04 // one bit inside the payload, mid-vector
		found++
		off += i + len(pattern)
	}
	if found == 0 {
		t.Fatal("payload not found in the file")
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := Verify(db)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("problems %+v, want one", rep.Problems)
	}
	p := rep.Problems[0]
	if p.Set != s.Key() || p.Gen != 0 || p.ID != "victim" || !strings.Contains(p.Msg, "checksum") {
		t.Fatalf("problem %+v", p)
	}
	rs, _ := db.Set(s.Key())
	if _, err := rs.ReadMatrix(0); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "victim") {
		t.Fatalf("ReadMatrix of corrupt cache: %v", err)
	}
	if _, err := rs.ReadRows(0, []string{"victim"}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadRows of corrupt record: %v", err)
	}
}

func TestVerifyCatchesBadCount(t *testing.T) {
	tests := []struct {
		name      string
		rows, dim int
		count     int // stored in place of rows
	}{
		{"understated", 5, 3, 4},
		{"overstated", 5, 3, 9},
		{"zero", 5, 3, 0},
		// 1,100 x 1,024 takes the parallel path: rows past the count are
		// decoded after the workers stop, into a grown matrix.
		{"understated, parallel", 1100, 1024, 1000},
		{"overstated, parallel", 1100, 1024, 1500},
		{"absurd, parallel", 1100, 1024, 1 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, false)
			s, err := db.EnsureSet(testInfo("m", tc.dim, ""))
			if err != nil {
				t.Fatal(err)
			}
			ss := makeSamples(1, tc.rows, tc.dim)
			putAll(t, s, 0, ss, 100)
			// Damage the metadata behind the package's back.
			err = db.bolt.Update(func(tx *bolt.Tx) error {
				gb := tx.Bucket(bucketSets).Bucket([]byte(s.Key())).Bucket(keyGens).Bucket(genKey(0))
				return gb.Put(keyCount, binary.AppendUvarint(nil, uint64(tc.count)))
			})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(db)
			want := fmt.Sprintf("holds %d vectors, metadata says %d", tc.rows, tc.count)
			if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Msg, want) {
				t.Fatalf("report %+v, %v; want one problem %q", rep, err, want)
			}
			// ReadMatrix still returns every stored row, right.
			m, err := s.ReadMatrix(0)
			if err != nil {
				t.Fatalf("ReadMatrix: %v", err)
			}
			checkMatrix(t, m, sortedByID(ss), DTypeFloat32)
		})
	}
}

// The disk-full test re-executes the test binary with a small file-size
// limit (RLIMIT_FSIZE) and SIGXFSZ ignored, so writes fail with EFBIG.
const diskFullEnv = "ASVP_CACHE_DISKFULL_CHILD"

func TestDiskFull(t *testing.T) {
	if path := os.Getenv(diskFullEnv); path != "" {
		diskFullChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "full.asvp")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFull$", "-test.v")
	cmd.Env = append(os.Environ(), diskFullEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CHILD-OK") {
		t.Fatalf("child did not reach the end:\n%s", out)
	}
	// Without the limit the cache opens, verifies, and holds exactly the
	// batches that were committed before the disk filled.
	db, err := Open(path, nil)
	if err != nil {
		t.Fatalf("reopening after disk full: %v", err)
	}
	defer db.Close()
	rep, err := Verify(db)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after disk full: %+v, %v", rep, err)
	}
	s, err := db.EnsureSet(testInfo("m", 256, ""))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Count(0)
	if n == 0 || n%100 != 0 {
		t.Fatalf("count %d: want a positive multiple of the batch size", n)
	}
	m, err := s.ReadMatrix(0)
	if err != nil {
		t.Fatal(err)
	}
	all := makeSamples(11, 100*40, 256)
	var committed []sample
	for i := 0; i < n; i += 100 {
		committed = append(committed, all[i:i+100]...)
	}
	checkMatrix(t, m, sortedByID(committed), DTypeFloat32)
	// And it can be written to again.
	putAll(t, s, 0, all[n:n+100], 100)
}

func diskFullChild(t *testing.T, path string) {
	signal.Ignore(syscall.SIGXFSZ)
	const limit = 2 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.EnsureSet(testInfo("m", 256, ""))
	if err != nil {
		t.Fatal(err)
	}
	all := makeSamples(11, 100*40, 256) // 4 MB of vectors: twice the limit
	var werr error
	for i := 0; i < len(all) && werr == nil; i += 100 {
		ids, vecs := flatten(all[i : i+100])
		werr = s.PutBatch(0, ids, vecs)
	}
	if werr == nil {
		t.Fatal("4 MB written under a 2 MB file size limit")
	}
	if !errors.Is(werr, ErrDiskFull) || !strings.Contains(werr.Error(), path) {
		t.Fatalf("error %q, want ErrDiskFull naming the path", werr)
	}
	t.Logf("write error: %v", werr)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("reopen under limit: %v", err)
	}
	rep, err := Verify(ro)
	if err != nil || !rep.OK() {
		t.Fatalf("verify under limit: %+v, %v", rep, err)
	}
	ro.Close()
	t.Log("CHILD-OK")
}

// TestVerifyCountsSamplesOnce checks that a sample with vectors in several
// sets and generations counts once among the samples, and once per vector
// among the vectors.
func TestVerifyCountsSamplesOnce(t *testing.T) {
	db := openTest(t, false)
	s, err := db.EnsureSet(testInfo("m", 8, ""))
	if err != nil {
		t.Fatal(err)
	}
	samples := makeSamples(1, 12, 8)
	putAll(t, s, 0, samples, 12)
	g, err := s.AddGeneration(GenInfo{Dim: 8, Source: "finetune"})
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, g, samples, 12)
	other := testInfo("m", 8, "")
	other.Output = "other"
	o, err := db.EnsureSet(other)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, o, 0, samples[:5], 5)
	rep, err := Verify(db)
	if err != nil || !rep.OK() || rep.Samples != 12 || rep.Vectors != 29 {
		t.Fatalf("%+v, %v; want 12 samples and 29 vectors", rep, err)
	}
}

// TestSharedLetsOthersRead checks Options.Shared: between its
// transactions another opener reads the file, and a write of the shared
// handle waits for that reader (and fails with ErrLocked after the lock
// timeout while it stays).
func TestSharedLetsOthersRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.cache")
	db, err := Open(path, &Options{Shared: true, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.EnsureSet(testInfo("m", 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, 0, makeSamples(1, 10, 4), 5)

	// Another process-like opener (its own file descriptor and lock) reads.
	other, err := Open(path, &Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("a reader could not open the file between the shared handle's transactions: %v", err)
	}
	sets, err := other.Sets()
	if err != nil || len(sets) != 1 {
		t.Fatalf("reader: %v, %v", sets, err)
	}
	// The shared handle reads alongside it, and its writes wait for it.
	if n, err := s.Count(0); err != nil || n != 10 {
		t.Fatalf("shared read beside a reader: %d, %v", n, err)
	}
	if err := s.PutBatch(0, []string{"late"}, []float32{1, 2, 3, 4}); !errors.Is(err, ErrLocked) {
		t.Fatalf("write while another holds a read lock: %v, want ErrLocked", err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBatch(0, []string{"late"}, []float32{1, 2, 3, 4}); err != nil {
		t.Fatalf("write after the reader left: %v", err)
	}
	if n, err := s.Count(0); err != nil || n != 11 {
		t.Fatalf("count %d, %v; want 11", n, err)
	}
}

// TestPageSize: a new cache has 16 KiB pages (seven 512-dimensional
// float32 records to a page, not one); an existing file keeps its own,
// written or not (the format-1 fixture has 4 KiB pages).
func TestPageSize(t *testing.T) {
	src, err := os.ReadFile("../cmd/asvp/testdata/cache-v1/photos.cache")
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old.cache")
	if err := os.WriteFile(old, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       int
	}{
		{"new", filepath.Join(t.TempDir(), "new.cache"), 16 << 10},
		{"existing", old, 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if got := db.bolt.Info().PageSize; got != tc.want {
				t.Fatalf("page size %d, want %d", got, tc.want)
			}
		})
	}
}
