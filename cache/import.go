package cache

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/features"
	bolt "go.etcd.io/bbolt"
)

// importBatchBytes is about how many bytes of records ImportSet writes per
// transaction: few enough commits that their fixed cost does not show, and
// little memory beside the matrix.
const importBatchBytes = 16 << 20

// ImportSet stores m (rows of unique IDs) as generation 0 of the imported
// feature set described by info, which must have Import set and Dim
// m.Cols. A row with a non-finite value or an ID that cannot be stored is
// refused, naming it, before anything is written. A set that is already
// complete is left alone: importing the same file again writes nothing. A
// set imported by reference (ImportReference) gets its vectors copied, and
// is read from the cache from then on. Otherwise the rows it lacks are
// written in ID order, a batch per transaction, and the set is marked
// complete after the last one; until then FindSet and PickGeneration refuse
// it, so a killed import is never read as a whole set, and rerunning it
// writes only what is missing. progress, when not nil, is called after each
// batch with the rows written so far and the rows to write. It returns the
// set and the number of rows written.
func (db *DB) ImportSet(info SetInfo, m *features.Matrix, progress func(done, total int)) (*Set, int, error) {
	if info.Import == nil {
		return nil, 0, fmt.Errorf("cache: ImportSet: set info without Import")
	}
	if info.Dim != m.Cols || m.Rows != len(m.IDs) || len(m.Data) < m.Rows*m.Cols {
		return nil, 0, fmt.Errorf("cache: import of %s: %d x %d matrix with %d IDs for a set of dimension %d: %w",
			info.Import.File, m.Rows, m.Cols, len(m.IDs), info.Dim, ErrMismatch)
	}
	// Every row is checked before anything is written.
	for i := range m.Rows {
		if err := checkID(m.IDs[i]); err != nil {
			return nil, 0, fmt.Errorf("cache: import of %s: row %d: %w", info.Import.File, i+1, err)
		}
		for j, v := range m.Row(i) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, 0, fmt.Errorf("cache: import of %s: row %d (sample %q): value %d is %v", info.Import.File, i+1, m.IDs[i], j, v)
			}
		}
	}
	s, err := db.EnsureSet(info)
	if err != nil {
		return nil, 0, err
	}
	ref := s.info.Import.Ref
	if done, err := s.Complete(0); err != nil || done && ref == nil {
		return s, 0, err
	}
	// A set imported by reference stays complete, read from its file,
	// until the last row is copied; then the cache holds its vectors.
	missing, err := s.missingStored(0, m.IDs)
	if err != nil {
		return nil, 0, err
	}
	row := make(map[string]int, len(missing))
	for i, id := range m.IDs {
		row[id] = i
	}
	// bbolt appends keys that come in order cheaply.
	slices.Sort(missing)
	rl := recordLen(s.dtype, m.Cols)
	batch := max(1, importBatchBytes/rl)
	buf := make([]byte, 0, batch*rl)
	written := 0
	for lo := 0; lo < len(missing); lo += batch {
		ids := missing[lo:min(lo+batch, len(missing))]
		buf = buf[:0]
		for _, id := range ids {
			buf = encodeRecord(buf, s.dtype, m.Row(row[id]))
		}
		err := db.update("importing rows", func(tx *bolt.Tx) error {
			gb, _, err := s.genBucket(tx, 0)
			if err != nil {
				return err
			}
			n, err := readCount(gb)
			if err != nil {
				return err
			}
			vb := gb.Bucket(bucketVec)
			vb.FillPercent = 1 // keys arrive in order: fill pages
			for k, id := range ids {
				// bbolt keeps the value until commit; buf is reused only
				// after update returns.
				if err := vb.Put([]byte(id), buf[k*rl:(k+1)*rl:(k+1)*rl]); err != nil {
					return fmt.Errorf("sample %q: %w", id, err)
				}
			}
			return gb.Put(keyCount, binary.AppendUvarint(nil, uint64(n+len(ids))))
		})
		if err != nil {
			return nil, written, s.wrap(0, err)
		}
		written += len(ids)
		if progress != nil {
			progress(written, len(missing))
		}
	}
	n, err := s.countStored(0)
	if err != nil {
		return nil, written, err
	}
	if n != m.Rows {
		return nil, written, fmt.Errorf("cache: %s: import of %s into set %s: %d samples stored, the file has %d: %w",
			db.path, info.Import.File, s.ShortKey(), n, m.Rows, ErrIncomplete)
	}
	if ref != nil {
		si := s.info
		si.Import = info.Import
		err := db.update("keeping the imported vectors in the cache", func(tx *bolt.Tx) error {
			sb, err := s.setBucket(tx)
			if err != nil {
				return err
			}
			return sb.Put(keyInfo, encodeSetInfo(si))
		})
		if err != nil {
			return nil, written, s.wrap(0, err)
		}
		s.info = si
	}
	if err := s.MarkComplete(0, n); err != nil {
		return nil, written, err
	}
	return s, written, nil
}

// checkImported returns an error wrapping ErrIncomplete for an imported set
// whose import has not finished, nil otherwise.
func (s *Set) checkImported() error {
	if s.info.Import == nil {
		return nil
	}
	done, err := s.Complete(0)
	if err != nil || done {
		return err
	}
	n, err := s.Count(0)
	if err != nil {
		return err
	}
	return fmt.Errorf("cache: %s: set %s is an interrupted import of %s (%d of %d rows stored): rerun asvp cache import with that file: %w",
		s.db.path, s.ShortKey(), s.info.Import.File, n, s.info.Import.Rows, ErrIncomplete)
}

// ImportDataset is the dataset spec of the imported set named name:
// "import:NAME". Commands name an imported set by it (--data, --pool,
// --test).
func ImportDataset(name string) string { return importPrefix + name }

// IsImportDataset reports whether spec names an imported set.
func IsImportDataset(spec string) bool { return strings.HasPrefix(spec, importPrefix) }

const importPrefix = "import:"
