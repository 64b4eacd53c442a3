package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// mergeChunkBytes bounds the vector bytes written per transaction by Merge,
// so merging large shards does not hold everything in memory at once.
const mergeChunkBytes = 32 << 20

// Merge copies the feature sets, label sets and records of srcs into dst.
// Sets with the same key (shards of one extraction share it) are joined: the
// result holds the union of their samples and generations, and its Shard
// becomes "" once every shard i/n is present. The same sample with different
// vectors, a generation whose dimension or source differs, a sample labeled
// differently, or a record with a different value is an error (ErrConflict
// or ErrMismatch) naming it. Each source is checked while read: a corrupt
// record stops the merge. Merge writes in several transactions, so after an
// error dst may hold part of the sources; merge into a new file.
func Merge(dst *DB, srcs ...*DB) error {
	dabs, _ := filepath.Abs(dst.path)
	for _, src := range srcs {
		if sabs, _ := filepath.Abs(src.path); sabs == dabs {
			return fmt.Errorf("cache: cannot merge %s into itself", src.path)
		}
		if err := mergeOne(dst, src); err != nil {
			return fmt.Errorf("cache: merging %s into %s: %w", src.path, dst.path, err)
		}
	}
	return nil
}

func mergeOne(dst, src *DB) error {
	infos, err := src.Sets()
	if err != nil {
		return err
	}
	for _, si := range infos {
		if err := mergeSet(dst, src, si); err != nil {
			return fmt.Errorf("set %s: %w", short(si.Key), err)
		}
	}
	if err := mergeContent(dst, src); err != nil {
		return err
	}
	names, err := src.LabelSets()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := mergeLabels(dst, src, name); err != nil {
			return err
		}
	}
	return mergeRecords(dst, src)
}

// joinShards returns the Shard of the union of a and b.
func joinShards(a, b string) (string, error) {
	if a == "" || b == "" {
		return "", nil
	}
	na, ia, err := parseShards(a)
	if err != nil {
		return "", err
	}
	nb, ib, err := parseShards(b)
	if err != nil {
		return "", err
	}
	if na != nb {
		return "", fmt.Errorf("shards %q and %q split into different counts: %w", a, b, ErrMismatch)
	}
	all := slices.Compact(slices.Sorted(slices.Values(append(ia, ib...))))
	if len(all) == na {
		return "", nil
	}
	parts := make([]string, len(all))
	for i, x := range all {
		parts[i] = strconv.Itoa(x) + "/" + strconv.Itoa(na)
	}
	return strings.Join(parts, ","), nil
}

