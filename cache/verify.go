package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// Problem is one inconsistency found by Verify.
type Problem struct {
	// Set is the feature set key, or "" for problems outside sets
	// (labels: Set is "", Gen is -1, ID names the label set and sample).
	Set string `json:"set,omitempty"`
	// Gen is the generation, or -1 for problems of the set itself.
	Gen int `json:"gen"`
	// ID is the sample concerned, if any.
	ID string `json:"id,omitempty"`
	// Msg says what is wrong.
	Msg string `json:"msg"`
}

// String formats the problem for people, naming set, generation and sample.
func (p Problem) String() string {
	s := "cache"
	if p.Set != "" {
		s = "set " + short(p.Set)
	}
	if p.Gen >= 0 {
		s += fmt.Sprintf(" generation %d", p.Gen)
	}
	if p.ID != "" {
		s += fmt.Sprintf(" sample %q", p.ID)
	}
	return s + ": " + p.Msg
}

// Report is the result of Verify.
type Report struct {
	Sets        int `json:"sets"`
	Generations int `json:"generations"`
	// Samples counts distinct samples (a dataset's sample ID once, however
	// many sets and generations hold a vector of it); Vectors counts the
	// vector records of every set and generation.
	Samples   int       `json:"samples"`
	Vectors   int       `json:"vectors"`
	Errors    int       `json:"errors"`
	LabelSets int       `json:"label_sets"`
	Problems  []Problem `json:"problems"`

	seen map[string]struct{} // dataset + "\x00" + sample ID, for Samples
}

// OK reports whether Verify found no problems.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// maxProblemsPerGen keeps a badly damaged cache from producing a giant report.
const maxProblemsPerGen = 100

// maxStructureProblems caps the problems listed for the file's structure.
const maxStructureProblems = 100

// Verify reads the whole cache. It checks the file's structure first: the
// page tree (every page header, element and bucket, for bounds and cycles)
// and then bbolt's own consistency check (freed and leaked pages, key
// order). Then it checks every record's checksum, dtype and dimension, each
// generation's sample count against its metadata, each set's key against
// the fingerprint of its metadata, and every label against its class list,
// and, when all that holds, reads the file behind every set imported by
// reference again, reporting one that is gone or changed.
// Damage is reported as a problem of the set and generation it was found
// in; a set whose pages are damaged is not read further, and neither is
// anything when the damage is outside the sets. Problems go into the
// report; the error is for failures to read the file at all.
//
// On a cache opened for writing, Verify holds the write lock while it runs:
// bbolt's check reads the freelist, which only the writer may touch.
func Verify(db *DB) (Report, error) {
	var r Report
	err := db.inspect(func(tx *bolt.Tx) error {
		damaged := verifyStructure(&r, tx, db.path)
		if damaged[""] {
			r.Problems = append(r.Problems, Problem{Gen: -1,
				Msg: "feature sets and labels not checked: the file's page structure is damaged (restore a backup or extract again)"})
			return nil
		}
		verifyContents(&r, tx, damaged)
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("cache: verifying %s: %w", db.path, err)
	}
	if r.OK() {
		verifyReferences(&r, db)
	}
	return r, nil
}

// verifyReferences reads the file behind every set imported by reference
// again (OpenReference), counting its rows as samples and vectors, and
// reports a file that is gone or changed as a problem of its set.
func verifyReferences(r *Report, db *DB) {
	infos, err := db.Sets()
	if err != nil {
		r.Problems = append(r.Problems, Problem{Gen: -1, Msg: fmt.Sprintf("listing the sets: %v", err)})
		return
	}
	for _, si := range infos {
		if si.Import == nil || si.Import.Ref == nil {
			continue
		}
		n, err := db.newSet(si).OpenReference()
		if err != nil {
			r.Problems = append(r.Problems, Problem{Set: si.Key, Gen: 0, Msg: err.Error()})
			continue
		}
		if r.seen == nil {
			r.seen = map[string]struct{}{}
		}
		for _, id := range n.IDs {
			if key := si.Dataset + "\x00" + id; !has(r.seen, key) {
				r.seen[key] = struct{}{}
				r.Samples++
			}
		}
		r.Vectors += n.Rows
		n.Close()
	}
}

// errCheckDone rolls back Verify's read-write transaction.
var errCheckDone = errors.New("check done")

// inspect runs fn in a transaction that sees the whole file and writes
// nothing: a read-only one on a read-only cache, else a read-write one that
// is rolled back, so that no writer changes the freelist meanwhile.
func (db *DB) inspect(fn func(tx *bolt.Tx) error) error {
	if db.readOnly {
		return db.view(fn)
	}
	err := db.write(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errCheckDone
	})
	if errors.Is(err, errCheckDone) {
		return nil
	}
	return err
}

