package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/asvp-dev/asvp/embeddings"
	"github.com/asvp-dev/asvp/features"
)

// ImportRef says where the vectors of a set imported by reference are: the
// .npy file and its IDs file, which the cache does not copy. Every read of
// the set reads both again, hashing and checking them as the import did,
// so a file changed since is refused, never read as the set.
type ImportRef struct {
	// Path is the .npy file, an absolute path.
	Path string `json:"path"`
	// IDs is its IDs file, an absolute path.
	IDs string `json:"ids"`
}

// ErrSourceChanged means the file behind a set imported by reference is
// gone, unreadable, or no longer the file that was imported.
var ErrSourceChanged = errors.New("the file an imported set refers to is gone or changed")

// ImportReference records the set described by info as imported by
// reference to the .npy file info.Import.Ref names, which the caller has
// read and checked (embeddings.OpenNPY): generation 0 is the file's rows,
// info.Import.Rows of them, and the set is complete at once. It returns the
// set and whether it was already complete, by reference to the same paths
// or with its vectors in the cache (then nothing is written: a copy is
// kept, not traded for a reference). The same content at other paths (a
// file moved, then imported again) moves the reference there. A set left
// half-copied by an interrupted ImportSet becomes a reference; the rows it
// holds stay, so that a later ImportSet copies only the rest.
func (db *DB) ImportReference(info SetInfo) (*Set, bool, error) {
	if info.Import == nil || info.Import.Ref == nil {
		return nil, false, fmt.Errorf("cache: ImportReference: set info without Import.Ref")
	}
	s, err := db.EnsureSet(info)
	if err != nil {
		return nil, false, err
	}
	done, err := s.Complete(0)
	if err != nil {
		return nil, false, err
	}
	moved := done && s.ByReference(0) && *s.info.Import.Ref != *info.Import.Ref
	if done && !moved {
		return s, true, nil
	}
	si := s.info
	si.Import = info.Import
	rec, err := json.Marshal(completeRecord{Done: true, Count: info.Import.Rows, Written: time.Now().UTC()})
	if err != nil {
		return nil, false, err
	}
	err = db.update("recording an import by reference", func(tx *bolt.Tx) error {
		sb, err := s.setBucket(tx)
		if err != nil {
			return err
		}
		if err := sb.Put(keyInfo, encodeSetInfo(si)); err != nil {
			return err
		}
		rb, err := tx.Bucket(bucketRecords).CreateBucketIfNotExists([]byte(completeNS))
		if err != nil {
			return err
		}
		return rb.Put([]byte(s.completeKey(0)), rec)
	})
	if err != nil {
		return nil, false, s.wrap(0, err)
	}
	s.info = si
	return s, false, nil
}

// ByReference reports whether generation gen of s is read from the file
// it was imported from (ImportReference) rather than from the cache.
func (s *Set) ByReference(gen int) bool {
	return gen == 0 && s.info.Import != nil && s.info.Import.Ref != nil
}

// OpenReference opens the .npy file behind a set imported by reference,
// hashing and checking it and its IDs file again. A file that is gone,
// unreadable, damaged or other than the one imported is an error wrapping
// ErrSourceChanged that names it and says how to go on. Close the NPY
// when done.
func (s *Set) OpenReference() (*embeddings.NPY, error) {
	if !s.ByReference(0) {
		return nil, fmt.Errorf("cache: %s: set %s is not imported by reference", s.db.path, s.ShortKey())
	}
	imp := s.info.Import
	n, err := embeddings.OpenNPY(imp.Ref.Path, imp.Ref.IDs)
	if err != nil {
		return nil, s.sourceErr(err.Error(), err)
	}
	var what []string
	if n.Hash != imp.Hash {
		what = append(what, fmt.Sprintf("its content hash is %s, was %s", n.Hash, imp.Hash))
	}
	if n.IDsHash != imp.IDsHash {
		what = append(what, fmt.Sprintf("the IDs file %s hashes to %s, was %s", imp.Ref.IDs, n.IDsHash, imp.IDsHash))
	}
	if len(what) == 0 && (n.Rows != imp.Rows || n.Cols != s.info.Dim || n.DType != s.info.DType) {
		what = append(what, fmt.Sprintf("it holds %d x %d %s, the set %d x %d %s", n.Rows, n.Cols, n.DType, imp.Rows, s.info.Dim, s.info.DType))
	}
	if len(what) > 0 {
		n.Close()
		return nil, s.sourceErr(imp.Ref.Path+" changed since the import: "+strings.Join(what, "; "), errContentChanged)
	}
	return n, nil
}

