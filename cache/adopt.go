package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// This file shares re-aligned generations across views. A generation's
// vectors are determined by the content of each sample, the feature space
// of its set (model, output, preprocessing, dtype, dimension) and what
// re-aligned it: the ONNX model it was re-extracted with, or the tuned
// network of a fine-tune. Two sets of one space holding generations
// aligned the same way therefore hold equal vectors for equal content, and
// AdoptAligned copies them instead of computing them again.

// alignmentIdentity returns what determines the vectors of generation g
// beyond the content and the set's feature space, and false when g's
// provenance does not say (its vectors are then never shared): for
// generations re-extracted with another ONNX model (Source "onnx"), the
// model's sha256, output and preprocessing (alignmentKeys); for others,
// the sha256 of the tuned network ("net_sha256"), with the cut it was
// applied at and the dtype of the activations it read, when present.
func alignmentIdentity(g GenInfo) (string, bool) {
	var keys []string
	switch {
	case g.Source == "onnx":
		keys = alignmentKeys
	case g.Provenance["net_sha256"] != "":
		keys = []string{"net_sha256", "cut", "acts_dtype", "parent_gen"}
	default:
		return "", false
	}
	var b strings.Builder
	b.WriteString(g.Source)
	for _, k := range keys {
		v, ok := g.Provenance[k]
		if !ok && g.Source == "onnx" {
			return "", false
		}
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String(), true
}

// adoption is one vector AdoptAligned copies: to sample id of the set, from
// sample from of generation gen of set key, both of content hash.
type adoption struct {
	id, key, from string
	gen           int
	hash          [sha256.Size]byte
}

// AdoptAligned copies into generation gen (above 0) the vectors that other
// sets of the same feature space already hold for equal content in a
// generation aligned the same way (see alignmentIdentity), for the samples
// of ids (nil: every sample of the set's view) that gen does not hold yet
// and whose view entry names their content. A writer calls it after
// EnsureGeneration and before computing anything, so that only the rest is
// computed. The copies are written viewBatch per transaction, each checked
// again inside it, so a killed run leaves a consistent file and a rerun
// copies the rest: the result is the same bytes. It returns the number of
// vectors copied; a generation whose provenance does not say how it was
// aligned, or a set without a view, copies none.
func (s *Set) AdoptAligned(gen int, ids []string) (int, error) {
	if gen <= 0 || s.info.Import != nil {
		return 0, nil
	}
	g, err := s.Generation(gen)
	if err != nil {
		return 0, err
	}
	identity, ok := alignmentIdentity(g)
	space := spaceKey(s.info)
	if !ok || space == "" {
		return 0, nil
	}
	var todo []adoption
	err = s.db.view(func(tx *bolt.Tx) error {
		var err error
		todo, err = s.findAdoptions(tx, gen, g.Dim, identity, space, ids)
		return err
	})
	if err != nil {
		return 0, s.wrap(gen, err)
	}
	copied := 0
	for lo := 0; lo < len(todo); lo += viewBatch {
		batch := todo[lo:min(lo+viewBatch, len(todo))]
		var n int
		err := s.db.update("copying re-aligned vectors", func(tx *bolt.Tx) error {
			var err error
			n, err = s.adopt(tx, gen, g.Dim, batch)
			return err
		})
		if err != nil {
			return copied, s.wrap(gen, err)
		}
		copied += n
	}
	return copied, nil
}

// findAdoptions returns, for the samples of ids (nil: the view) that
// generation gen lacks, where an equal vector is: a sample of equal content
// in a generation of another set of the same space and alignment identity.
func (s *Set) findAdoptions(tx *bolt.Tx, gen, dim int, identity, space string, ids []string) ([]adoption, error) {
	sb, err := s.setBucket(tx)
	if err != nil {
		return nil, err
	}
	view := sb.Bucket(bucketView)
	if view == nil {
		return nil, nil
	}
	gb, _, err := s.genBucket(tx, gen)
	if err != nil {
		return nil, err
	}
	vec := gb.Bucket(bucketVec)
	need := map[[sha256.Size]byte][]string{}
	consider := func(k, e []byte) {
		if len(e) < sha256.Size || vec.Get(k) != nil {
			return
		}
		h := [sha256.Size]byte(e[:sha256.Size])
		need[h] = append(need[h], string(k))
	}
	if ids == nil {
		if err := view.ForEach(func(k, v []byte) error { consider(k, v); return nil }); err != nil {
			return nil, err
		}
	} else {
		for _, id := range ids {
			if e := view.Get([]byte(id)); e != nil {
				consider([]byte(id), e)
			}
		}
	}
	if len(need) == 0 {
		return nil, nil
	}
	var out []adoption
	sets := tx.Bucket(bucketSets)
	err = sets.ForEachBucket(func(key []byte) error {
		if len(need) == 0 || string(key) == s.info.Key {
			return nil
		}
		ob := sets.Bucket(key)
		oview := ob.Bucket(bucketView)
		if oview == nil {
			return nil
		}
		si, err := decodeSetInfo(ob.Get(keyInfo))
		if err != nil {
			return fmt.Errorf("set %s: %w", short(string(key)), err)
		}
		if spaceKey(si) != space {
			return nil
		}
		gens := ob.Bucket(keyGens)
		return gens.ForEachBucket(func(gk []byte) error {
			ogb := gens.Bucket(gk)
			og, err := decodeGenInfo(ogb.Get(keyInfo))
			if err != nil {
				return fmt.Errorf("set %s: %w", short(string(key)), err)
			}
			if id, ok := alignmentIdentity(og); og.N == 0 || !ok || id != identity || og.Dim != dim {
				return nil
			}
			ovec := ogb.Bucket(bucketVec)
			return ovec.ForEach(func(k, _ []byte) error {
				e := oview.Get(k)
				if len(e) < sha256.Size {
					return nil
				}
				h := [sha256.Size]byte(e[:sha256.Size])
				for _, id := range need[h] {
					out = append(out, adoption{id: id, key: string(key), from: string(k), gen: og.N, hash: h})
				}
				delete(need, h)
				return nil
			})
		})
	})
	return out, err
}

// adopt copies batch into generation gen in tx, checking each copy again:
// the sample still has that content and no vector in gen, and the source
// still holds a valid record of that content, dimension and dtype. It
// returns the number copied.
func (s *Set) adopt(tx *bolt.Tx, gen, dim int, batch []adoption) (int, error) {
	sb, err := s.setBucket(tx)
	if err != nil {
		return 0, err
	}
	view := sb.Bucket(bucketView)
	gb, _, err := s.genBucket(tx, gen)
	if err != nil {
		return 0, err
	}
	vec, errs := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
	n, err := readCount(gb)
	if err != nil {
		return 0, err
	}
	copied := 0
	for _, a := range batch {
		k := []byte(a.id)
		if e := view.Get(k); len(e) < sha256.Size || !bytes.Equal(e[:sha256.Size], a.hash[:]) || vec.Get(k) != nil {
			continue
		}
		ob := tx.Bucket(bucketSets).Bucket([]byte(a.key))
		if ob == nil || ob.Bucket(bucketView) == nil {
			continue
		}
		from := []byte(a.from)
		if e := ob.Bucket(bucketView).Get(from); len(e) < sha256.Size || !bytes.Equal(e[:sha256.Size], a.hash[:]) {
			continue
		}
		ogb := ob.Bucket(keyGens).Bucket(genKey(a.gen))
		if ogb == nil {
			continue
		}
		v := ogb.Bucket(bucketVec).Get(from)
		if v == nil {
			continue
		}
		if rec, err := parseRecord(v); err != nil || rec.dim != dim || rec.dtype != s.dtype {
			continue
		}
		if err := vec.Put(k, bytes.Clone(v)); err != nil {
			return 0, fmt.Errorf("sample %q: %w", a.id, err)
		}
		if errs.Get(k) != nil {
			if err := errs.Delete(k); err != nil {
				return 0, err
			}
		}
		n++
		copied++
	}
	if copied == 0 {
		return 0, nil
	}
	return copied, gb.Put(keyCount, binary.AppendUvarint(nil, uint64(n)))
}