func mergeSet(dst, src *DB, si SetInfo) error {
	ss := src.newSet(si)
	gens, err := ss.Generations()
	if err != nil {
		return err
	}
	// Create or join the set and its generations in one transaction.
	err = dst.update("merging set", func(tx *bolt.Tx) error {
		sets := tx.Bucket(bucketSets)
		sb := sets.Bucket([]byte(si.Key))
		if sb == nil {
			var err error
			if sb, err = sets.CreateBucket([]byte(si.Key)); err != nil {
				return err
			}
			if err := sb.Put(keyInfo, encodeSetInfo(si)); err != nil {
				return err
			}
			if _, err := sb.CreateBucket(keyGens); err != nil {
				return err
			}
		} else {
			have, err := decodeSetInfo(sb.Get(keyInfo))
			if err != nil {
				return err
			}
			if have.Dim != si.Dim || have.DType != si.DType {
				return fmt.Errorf("%s dimension %d here, %s dimension %d in the source: %w", have.DType, have.Dim, si.DType, si.Dim, ErrMismatch)
			}
			if have.Shard, err = joinShards(have.Shard, si.Shard); err != nil {
				return err
			}
			if err := sb.Put(keyInfo, encodeSetInfo(have)); err != nil {
				return err
			}
		}
		gb := sb.Bucket(keyGens)
		for _, g := range gens {
			b := gb.Bucket(genKey(g.N))
			if b == nil {
				if err := createGen(gb, g); err != nil {
					return err
				}
				continue
			}
			have, err := decodeGenInfo(b.Get(keyInfo))
			if err != nil {
				return err
			}
			if have.Dim != g.Dim || have.Source != g.Source || (g.N > 0 && !maps.Equal(have.Provenance, g.Provenance)) {
				return fmt.Errorf("generation %d differs (dimension %d/%d, source %q/%q, provenance %v/%v): %w",
					g.N, have.Dim, g.Dim, have.Source, g.Source, have.Provenance, g.Provenance, ErrMismatch)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	ds := dst.newSet(si)
	for _, g := range gens {
		if err := mergeGen(ds, ss, g.N); err != nil {
			return fmt.Errorf("generation %d: %w", g.N, err)
		}
	}
	return mergeView(ds, ss)
}

// mergeView copies the view entries of ss into ds in chunks; the same
// sample with different content in the two is an ErrConflict.
func mergeView(ds, ss *Set) error {
	type kv struct{ k, v []byte }
	var chunk []kv
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := ds.db.update("merging the view", func(tx *bolt.Tx) error {
			sb, err := ds.setBucket(tx)
			if err != nil {
				return err
			}
			vb, err := sb.CreateBucketIfNotExists(bucketView)
			if err != nil {
				return err
			}
			for _, e := range chunk {
				if old := vb.Get(e.k); old != nil {
					if !bytes.Equal(old[:min(len(old), len(e.v), 32)], e.v[:min(len(e.v), 32)]) {
						return fmt.Errorf("sample %q has different content in the inputs: %w", e.k, ErrConflict)
					}
					continue
				}
				if err := vb.Put(e.k, e.v); err != nil {
					return err
				}
			}
			return nil
		})
		chunk = chunk[:0]
		return err
	}
	err := ss.db.view(func(tx *bolt.Tx) error {
		sb, err := ss.setBucket(tx)
		if err != nil {
			return err
		}
		vb := sb.Bucket(bucketView)
		if vb == nil {
			return nil
		}
		return vb.ForEach(func(k, v []byte) error {
			if _, err := decodeViewEntry(v); err != nil {
				return fmt.Errorf("source view of sample %q: %w", k, err)
			}
			chunk = append(chunk, kv{bytes.Clone(k), bytes.Clone(v)})
			if len(chunk) == viewBatch {
				return flush()
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	return flush()
}

// mergeContent adds the content index entries of src that dst lacks; run
// after the sets, whose samples they name, are merged.
func mergeContent(dst, src *DB) error {
	type entry struct{ space, h, ref []byte }
	var all []entry
	err := src.view(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketContent)
		if top == nil {
			return nil
		}
		return top.ForEachBucket(func(space []byte) error {
			return top.Bucket(space).ForEach(func(h, v []byte) error {
				all = append(all, entry{bytes.Clone(space), bytes.Clone(h), bytes.Clone(v)})
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	for lo := 0; lo < len(all); lo += viewBatch {
		batch := all[lo:min(lo+viewBatch, len(all))]
		err := dst.update("merging the content index", func(tx *bolt.Tx) error {
			top, err := tx.CreateBucketIfNotExists(bucketContent)
			if err != nil {
				return err
			}
			for _, e := range batch {
				sp, err := top.CreateBucketIfNotExists(e.space)
				if err != nil {
					return err
				}
				if sp.Get(e.h) == nil {
					if err := sp.Put(e.h, e.ref); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// mergeGen copies generation gen's vectors and errors from ss into ds in chunks.
func mergeGen(ds, ss *Set, gen int) error {
	type kv struct{ k, v []byte }
	var chunk []kv
	size := 0
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := ds.db.update("merging vectors", func(tx *bolt.Tx) error {
			gb, _, err := ds.genBucket(tx, gen)
			if err != nil {
				return err
			}
			n, err := readCount(gb)
			if err != nil {
				return err
			}
			vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
			for _, e := range chunk {
				if old := vb.Get(e.k); old != nil {
					if !bytes.Equal(old, e.v) {
						return fmt.Errorf("sample %q has different vectors in the inputs: %w", e.k, ErrConflict)
					}
					continue
				}
				if err := vb.Put(e.k, e.v); err != nil {
					return err
				}
				n++
				if eb.Get(e.k) != nil {
					if err := eb.Delete(e.k); err != nil {
						return err
					}
				}
			}
			return gb.Put(keyCount, binary.AppendUvarint(nil, uint64(n)))
		})
		chunk, size = chunk[:0], 0
		return err
	}
	var errs []SampleError
	err := ss.db.view(func(tx *bolt.Tx) error {
		gb, g, err := ss.genBucket(tx, gen)
		if err != nil {
			return err
		}
		c := gb.Bucket(bucketVec).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := parseRecord(v)
			if err != nil {
				return fmt.Errorf("source sample %q: %w", k, err)
			}
			if r.dim != g.Dim || r.dtype != ss.dtype {
				return fmt.Errorf("source sample %q has dimension %d dtype %d: %w", k, r.dim, r.dtype, ErrCorrupt)
			}
			chunk = append(chunk, kv{bytes.Clone(k), bytes.Clone(v)})
			if size += len(v); size >= mergeChunkBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return gb.Bucket(bucketErr).ForEach(func(k, v []byte) error {
			var se SampleError
			if err := json.Unmarshal(v, &se); err != nil {
				return fmt.Errorf("%w: source error record %q: %w", ErrCorrupt, k, err)
			}
			se.ID = string(k)
			errs = append(errs, se)
			return nil
		})
	})
	if err == nil {
		err = flush()
	}
	if err != nil || len(errs) == 0 {
		return err
	}
	// Errors of samples that another shard did extract are dropped.
	return ds.db.update("merging errors", func(tx *bolt.Tx) error {
		gb, _, err := ds.genBucket(tx, gen)
		if err != nil {
			return err
		}
		vb, eb := gb.Bucket(bucketVec), gb.Bucket(bucketErr)
		for _, se := range errs {
			if vb.Get([]byte(se.ID)) != nil {
				continue
			}
			v, _ := json.Marshal(SampleError{Path: se.Path, Reason: se.Reason})
			if err := eb.Put([]byte(se.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func mergeLabels(dst, src *DB, name string) error {
	classes, labels, err := src.Labels(name)
	if err != nil {
		return err
	}
	dc, dl, err := dst.Labels(name)
	switch {
	case err == nil:
		if !slices.Equal(dc, classes) {
			return fmt.Errorf("label set %q has classes %q and %q: %w", name, dc, classes, ErrMismatch)
		}
		for _, id := range slices.Sorted(maps.Keys(labels)) {
			if c, ok := dl[id]; ok && c != labels[id] {
				return fmt.Errorf("label set %q: sample %q labeled %q and %q: %w", name, id, classes[c], classes[labels[id]], ErrConflict)
			}
		}
	case !isNotFound(err):
		return err
	}
	return dst.AddLabels(name, classes, labels)
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }

func mergeRecords(dst, src *DB) error {
	var nss []string
	if err := src.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEachBucket(func(k []byte) error {
			nss = append(nss, string(k))
			return nil
		})
	}); err != nil {
		return err
	}
	for _, ns := range nss {
		kvs, err := src.Records(ns)
		if err != nil {
			return err
		}
		err = dst.update("merging records", func(tx *bolt.Tx) error {
			b, err := tx.Bucket(bucketRecords).CreateBucketIfNotExists([]byte(ns))
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				if old := b.Get([]byte(kv.Key)); old != nil {
					if !bytes.Equal(old, kv.Value) {
						return fmt.Errorf("record %s/%s differs between inputs: %w", ns, kv.Key, ErrConflict)
					}
					continue
				}
				if err := b.Put([]byte(kv.Key), kv.Value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