// caught runs fn and returns what it panicked with, or nil. Like protect it
// turns bbolt's reads outside the mapped file into panics.
func caught(fn func()) (v any) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { v = recover() }()
	fn()
	return nil
}

// verifyStructure checks the file's page tree (see structCheck) and, when
// that holds, runs bbolt's own tx.Check for what it adds: freed, leaked and
// doubly used pages, and key order. tx.Check runs on a goroutine of its
// own, where it recovers bbolt's panics into errors but would not survive
// a read outside the file, which the page tree check rules out first. It
// returns the keys of the sets whose pages are damaged, with "" standing
// for damage outside any set; those must not be walked.
func verifyStructure(r *Report, tx *bolt.Tx, path string) map[string]bool {
	damaged := map[string]bool{}
	add := func(p Problem) { r.Problems = append(r.Problems, p) }
	if n := checkStructure(tx, path, maxStructureProblems, func(p Problem) {
		damaged[p.Set] = true
		add(p)
	}); n > 0 {
		if n > maxStructureProblems {
			// The unlisted ones may be anywhere.
			damaged[""] = true
			add(Problem{Gen: -1, Msg: fmt.Sprintf("file structure: %d more problems not listed", n-maxStructureProblems)})
		}
		return damaged
	}
	n := 0
	for err := range tx.Check() {
		if n < maxStructureProblems {
			add(Problem{Gen: -1, Msg: fmt.Sprintf("file structure: %v", err)})
		}
		n++
	}
	if n > maxStructureProblems {
		add(Problem{Gen: -1, Msg: fmt.Sprintf("file structure: %d more problems not listed", n-maxStructureProblems)})
	}
	return damaged
}

// verifyContents checks the feature sets and label sets, but not the sets
// whose keys are in damaged. Damage that makes bbolt fail in one set or
// generation is reported there, and the walk goes on with the next.
func verifyContents(r *Report, tx *bolt.Tx, damaged map[string]bool) {
	for _, key := range bucketNames(r, tx, bucketSets) {
		r.Sets++
		if damaged[key] {
			continue // its pages are: verifyStructure said where
		}
		if v := caught(func() { verifySet(r, tx.Bucket(bucketSets).Bucket([]byte(key)), key) }); v != nil {
			r.Problems = append(r.Problems, Problem{Set: key, Gen: -1, Msg: fmt.Sprintf("bbolt failed reading it (%v)", v)})
		}
	}
	if !damaged[""] {
		if v := caught(func() { verifyContent(r, tx) }); v != nil {
			r.Problems = append(r.Problems, Problem{Gen: -1, Msg: fmt.Sprintf("content index: bbolt failed reading it (%v)", v)})
		}
	}
	for _, name := range bucketNames(r, tx, bucketLabels) {
		r.LabelSets++
		if v := caught(func() { verifyLabels(r, tx.Bucket(bucketLabels).Bucket([]byte(name)), name) }); v != nil {
			r.Problems = append(r.Problems, Problem{Gen: -1, Msg: fmt.Sprintf("label set %q: bbolt failed reading it (%v)", name, v)})
		}
	}
}