// errContentChanged is the cause of an ErrSourceChanged error for a
// referenced file that reads well but is not the one imported.
var errContentChanged = errors.New("content changed")

// sourceErr is the error for a referenced file that cannot be the set's
// vectors any more: it says what, and how to go on, and matches
// ErrSourceChanged and cause (errors.Is).
func (s *Set) sourceErr(what string, cause error) error {
	imp := s.info.Import
	return &sourceError{cause: cause,
		msg: fmt.Sprintf("cache: %s: set %s (%s) holds its vectors by reference to %s: %s; import the file again (asvp cache import --from %s; a changed file makes a new set), or import with --copy to keep the vectors in the cache",
			s.db.path, s.ShortKey(), s.info.Dataset, imp.Ref.Path, what, imp.File)}
}

// sourceError is sourceErr's error: its message says it all, and it
// unwraps to ErrSourceChanged and its cause.
type sourceError struct {
	msg   string
	cause error
}

func (e *sourceError) Error() string   { return e.msg }
func (e *sourceError) Unwrap() []error { return []error{ErrSourceChanged, e.cause} }

// sourceGone reports whether err, from OpenReference, says the referenced
// file is gone or is another file now, as opposed to unreadable for a
// while (permissions, an unmounted disk): GC drops a set only for the
// former.
func sourceGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errContentChanged) || errors.Is(err, embeddings.ErrFormat)
}

// readReference reads the referenced file's rows in ID (byte) order into
// dst, as ReadMatrixInto does.
func (s *Set) readReference(dst *features.Matrix) (*features.Matrix, error) {
	n, err := s.OpenReference()
	if err != nil {
		return nil, err
	}
	defer n.Close()
	order := make([]int32, n.Rows)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(n.IDs[a], n.IDs[b]) })
	m := dst
	if m == nil {
		m = &features.Matrix{}
	}
	m.Rows, m.Cols = n.Rows, n.Cols
	m.IDs = resize(m.IDs, n.Rows)
	m.Data = resize(m.Data, n.Rows*n.Cols)
	for i, r := range order {
		m.IDs[i] = n.IDs[r]
	}
	if err := n.Gather(order, m.Data); err != nil {
		return nil, s.sourceErr(err.Error(), err)
	}
	return m, nil
}

// referenceRows returns the rows of ids from the referenced file, as
// ReadRows does.
func (s *Set) referenceRows(ids []string) (*features.Matrix, error) {
	n, err := s.OpenReference()
	if err != nil {
		return nil, err
	}
	defer n.Close()
	row := make(map[string]int, n.Rows)
	for i, id := range n.IDs {
		row[id] = i
	}
	m := features.NewMatrix(len(ids), n.Cols)
	rows := make([]int32, len(ids))
	for i, id := range ids {
		r, ok := row[id]
		if !ok {
			return nil, s.wrap(0, fmt.Errorf("sample %q: %w", id, ErrNotFound))
		}
		m.IDs[i], rows[i] = id, int32(r)
	}
	if err := n.Gather(rows, m.Data); err != nil {
		return nil, s.sourceErr(err.Error(), err)
	}
	return m, nil
}

// referenceMissing returns the IDs of ids that the referenced file lacks,
// as Missing does.
func (s *Set) referenceMissing(ids []string) ([]string, error) {
	n, err := s.OpenReference()
	if err != nil {
		return nil, err
	}
	defer n.Close()
	have := make(map[string]struct{}, n.Rows)
	for _, id := range n.IDs {
		have[id] = struct{}{}
	}
	var out []string
	for _, id := range ids {
		if _, ok := have[id]; !ok {
			out = append(out, id)
		}
	}
	return out, nil
}
