package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/asvp-dev/asvp/features"
	bolt "go.etcd.io/bbolt"
)

// Keys inside a set's bucket and inside each generation's bucket.
var (
	keyInfo   = []byte("info")
	keyGens   = []byte("gens")
	keyCount  = []byte("n")
	bucketVec = []byte("vec")
	bucketErr = []byte("err")
)

// maxIDLen bounds sample IDs; bbolt keys may be up to 32 KiB.
const maxIDLen = 4096

// Set is a handle on one feature set of a DB. It holds no transaction and
// stays valid while the DB is open.
type Set struct {
	db    *DB
	info  SetInfo
	dtype byte
}

// SampleError records a sample whose features could not be extracted.
type SampleError struct {
	ID     string `json:"id"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
}

// EnsureSet creates the feature set described by info, with an empty
// generation 0 of dimension info.Dim, or opens it when its key already
// exists. info.Key may be empty (it is computed) but must otherwise equal the
// fingerprint. An existing set whose dim or dtype differs gives ErrMismatch.
func (db *DB) EnsureSet(info SetInfo) (*Set, error) {
	want := Fingerprint(info.ModelSHA256, info.Output, info.CardHash, info.DatasetID)
	if info.Key == "" {
		info.Key = want
	}
	if info.DType == "" {
		info.DType = DTypeFloat32
	}
	if info.Created.IsZero() {
		info.Created = time.Now().UTC()
	}
	if err := info.validate(); err != nil {
		return nil, err
	}
	var stored SetInfo
	found := false
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSets).Bucket([]byte(info.Key))
		if b == nil {
			return nil
		}
		found = true
		var err error
		stored, err = decodeSetInfo(b.Get(keyInfo))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %s: set %s: %w", db.path, short(info.Key), err)
	}
	if !found {
		err = db.update("creating feature set", func(tx *bolt.Tx) error {
			sets := tx.Bucket(bucketSets)
			if b := sets.Bucket([]byte(info.Key)); b != nil { // created meanwhile
				found = true
				var err error
				stored, err = decodeSetInfo(b.Get(keyInfo))
				return err
			}
			b, err := sets.CreateBucket([]byte(info.Key))
			if err != nil {
				return err
			}
			if err := b.Put(keyInfo, encodeSetInfo(info)); err != nil {
				return err
			}
			gens, err := b.CreateBucket(keyGens)
			if err != nil {
				return err
			}
			source := SourcePretrained
			if info.Import != nil {
				source = SourceImport
			}
			return createGen(gens, GenInfo{N: 0, Dim: info.Dim, Source: source, Created: info.Created})
		})
		if err != nil {
			return nil, fmt.Errorf("cache: %s: set %s: %w", db.path, short(info.Key), err)
		}
		if !found {
			stored = info
		}
	}
	if stored.Dim != info.Dim || stored.DType != info.DType {
		return nil, fmt.Errorf("cache: %s: set %s holds %s vectors of dimension %d, not %s of dimension %d: %w",
			db.path, short(info.Key), stored.DType, stored.Dim, info.DType, info.Dim, ErrMismatch)
	}
	return db.newSet(stored), nil
}

func (db *DB) newSet(info SetInfo) *Set {
	code, err := dtypeCode(info.DType)
	if err != nil {
		panic(err) // validated on decode
	}
	return &Set{db: db, info: info, dtype: code}
}

func createGen(gens *bolt.Bucket, g GenInfo) error {
	b, err := gens.CreateBucket(genKey(g.N))
	if err != nil {
		return err
	}
	if err := b.Put(keyInfo, encodeGenInfo(g)); err != nil {
		return err
	}
	if err := b.Put(keyCount, binary.AppendUvarint(nil, 0)); err != nil {
		return err
	}
	if _, err := b.CreateBucket(bucketVec); err != nil {
		return err
	}
	_, err = b.CreateBucket(bucketErr)
	return err
}

// genKey is the bucket name of generation n: big-endian so buckets sort by number.
func genKey(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// Set returns the feature set with the given key, or with the unique key that
// starts with key when key is at least 8 hex digits. It returns ErrNotFound
// or ErrAmbiguous otherwise.
func (db *DB) Set(key string) (*Set, error) {
	var info SetInfo
	err := db.view(func(tx *bolt.Tx) error {
		sets := tx.Bucket(bucketSets)
		if b := sets.Bucket([]byte(key)); b != nil {
			var err error
			info, err = decodeSetInfo(b.Get(keyInfo))
			return err
		}
		if len(key) < 8 || !isHex(key) {
			return fmt.Errorf("feature set %q: %w", key, ErrNotFound)
		}
		var matches []string
		c := sets.Cursor()
		for k, _ := c.Seek([]byte(key)); k != nil && bytes.HasPrefix(k, []byte(key)); k, _ = c.Next() {
			matches = append(matches, string(k))
		}
		switch len(matches) {
		case 0:
			return fmt.Errorf("feature set %q: %w", key, ErrNotFound)
		case 1:
			var err error
			info, err = decodeSetInfo(sets.Bucket([]byte(matches[0])).Get(keyInfo))
			return err
		}
		return fmt.Errorf("feature set prefix %q matches %d sets: %w", key, len(matches), ErrAmbiguous)
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %s: %w", db.path, err)
	}
	return db.newSet(info), nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(strings.Repeat("0", len(s)%2) + s)
	return err == nil
}

// Sets returns the descriptions of all feature sets, ordered by key.
func (db *DB) Sets() ([]SetInfo, error) {
	var out []SetInfo
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSets).ForEachBucket(func(k []byte) error {
			si, err := decodeSetInfo(tx.Bucket(bucketSets).Bucket(k).Get(keyInfo))
			if err != nil {
				return fmt.Errorf("set %s: %w", short(string(k)), err)
			}
			out = append(out, si)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %s: %w", db.path, err)
	}
	return out, nil
}

// Info returns the set's description.
func (s *Set) Info() SetInfo { return s.info }

// Key returns the set's key.
func (s *Set) Key() string { return s.info.Key }

// wrap prefixes err with the cache path, set and generation.
func (s *Set) wrap(gen int, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("cache: %s: set %s generation %d: %w", s.db.path, short(s.info.Key), gen, err)
}

// setBucket returns the set's bucket in tx.
func (s *Set) setBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketSets).Bucket([]byte(s.info.Key))
	if b == nil {
		return nil, fmt.Errorf("feature set %s: %w", short(s.info.Key), ErrNotFound)
	}
	return b, nil
}

// genBucket returns generation gen's bucket and description in tx.
func (s *Set) genBucket(tx *bolt.Tx, gen int) (*bolt.Bucket, GenInfo, error) {
	sb, err := s.setBucket(tx)
	if err != nil {
		return nil, GenInfo{}, err
	}
	// Callers wrap the error with the generation (Set.wrap): it says no more.
	if gen < 0 || gen > math.MaxUint32 {
		return nil, GenInfo{}, ErrNotFound
	}
	b := sb.Bucket(keyGens).Bucket(genKey(gen))
	if b == nil {
		return nil, GenInfo{}, ErrNotFound
	}
	g, err := decodeGenInfo(b.Get(keyInfo))
	return b, g, err
}

// Generations returns the set's generations in order; generation 0 is first.
func (s *Set) Generations() ([]GenInfo, error) {
	var out []GenInfo
	err := s.db.view(func(tx *bolt.Tx) error {
		sb, err := s.setBucket(tx)
		if err != nil {
			return err
		}
		gens := sb.Bucket(keyGens)
		return gens.ForEachBucket(func(k []byte) error {
			g, err := decodeGenInfo(gens.Bucket(k).Get(keyInfo))
			if err != nil {
				return err
			}
			out = append(out, g)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %s: set %s: %w", s.db.path, short(s.info.Key), err)
	}
	return out, nil
}

// AddGeneration adds an empty generation described by g (g.N is ignored; a
// zero g.Created means now) and returns its number, one more than the last.
func (s *Set) AddGeneration(g GenInfo) (int, error) {
	if g.Created.IsZero() {
		g.Created = time.Now().UTC()
	}
	g.Provenance = maps.Clone(g.Provenance)
	err := s.db.update("adding generation", func(tx *bolt.Tx) error {
		sb, err := s.setBucket(tx)
		if err != nil {
			return err
		}
		gens := sb.Bucket(keyGens)
		last, _ := gens.Cursor().Last()
		if len(last) != 4 {
			return fmt.Errorf("%w: generation key %x", ErrCorrupt, last)
		}
		g.N = int(binary.BigEndian.Uint32(last)) + 1
		if err := g.validate(); err != nil {
			return err
		}
		return createGen(gens, g)
	})
	if err != nil {
		return 0, fmt.Errorf("cache: %s: set %s: %w", s.db.path, short(s.info.Key), err)
	}
	return g.N, nil
}

// Generation returns the description of generation gen.
func (s *Set) Generation(gen int) (GenInfo, error) {
	var g GenInfo
	err := s.db.view(func(tx *bolt.Tx) error {
		var err error
		_, g, err = s.genBucket(tx, gen)
		return err
	})
	return g, s.wrap(gen, err)
}

// Latest returns the description of the newest generation.
func (s *Set) Latest() (GenInfo, error) {
	gens, err := s.Generations()
	if err != nil {
		return GenInfo{}, err
	}
	if len(gens) == 0 {
		return GenInfo{}, fmt.Errorf("cache: %s: set %s has no generations: %w", s.db.path, short(s.info.Key), ErrCorrupt)
	}
	return gens[len(gens)-1], nil
}

// checkID rejects IDs that cannot be stored or exported one per line.
func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("empty sample ID")
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("sample ID %.40q... is %d bytes, longer than %d", id, len(id), maxIDLen)
	}
	if strings.ContainsAny(id, "\n\r") {
		return fmt.Errorf("sample ID %q contains a line break", id)
	}
	return nil
}

// PutBatch stores one vector per ID in generation gen: row i of vecs (of the
// generation's dimension) belongs to ids[i]. It is one transaction: on any
// error (a bad ID, a non-finite value, a full disk) nothing of the batch is
// kept. Storing a vector replaces an earlier one for the same ID and clears
// a recorded extraction error for it.
func (s *Set) PutBatch(gen int, ids []string, vecs []float32) error {
	return s.PutBatchWithErrors(gen, ids, vecs, nil)
}

// PutErrors records samples whose extraction failed, in one transaction.
func (s *Set) PutErrors(gen int, errs []SampleError) error {
	return s.PutBatchWithErrors(gen, nil, nil, errs)
}

// PutBatchWithErrors stores vectors as PutBatch does and records errs as
// PutErrors does, all in one transaction.
func (s *Set) PutBatchWithErrors(gen int, ids []string, vecs []float32, errs []SampleError) error {
	return s.putBatch(gen, ids, vecs, errs, nil)
}

// putBatch is PutBatchWithErrors that also writes the view entries of ids
// in generation 0 when entries is not nil.
func (s *Set) putBatch(gen int, ids []string, vecs []float32, errs []SampleError, entries []ViewEntry) error {
	if len(ids) == 0 && len(errs) == 0 {
		if len(vecs) != 0 {
			return s.wrap(gen, fmt.Errorf("%d values for 0 samples: %w", len(vecs), ErrMismatch))
		}
		return nil
	}
	err := s.db.update("writing batch", func(tx *bolt.Tx) error {
		gb, g, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		if len(vecs) != len(ids)*g.Dim {
			return fmt.Errorf("%d values for %d samples of dimension %d: %w", len(vecs), len(ids), g.Dim, ErrMismatch)
		}
		vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
		n, err := readCount(gb)
		if err != nil {
			return err
		}
		// bbolt keeps references to values until commit: one buffer, no reuse.
		rl := recordLen(s.dtype, g.Dim)
		buf := make([]byte, 0, rl*len(ids))
		for i, id := range ids {
			if err := checkID(id); err != nil {
				return fmt.Errorf("sample %d of batch: %w", i, err)
			}
			row := vecs[i*g.Dim : (i+1)*g.Dim]
			for j, v := range row {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return fmt.Errorf("sample %q: value %d is %v", id, j, v)
				}
			}
			start := len(buf)
			buf = encodeRecord(buf, s.dtype, row)
			key := []byte(id)
			if vb.Get(key) == nil {
				n++
			}
			if err := vb.Put(key, buf[start:len(buf):len(buf)]); err != nil {
				return fmt.Errorf("sample %q: %w", id, err)
			}
			if eb.Get(key) != nil {
				if err := eb.Delete(key); err != nil {
					return err
				}
			}
		}
		for _, se := range errs {
			if err := checkID(se.ID); err != nil {
				return fmt.Errorf("error record: %w", err)
			}
			v, _ := json.Marshal(SampleError{Path: se.Path, Reason: se.Reason})
			if err := eb.Put([]byte(se.ID), v); err != nil {
				return fmt.Errorf("error record %q: %w", se.ID, err)
			}
		}
		if gen == 0 && len(ids) > 0 {
			sb, err := s.setBucket(tx)
			if err != nil {
				return err
			}
			if err := s.indexBatch(tx, sb, ids, entries); err != nil {
				return err
			}
		}
		return gb.Put(keyCount, binary.AppendUvarint(nil, uint64(n)))
	})
	return s.wrap(gen, err)
}

func readCount(gb *bolt.Bucket) (int, error) {
	n, k := binary.Uvarint(gb.Get(keyCount))
	if k <= 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%w: bad sample count", ErrCorrupt)
	}
	return int(n), nil
}

// Errors returns the recorded extraction errors of generation gen, ordered by ID.
func (s *Set) Errors(gen int) ([]SampleError, error) {
	var out []SampleError
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, _, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		return gb.Bucket(bucketErr).ForEach(func(k, v []byte) error {
			var se SampleError
			if err := json.Unmarshal(v, &se); err != nil {
				return fmt.Errorf("%w: error record %q: %w", ErrCorrupt, k, err)
			}
			se.ID = string(k)
			out = append(out, se)
			return nil
		})
	})
	return out, s.wrap(gen, err)
}

// ErrorCount returns the number of recorded extraction errors of generation gen.
func (s *Set) ErrorCount(gen int) (int, error) {
	var n int
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, _, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		n = gb.Bucket(bucketErr).Stats().KeyN
		return nil
	})
	return n, s.wrap(gen, err)
}

// Missing returns, in input order, the IDs of ids that generation gen
// neither stores nor records as failed.
func (s *Set) Missing(gen int, ids []string) ([]string, error) {
	if s.ByReference(gen) {
		return s.referenceMissing(ids)
	}
	return s.missingStored(gen, ids)
}

// missingStored is Missing of the vectors stored in the cache.
func (s *Set) missingStored(gen int, ids []string) ([]string, error) {
	var out []string
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, _, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
		for _, id := range ids {
			k := []byte(id)
			if len(k) == 0 || (vb.Get(k) == nil && eb.Get(k) == nil) {
				out = append(out, id)
			}
		}
		return nil
	})
	return out, s.wrap(gen, err)
}

// Count returns the number of vectors of generation gen: stored in the
// cache, or, for a set imported by reference, in its file when imported.
func (s *Set) Count(gen int) (int, error) {
	if s.ByReference(gen) {
		return s.info.Import.Rows, nil
	}
	return s.countStored(gen)
}

// countStored returns the number of vectors the cache stores for
// generation gen.
func (s *Set) countStored(gen int) (int, error) {
	var n int
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, _, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		n, err = readCount(gb)
		return err
	})
	return n, s.wrap(gen, err)
}

// ReadMatrix returns every vector of generation gen, one row per sample in
// ID (byte) order, read in one pass. Every record's checksum is verified;
// a set imported by reference reads its file, hashed and checked again
// (OpenReference).
func (s *Set) ReadMatrix(gen int) (*features.Matrix, error) { return s.ReadMatrixInto(gen, nil) }

// ReadMatrixInto reads generation gen as ReadMatrix does, into dst when dst
// is not nil: dst.Data and dst.IDs are reused when their capacity suffices
// and grown otherwise, and dst is returned. With a nil dst it allocates a new
// Matrix. Reusing dst across reads of a large generation avoids allocating
// and zeroing the whole matrix each time.
//
// The IDs are fresh strings on every call, so IDs kept from an earlier read
// stay valid; the IDs slice itself and the data are overwritten. On error
// ReadMatrixInto returns nil, and dst holds unspecified contents of the
// right shape or its old ones.
func (s *Set) ReadMatrixInto(gen int, dst *features.Matrix) (*features.Matrix, error) {
	if s.ByReference(gen) {
		return s.readReference(dst)
	}
	m := dst
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, g, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		n, err := readCount(gb)
		if err != nil {
			return err
		}
		// The count sizes the matrix, but a damaged count must neither lose
		// rows (Verify reports it) nor ask for more memory than the file
		// could hold records for: every record takes at least
		// recordLen(dtypeFloat16, dim) bytes.
		most := int(tx.Size() / int64(recordLen(dtypeFloat16, g.Dim)))
		n = min(n, most)
		if m == nil {
			m = &features.Matrix{}
		}
		m.Cols = g.Dim
		m.IDs = resize(m.IDs, n)
		m.Data = resize(m.Data, n*g.Dim)
		rows, err := readRows(gb.Bucket(bucketVec).Cursor(), m, g.Dim, most, s.db.path)
		m.Rows = rows
		m.IDs = m.IDs[:rows]
		m.Data = m.Data[:rows*g.Dim]
		return err
	})
	if err != nil {
		return nil, s.wrap(gen, err)
	}
	return m, nil
}

// resize returns s with length n, reusing its memory when it is large enough.
// New memory is zeroed by make; reused memory is overwritten by the caller.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// parallelBytes is the payload size from which readRows uses several goroutines.
const parallelBytes = 4 << 20

// decodeChunkBytes is roughly how much payload one unit of parallel work
// covers: small enough to balance CPUs that other processes share, large
// enough that handing out work costs nothing.
const decodeChunkBytes = 256 << 10

// readRows walks c and decodes record i into row i of m, whose IDs and Data
// have room for the stored count of rows; it returns the number of rows
// read and reports the first bad record in row order.
//
// For a large generation the walk (which only collects record addresses and
// copies IDs) runs on the calling goroutine while workers check and decode
// chunks of rows behind it, so nothing waits for the whole walk and no
// per-row index is allocated. Rows beyond the stored count, which exist only
// when the count is damaged, are decoded inline once the workers are done,
// growing m, up to most rows, more than the file has room for. path names
// the file in errors.
func readRows(c *bolt.Cursor, m *features.Matrix, dim, most int, path string) (int, error) {
	var p *decodePipeline
	workers := min(runtime.GOMAXPROCS(0), (len(m.IDs)*dim*4+parallelBytes-1)/parallelBytes)
	if workers > 1 {
		p = newDecodePipeline(m, dim, workers, path)
		// Should the walk panic on a damaged page, the workers must be done
		// with the mapped records before the transaction ends.
		defer func() {
			if p != nil {
				p.finish()
			}
		}()
	}
	var ids idSlab
	first := rowError{row: -1}
	row := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if row == len(m.IDs) {
			if p != nil {
				first = p.finish()
				p = nil
			}
			if row >= most {
				// Only pages that loop back can yield more records than
				// the file has room for; stop before memory runs out.
				return row, &DamageError{Path: path, Err: fmt.Errorf("%w: %s yields more than the %d records of dimension %d the file has room for: its pages loop",
					ErrCorrupt, path, most, dim)}
			}
			m.IDs = append(m.IDs, "")
			m.Data = append(m.Data, make([]float32, dim)...)
		}
		m.IDs[row] = ids.string(k)
		if p != nil {
			p.add(row, v)
		} else if first.row < 0 {
			if err := decodeRow(m, dim, row, v); err != nil {
				first = rowError{row, err}
			}
		}
		row++
	}
	if p != nil {
		first = p.finish()
		p = nil
	}
	return row, first.err
}

// decodeRow checks record v and decodes it into row i of m.
func decodeRow(m *features.Matrix, dim, i int, v []byte) error {
	r, err := decodeChecked(v, m.Data[i*dim:(i+1)*dim])
	if err != nil {
		return fmt.Errorf("sample %q: %w", m.IDs[i], err)
	}
	if r.dim != dim {
		return fmt.Errorf("sample %q has dimension %d, generation %d: %w", m.IDs[i], r.dim, dim, ErrCorrupt)
	}
	return nil
}

// rowError is a bad record and its row; row -1 means none.
type rowError struct {
	row int
	err error
}

// idSlab copies sample IDs into shared blocks, so that n IDs cost a few
// allocations instead of n. A block is never written again once a string
// points into it.
type idSlab struct{ buf []byte }

func (s *idSlab) string(k []byte) string {
	if len(k) == 0 {
		return ""
	}
	if cap(s.buf)-len(s.buf) < len(k) {
		s.buf = make([]byte, 0, max(64<<10, len(k)))
	}
	at := len(s.buf)
	s.buf = append(s.buf, k...)
	return unsafe.String(&s.buf[at], len(k))
}

// decodePipeline decodes chunks of consecutive rows on worker goroutines.
// Chunks circulate between the producer and the workers through a fixed
// set of buffers, so a walk far ahead of the workers blocks instead of
// holding the addresses of the whole generation.
type decodePipeline struct {
	m     *features.Matrix
	dim   int
	path  string
	chunk int
	cur   decodeJob
	jobs  chan decodeJob
	free  chan []([]byte)
	wg    sync.WaitGroup
	mu    sync.Mutex
	first rowError
}

// decodeJob is rows lo, lo+1, ... whose records are vals.
type decodeJob struct {
	lo   int
	vals [][]byte
}

func newDecodePipeline(m *features.Matrix, dim, workers int, path string) *decodePipeline {
	p := &decodePipeline{m: m, dim: dim, path: path, chunk: max(1, decodeChunkBytes/(4*dim)), first: rowError{row: -1}}
	buffers := 3 * workers
	p.jobs = make(chan decodeJob, buffers)
	p.free = make(chan [][]byte, buffers)
	for range buffers - 1 {
		p.free <- make([][]byte, 0, p.chunk)
	}
	p.cur.vals = make([][]byte, 0, p.chunk)
	for range workers {
		p.wg.Go(p.work)
	}
	return p
}

// add queues record v of row i; rows must come in order.
func (p *decodePipeline) add(i int, v []byte) {
	if len(p.cur.vals) == 0 {
		p.cur.lo = i
	}
	p.cur.vals = append(p.cur.vals, v)
	if len(p.cur.vals) == p.chunk {
		p.jobs <- p.cur
		p.cur = decodeJob{vals: <-p.free}
	}
}

// finish queues the last partial chunk, waits for the workers and returns
// the first bad record in row order.
func (p *decodePipeline) finish() rowError {
	if len(p.cur.vals) > 0 {
		p.jobs <- p.cur
	}
	close(p.jobs)
	p.wg.Wait()
	return p.first
}

func (p *decodePipeline) work() {
	// The records point into the mapped file; in a damaged file one may
	// point outside it. Reading it must panic, not crash (see protect).
	debug.SetPanicOnFault(true)
	for job := range p.jobs {
		p.decode(job)
		// Drop the addresses into the file before the buffer goes back.
		clear(job.vals)
		p.free <- job.vals[:0]
	}
}

// decode decodes the rows of job, keeping the first failure.
func (p *decodePipeline) decode(job decodeJob) {
	i := job.lo
	defer func() {
		if r := recover(); r != nil {
			p.fail(i, fmt.Errorf("sample %q: %w", p.m.IDs[i], panicError(p.path, r)))
		}
	}()
	for j, v := range job.vals {
		i = job.lo + j
		if err := decodeRow(p.m, p.dim, i, v); err != nil {
			p.fail(i, err)
			return // later rows of this chunk cannot come first
		}
	}
}

// fail records err for row i unless an earlier row failed.
func (p *decodePipeline) fail(i int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.first.row < 0 || i < p.first.row {
		p.first = rowError{i, err}
	}
}

// ReadRows returns the vectors of ids in generation gen, row i for ids[i].
// An ID without a vector gives ErrNotFound naming it.
func (s *Set) ReadRows(gen int, ids []string) (*features.Matrix, error) {
	if s.ByReference(gen) {
		return s.referenceRows(ids)
	}
	var m *features.Matrix
	err := s.db.view(func(tx *bolt.Tx) error {
		gb, g, err := s.genBucket(tx, gen)
		if err != nil {
			return err
		}
		m = features.NewMatrix(len(ids), g.Dim)
		vb := gb.Bucket(bucketVec)
		for i, id := range ids {
			v := vb.Get([]byte(id))
			if v == nil {
				return fmt.Errorf("sample %q: %w", id, ErrNotFound)
			}
			m.IDs[i] = id
			if err := decodeRow(m, g.Dim, i, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(gen, err)
	}
	return m, nil
}