// bucketNames returns the names of the buckets inside the top-level bucket
// top, reporting it when it is missing or cannot be read.
func bucketNames(r *Report, tx *bolt.Tx, top []byte) []string {
	var names []string
	if v := caught(func() {
		b := tx.Bucket(top)
		if b == nil {
			r.Problems = append(r.Problems, Problem{Gen: -1, Msg: fmt.Sprintf("bucket %q is missing", top)})
			return
		}
		_ = b.ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	}); v != nil {
		r.Problems = append(r.Problems, Problem{Gen: -1, Msg: fmt.Sprintf("listing bucket %q: bbolt failed (%v)", top, v)})
	}
	return names
}

func verifySet(r *Report, sb *bolt.Bucket, key string) {
	add := func(gen int, id, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Set: key, Gen: gen, ID: id, Msg: fmt.Sprintf(format, args...)})
	}
	si, err := decodeSetInfo(sb.Get(keyInfo))
	if err != nil {
		add(-1, "", "metadata: %v", err)
		return
	}
	if si.Key != key {
		add(-1, "", "stored under key %s but its metadata says %s", key, si.Key)
	}
	dtype, _ := dtypeCode(si.DType)
	if vb := sb.Bucket(bucketView); vb != nil {
		bad := 0
		_ = vb.ForEach(func(k, v []byte) error {
			if _, err := decodeViewEntry(v); err != nil {
				if bad < maxProblemsPerGen {
					add(-1, string(k), "view entry: %v", err)
				}
				bad++
			}
			return nil
		})
		if bad > maxProblemsPerGen {
			add(-1, "", "%d more bad view entries not listed", bad-maxProblemsPerGen)
		}
	}
	gens := sb.Bucket(keyGens)
	if gens == nil || gens.Bucket(genKey(0)) == nil {
		add(-1, "", "generation 0 is missing")
		if gens == nil {
			return
		}
	}
	var genKeys [][]byte
	_ = gens.ForEachBucket(func(gk []byte) error {
		genKeys = append(genKeys, append([]byte(nil), gk...))
		return nil
	})
	for _, gk := range genKeys {
		r.Generations++
		if len(gk) != 4 {
			add(-1, "", "bad generation key %x", gk)
			continue
		}
		n := int(binary.BigEndian.Uint32(gk))
		if v := caught(func() { verifyGen(r, gens.Bucket(gk), si, dtype, n, add) }); v != nil {
			add(n, "", "bbolt failed reading it (%v)", v)
		}
	}
}

// verifyGen checks generation n of a set described by si, whose bucket is gb.
func verifyGen(r *Report, gb *bolt.Bucket, si SetInfo, dtype byte, n int, add func(gen int, id, format string, args ...any)) {
	g, err := decodeGenInfo(gb.Get(keyInfo))
	if err != nil {
		add(n, "", "metadata: %v", err)
		return
	}
	if g.N != n {
		add(n, "", "metadata says generation %d", g.N)
	}
	if n == 0 && g.Dim != si.Dim {
		add(n, "", "dimension %d, set metadata says %d", g.Dim, si.Dim)
	}
	want, err := readCount(gb)
	if err != nil {
		add(n, "", "sample count: %v", err)
		want = -1
	}
	vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
	if vb == nil || eb == nil {
		add(n, "", "vector or error bucket missing")
		return
	}
	got, bad := 0, 0
	if r.seen == nil {
		r.seen = map[string]struct{}{}
	}
	_ = vb.ForEach(func(k, v []byte) error {
		got++
		if key := si.Dataset + "\x00" + string(k); !has(r.seen, key) {
			r.seen[key] = struct{}{}
			r.Samples++
		}
		rec, err := parseRecord(v)
		msg := ""
		switch {
		case err != nil:
			msg = err.Error()
		case rec.dtype != dtype:
			msg = fmt.Sprintf("dtype code %d, set stores %s", rec.dtype, si.DType)
		case rec.dim != g.Dim:
			msg = fmt.Sprintf("dimension %d, generation has %d", rec.dim, g.Dim)
		}
		if msg != "" {
			if bad < maxProblemsPerGen {
				add(n, string(k), "%s", msg)
			}
			bad++
		}
		return nil
	})
	if bad > maxProblemsPerGen {
		add(n, "", "%d more bad records not listed", bad-maxProblemsPerGen)
	}
	r.Vectors += got
	if want >= 0 && got != want {
		add(n, "", "holds %d vectors, metadata says %d", got, want)
	}
	_ = eb.ForEach(func(k, v []byte) error {
		r.Errors++
		var se SampleError
		if err := json.Unmarshal(v, &se); err != nil {
			add(n, string(k), "error record: %v", err)
		}
		return nil
	})
}

