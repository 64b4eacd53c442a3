package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// This file is content addressing (format version 2). A feature set of an
// extracted dataset holds, beside its vectors, a view: each sample ID
// mapped to the SHA-256 of the sample's content (an image file's bytes, an
// IDX image's pixels) and the file's stat when it was hashed. A per
// feature-space content index (model, output, preprocessing, dtype) maps
// each content hash to one (set, ID) whose generation-0 vector has that
// content. ApplyView brings a view up to date: a sample whose content
// changed loses its vectors, one that left the dataset leaves the view, and
// a sample whose content is already extracted anywhere in the space gets a
// copy of that vector, so only new content runs through the model.

var (
	bucketView    = []byte("view")    // in a set's bucket: ID -> encoded ViewEntry
	bucketContent = []byte("content") // top level: space -> content hash -> set key + ID
)

// viewBatch is the number of view entries ApplyView handles per transaction.
const viewBatch = 4096

// ViewEntry is one sample of a set's view: the hash of its content and the
// stat of its file when it was hashed (all zero for a sample without a file
// of its own, such as an IDX image).
type ViewEntry struct {
	Hash    [sha256.Size]byte
	Size    int64
	MtimeNS int64
	Inode   uint64
}

// SameStat reports whether e was hashed from a file with the given stat; a
// zero stat (no file) never matches, so such samples are always hashed.
func (e ViewEntry) SameStat(size, mtimeNS int64, inode uint64) bool {
	return (e.Size != 0 || e.MtimeNS != 0 || e.Inode != 0) && e.Size == size && e.MtimeNS == mtimeNS && e.Inode == inode
}

func encodeViewEntry(e ViewEntry) []byte {
	b := make([]byte, 0, sha256.Size+3*binary.MaxVarintLen64)
	b = append(b, e.Hash[:]...)
	b = binary.AppendVarint(b, e.Size)
	b = binary.AppendVarint(b, e.MtimeNS)
	return binary.AppendUvarint(b, e.Inode)
}

func decodeViewEntry(b []byte) (ViewEntry, error) {
	var e ViewEntry
	if len(b) < sha256.Size {
		return e, fmt.Errorf("%w: view entry of %d bytes", ErrCorrupt, len(b))
	}
	copy(e.Hash[:], b)
	rest := b[sha256.Size:]
	var n int
	if e.Size, n = binary.Varint(rest); n <= 0 {
		return e, fmt.Errorf("%w: view entry size", ErrCorrupt)
	}
	rest = rest[n:]
	if e.MtimeNS, n = binary.Varint(rest); n <= 0 {
		return e, fmt.Errorf("%w: view entry time", ErrCorrupt)
	}
	rest = rest[n:]
	if e.Inode, n = binary.Uvarint(rest); n <= 0 || n != len(rest) {
		return e, fmt.Errorf("%w: view entry inode", ErrCorrupt)
	}
	return e, nil
}