func verifyLabels(r *Report, lb *bolt.Bucket, name string) {
	add := func(id, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{Gen: -1, ID: id, Msg: fmt.Sprintf("label set %q: ", name) + fmt.Sprintf(format, args...)})
	}
	var classes []string
	if err := json.Unmarshal(lb.Get(keyClasses), &classes); err != nil {
		add("", "classes: %v", err)
		return
	}
	ids := lb.Bucket(bucketIDs)
	if ids == nil {
		add("", "no label bucket")
		return
	}
	_ = ids.ForEach(func(k, v []byte) error {
		c, n := binary.Uvarint(v)
		if n <= 0 || c >= uint64(len(classes)) {
			add(string(k), "bad class index")
		}
		return nil
	})
}

func has(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

// verifyContent checks the content index: every entry names a sample of
// an existing set of its feature space whose view holds that content hash
// and whose generation 0 holds a vector.
func verifyContent(r *Report, tx *bolt.Tx) {
	top := tx.Bucket(bucketContent)
	if top == nil {
		return // format 1, opened read-only
	}
	sets := tx.Bucket(bucketSets)
	spaces := map[string]string{} // set key -> its space
	bad := 0
	add := func(set, id, format string, args ...any) {
		if bad < maxProblemsPerGen {
			r.Problems = append(r.Problems, Problem{Set: set, Gen: -1, ID: id, Msg: "content index: " + fmt.Sprintf(format, args...)})
		}
		bad++
	}
	_ = top.ForEachBucket(func(space []byte) error {
		return top.Bucket(space).ForEach(func(h, v []byte) error {
			key, id, err := parseContentRef(v)
			if err != nil || len(h) != sha256.Size {
				add("", "", "entry %x of space %.12s: %v (hash of %d bytes)", h, space, err, len(h))
				return nil
			}
			sb := sets.Bucket(key)
			if sb == nil {
				add("", string(id), "entry %x names set %.12s, which does not exist", h, key)
				return nil
			}
			sp, ok := spaces[string(key)]
			if !ok {
				si, err := decodeSetInfo(sb.Get(keyInfo))
				if err == nil {
					sp = spaceKey(si)
				}
				spaces[string(key)] = sp
			}
			if sp != string(space) {
				add(string(key), string(id), "entry %x is in space %.12s, its set in %.12s", h, space, sp)
				return nil
			}
			var e []byte
			if vb := sb.Bucket(bucketView); vb != nil {
				e = vb.Get(id)
			}
			if len(e) < sha256.Size || !bytes.Equal(e[:sha256.Size], h) {
				add(string(key), string(id), "entry %x names a sample whose view does not hold that content", h)
				return nil
			}
			if g0 := sb.Bucket(keyGens).Bucket(genKey(0)); g0 == nil || g0.Bucket(bucketVec).Get(id) == nil {
				add(string(key), string(id), "entry %x names a sample without a vector", h)
			}
			return nil
		})
	})
	if bad > maxProblemsPerGen {
		r.Problems = append(r.Problems, Problem{Gen: -1, Msg: fmt.Sprintf("content index: %d more problems not listed", bad-maxProblemsPerGen)})
	}
}