// spaceKey names the feature space of a set: vectors of the same content in
// two sets of one space are equal. Imported sets have none ("").
func spaceKey(si SetInfo) string {
	if si.Import != nil {
		return ""
	}
	h := sha256.New()
	h.Write([]byte("asvp content space v1\x00"))
	for _, s := range []string{si.ModelSHA256, si.Output, si.CardHash, si.DType, strconv.Itoa(si.Dim)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// contentRef is the value of a content index entry: set key, then ID.
func contentRef(setKey string, id []byte) []byte {
	return append([]byte(setKey), id...)
}

// parseContentRef splits a content index value.
func parseContentRef(v []byte) (setKey, id []byte, err error) {
	if len(v) <= 2*sha256.Size {
		return nil, nil, fmt.Errorf("%w: content index entry of %d bytes", ErrCorrupt, len(v))
	}
	return v[:2*sha256.Size], v[2*sha256.Size:], nil
}

// View returns the set's view: every sample ID it holds mapped to its entry.
// A set extracted before format 2 (or imported) has an empty view.
func (s *Set) View() (map[string]ViewEntry, error) {
	out := map[string]ViewEntry{}
	err := s.db.view(func(tx *bolt.Tx) error {
		sb, err := s.setBucket(tx)
		if err != nil {
			return err
		}
		vb := sb.Bucket(bucketView)
		if vb == nil {
			return nil
		}
		var slab idSlab
		return vb.ForEach(func(k, v []byte) error {
			e, err := decodeViewEntry(v)
			if err != nil {
				return fmt.Errorf("sample %q: %w", k, err)
			}
			out[slab.string(k)] = e
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %s: set %s view: %w", s.db.path, short(s.info.Key), err)
	}
	return out, nil
}

// ViewPut is a sample of a dataset and the entry its view should hold.
type ViewPut struct {
	ID    string
	Entry ViewEntry
}

// ViewResult says what ApplyView did.
type ViewResult struct {
	// Changed counts the samples whose content changed, and those with a
	// vector from before format 2 whose file was modified after the set
	// was created: their vectors were dropped.
	Changed int
	Removed int // samples that left the view, with their vectors
	Copied  int // samples whose generation-0 vector was copied from equal content
	Adopted int // vectors stored before format 2 that entered the view as they are
}

// ApplyView brings the set's view up to date with puts (samples of the
// dataset and their entries) and removes (IDs that left the dataset), a
// batch per transaction, so that a kill at any point leaves a consistent
// file that a rerun finishes. A sample whose hash differs from the one in
// the view loses its vectors and error records in every generation (later
// generations that held it are no longer complete); a sample without a
// generation-0 vector gets a copy of the vector of equal content from any
// set of the same feature space, when there is one; a vector stored before
// format 2, without a view entry, is adopted as the sample's when its file
// was not modified after the set was created, and dropped as a changed
// sample's otherwise. Only generation 0 is copied here: a re-aligned
// generation copies its own (AdoptAligned). A
// sample's view entry is written only once it holds a generation-0 vector:
// here for a copy or an adoption, else by PutViewBatch with the extracted
// vector, so that a sample in the view always has one.
func (s *Set) ApplyView(puts []ViewPut, removes []string) (ViewResult, error) {
	var res ViewResult
	if s.info.Import != nil {
		return res, fmt.Errorf("cache: %s: set %s is imported: it has no view", s.db.path, s.ShortKey())
	}
	for _, id := range removes {
		if err := checkID(id); err != nil {
			return res, fmt.Errorf("cache: %s: set %s: %w", s.db.path, s.ShortKey(), err)
		}
	}
	for lo := 0; lo < len(puts) || lo == 0 && len(removes) > 0; lo += viewBatch {
		batch := puts[min(lo, len(puts)):min(lo+viewBatch, len(puts))]
		var rm []string
		if lo+viewBatch >= len(puts) {
			rm = removes
		}
		var r ViewResult
		err := s.db.update("updating the view", func(tx *bolt.Tx) error {
			r = ViewResult{}
			return s.applyView(tx, batch, rm, &r)
		})
		if err != nil {
			return res, fmt.Errorf("cache: %s: set %s: %w", s.db.path, s.ShortKey(), err)
		}
		res.Changed += r.Changed
		res.Removed += r.Removed
		res.Copied += r.Copied
		res.Adopted += r.Adopted
	}
	return res, nil
}

func (s *Set) applyView(tx *bolt.Tx, puts []ViewPut, removes []string, r *ViewResult) error {
	sb, err := s.setBucket(tx)
	if err != nil {
		return err
	}
	view, err := sb.CreateBucketIfNotExists(bucketView)
	if err != nil {
		return err
	}
	space, err := s.spaceBucket(tx)
	if err != nil {
		return err
	}
	g0 := sb.Bucket(keyGens).Bucket(genKey(0))
	if g0 == nil {
		return fmt.Errorf("%w: generation 0 is missing", ErrCorrupt)
	}
	vec0, err0 := g0.Bucket(bucketVec), g0.Bucket(bucketErr)
	n0, err := readCount(g0)
	if err != nil {
		return err
	}
	for _, p := range puts {
		if err := checkID(p.ID); err != nil {
			return err
		}
		k := []byte(p.ID)
		enc := encodeViewEntry(p.Entry)
		old := view.Get(k)
		switch {
		case old != nil && bytes.Equal(old[:min(len(old), sha256.Size)], p.Entry.Hash[:]):
			if !bytes.Equal(old, enc) { // same content, new stat
				if err := view.Put(k, enc); err != nil {
					return err
				}
			}
			continue
		case old == nil && vec0.Get(k) != nil && p.Entry.MtimeNS <= s.info.Created.UnixNano():
			// A vector from before format 2 of a file not modified since
			// the set began, so since before the vector was computed:
			// adopted as the sample's.
			if err := view.Put(k, enc); err != nil {
				return err
			}
			if err := space.Put(p.Entry.Hash[:], contentRef(s.info.Key, k)); err != nil {
				return err
			}
			r.Adopted++
			continue
		case old == nil && vec0.Get(k) != nil:
			// A vector from before format 2 of a file modified after the
			// set began: nothing says which content it was computed from.
			if err := s.dropSample(tx, sb, space, k, nil); err != nil {
				return err
			}
			if n0, err = readCount(g0); err != nil {
				return err
			}
			r.Changed++
		case old != nil:
			if err := s.dropSample(tx, sb, space, k, old); err != nil {
				return err
			}
			if err := view.Delete(k); err != nil {
				return err
			}
			if n0, err = readCount(g0); err != nil {
				return err
			}
			r.Changed++
		}
		// The sample holds no vector: its entry is written with the
		// vector, copied here or extracted later (PutViewBatch).
		rec := s.findContent(tx, space, p.Entry.Hash[:])
		if rec == nil {
			continue
		}
		if err := vec0.Put(k, rec); err != nil {
			return err
		}
		if err := view.Put(k, enc); err != nil {
			return err
		}
		if err0.Get(k) != nil {
			if err := err0.Delete(k); err != nil {
				return err
			}
		}
		n0++
		if err := g0.Put(keyCount, binary.AppendUvarint(nil, uint64(n0))); err != nil {
			return err
		}
		r.Copied++
	}
	for _, id := range removes {
		k := []byte(id)
		old := view.Get(k)
		if old == nil && vec0.Get(k) == nil && err0.Get(k) == nil {
			continue
		}
		if err := s.dropSample(tx, sb, space, k, old); err != nil {
			return err
		}
		if old != nil {
			if err := view.Delete(k); err != nil {
				return err
			}
		}
		r.Removed++
	}
	return nil
}

// spaceBucket returns the content index of the set's feature space,
// creating it when missing.
func (s *Set) spaceBucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	top, err := tx.CreateBucketIfNotExists(bucketContent)
	if err != nil {
		return nil, err
	}
	return top.CreateBucketIfNotExists([]byte(spaceKey(s.info)))
}

// findContent returns a copy of a generation-0 record whose content hash
// is hash, from the set and ID the index names, or nil when the index has
// none or names a sample that no longer holds that content.
func (s *Set) findContent(tx *bolt.Tx, space *bolt.Bucket, hash []byte) []byte {
	ref := space.Get(hash)
	if ref == nil {
		return nil
	}
	key, id, err := parseContentRef(ref)
	if err != nil {
		return nil
	}
	sb := tx.Bucket(bucketSets).Bucket(key)
	if sb == nil || sb.Bucket(bucketView) == nil {
		return nil
	}
	e := sb.Bucket(bucketView).Get(id)
	if e == nil || !bytes.Equal(e[:min(len(e), sha256.Size)], hash) {
		return nil
	}
	g0 := sb.Bucket(keyGens).Bucket(genKey(0))
	if g0 == nil {
		return nil
	}
	v := g0.Bucket(bucketVec).Get(id)
	if v == nil {
		return nil
	}
	rec, err := parseRecord(v)
	if err != nil || rec.dim != s.info.Dim || rec.dtype != s.dtype {
		return nil
	}
	return bytes.Clone(v)
}

// dropSample deletes sample k's vectors and error records in every
// generation of the set (a later generation that held it is no longer
// complete) and its content index entry when that names it; old is its
// view entry (nil for none).
func (s *Set) dropSample(tx *bolt.Tx, sb, space *bolt.Bucket, k, old []byte) error {
	gens := sb.Bucket(keyGens)
	var done *bolt.Bucket
	if rb := tx.Bucket(bucketRecords); rb != nil {
		done = rb.Bucket([]byte(completeNS))
	}
	err := gens.ForEachBucket(func(gk []byte) error {
		gb := gens.Bucket(gk)
		vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
		if eb.Get(k) != nil {
			if err := eb.Delete(k); err != nil {
				return err
			}
		}
		if vb.Get(k) == nil {
			return nil
		}
		if err := vb.Delete(k); err != nil {
			return err
		}
		n, err := readCount(gb)
		if err != nil {
			return err
		}
		if err := gb.Put(keyCount, binary.AppendUvarint(nil, uint64(max(0, n-1)))); err != nil {
			return err
		}
		if gen := binary.BigEndian.Uint32(gk); gen > 0 && done != nil {
			return done.Delete([]byte(s.completeKey(int(gen))))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(old) >= sha256.Size {
		if ref := space.Get(old[:sha256.Size]); ref != nil && bytes.Equal(ref, contentRef(s.info.Key, k)) {
			return space.Delete(old[:sha256.Size])
		}
	}
	return nil
}

// PutViewBatch stores generation-0 vectors as PutBatchWithErrors does and,
// in the same transaction, the view entry of each stored sample
// (entries[i] for ids[i]) and its content index entry.
func (s *Set) PutViewBatch(ids []string, vecs []float32, errs []SampleError, entries []ViewEntry) error {
	if len(entries) != len(ids) {
		return s.wrap(0, fmt.Errorf("%d view entries for %d samples: %w", len(entries), len(ids), ErrMismatch))
	}
	if s.info.Import != nil {
		return s.wrap(0, fmt.Errorf("set %s is imported: it has no view", s.ShortKey()))
	}
	return s.putBatch(0, ids, vecs, errs, entries)
}

// indexBatch records the view entries of ids (just stored in generation 0)
// when entries is not nil, and adds the samples of ids that have a view
// entry to the content index of the set's space.
func (s *Set) indexBatch(tx *bolt.Tx, sb *bolt.Bucket, ids []string, entries []ViewEntry) error {
	if s.info.Import != nil {
		return nil
	}
	view := sb.Bucket(bucketView)
	if entries != nil {
		var err error
		if view, err = sb.CreateBucketIfNotExists(bucketView); err != nil {
			return err
		}
		for i, id := range ids {
			if err := view.Put([]byte(id), encodeViewEntry(entries[i])); err != nil {
				return err
			}
		}
	}
	if view == nil {
		return nil
	}
	space, err := s.spaceBucket(tx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e := view.Get([]byte(id))
		if len(e) < sha256.Size {
			continue
		}
		if err := space.Put(e[:sha256.Size], contentRef(s.info.Key, []byte(id))); err != nil {
			return err
		}
	}
	return nil
}
