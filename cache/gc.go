package cache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// GCSet is a feature set that GC drops, and why.
type GCSet struct {
	Key     string `json:"key"`
	Dataset string `json:"dataset"`
	Output  string `json:"output"`
	Samples int    `json:"samples"`
	// Bytes is the size of its keys and values (vectors, view, metadata):
	// the space its pages free inside the file.
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
}

// GCResult is what GC dropped, or would drop on a dry run.
type GCResult struct {
	Sets  []GCSet `json:"sets"`
	Bytes int64   `json:"bytes"`
	// DryRun says nothing was changed.
	DryRun bool `json:"dry_run"`
}

// GC drops the feature sets that nothing references any more: extracted
// sets whose dataset (a folder:, csv: or idx: spec, by its normalised
// path) no longer exists, extracted sets superseded by a newer set of the
// same model, output, preprocessing and dataset (format-1 sets of a pool
// that grew), and sets imported by reference whose file is gone or holds
// other content now. Their content index entries and completion records go
// with them; labels and other records stay. Sets of fashion-mnist: and
// imported sets whose vectors the cache holds are always kept. With dryRun
// it changes nothing and says what it would drop. bbolt reuses freed pages
// but does not shrink the file: Compact does.
func (db *DB) GC(dryRun bool) (GCResult, error) {
	res := GCResult{DryRun: dryRun, Sets: []GCSet{}}
	infos, err := db.Sets()
	if err != nil {
		return res, err
	}
	drop := map[string]string{}
	for _, si := range infos {
		if si.Import != nil {
			if si.Import.Ref != nil {
				if n, err := db.newSet(si).OpenReference(); err == nil {
					n.Close()
				} else if sourceGone(err) {
					drop[si.Key] = fmt.Sprintf("the file it refers to, %s, is gone or changed since the import", si.Import.Ref.Path)
				}
			}
			continue
		}
		if p := specPath(si.Dataset); p != "" {
			if _, err := os.Stat(p); err != nil {
				drop[si.Key] = fmt.Sprintf("its dataset is gone (%v)", err)
				continue
			}
		}
		for _, o := range infos {
			if o.Key != si.Key && o.Import == nil && o.ModelSHA256 == si.ModelSHA256 && o.Output == si.Output &&
				o.CardHash == si.CardHash && sameSpec(o.Dataset, si.Dataset) && o.Created.After(si.Created) {
				drop[si.Key] = fmt.Sprintf("superseded by set %s of the same dataset", short(o.Key))
				break
			}
		}
	}
	err = db.view(func(tx *bolt.Tx) error {
		for _, si := range infos {
			why, ok := drop[si.Key]
			if !ok {
				continue
			}
			sb := tx.Bucket(bucketSets).Bucket([]byte(si.Key))
			g := GCSet{Key: si.Key, Dataset: si.Dataset, Output: si.Output, Bytes: bucketBytes(sb), Reason: why}
			if g0 := sb.Bucket(keyGens).Bucket(genKey(0)); g0 != nil {
				g.Samples, _ = readCount(g0)
			}
			if si.Import != nil && si.Import.Ref != nil {
				g.Samples = si.Import.Rows // their vectors were in the file
			}
			res.Sets = append(res.Sets, g)
			res.Bytes += g.Bytes
		}
		return nil
	})
	if err != nil || dryRun || len(res.Sets) == 0 {
		return res, db.wrapPath(err)
	}
	err = db.update("dropping unreferenced feature sets", func(tx *bolt.Tx) error {
		sets := tx.Bucket(bucketSets)
		for _, g := range res.Sets {
			if err := sets.DeleteBucket([]byte(g.Key)); err != nil {
				return fmt.Errorf("set %s: %w", short(g.Key), err)
			}
		}
		if top := tx.Bucket(bucketContent); top != nil {
			var spaces [][]byte
			_ = top.ForEachBucket(func(k []byte) error { spaces = append(spaces, bytes.Clone(k)); return nil })
			for _, sp := range spaces {
				b := top.Bucket(sp)
				var stale [][]byte
				_ = b.ForEach(func(h, v []byte) error {
					if key, _, err := parseContentRef(v); err == nil {
						if _, ok := drop[string(key)]; ok {
							stale = append(stale, bytes.Clone(h))
						}
					}
					return nil
				})
				for _, h := range stale {
					if err := b.Delete(h); err != nil {
						return err
					}
				}
			}
		}
		if done := tx.Bucket(bucketRecords).Bucket([]byte(completeNS)); done != nil {
			var stale [][]byte
			_ = done.ForEach(func(k, _ []byte) error {
				if key, _, ok := strings.Cut(string(k), "/"); ok {
					if _, gone := drop[key]; gone {
						stale = append(stale, bytes.Clone(k))
					}
				}
				return nil
			})
			for _, k := range stale {
				if err := done.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, db.wrapPath(err)
}

// specPath is the file or folder a normalised folder:, csv: or idx: spec
// names, "" for other specs.
func specPath(spec string) string {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "folder", "csv":
		return arg
	case "idx":
		if _, err := os.Stat(arg); err == nil {
			return arg
		}
		if i := strings.LastIndexByte(arg, ':'); i > 0 {
			return arg[:i]
		}
		return arg
	}
	return ""
}

// bucketBytes is the size of the keys and values in b and its nested buckets.
func bucketBytes(b *bolt.Bucket) int64 {
	var n int64
	_ = b.ForEach(func(k, v []byte) error {
		n += int64(len(k) + len(v))
		if v == nil {
			n += bucketBytes(b.Bucket(k))
		}
		return nil
	})
	return n
}

// Compact writes a compacted copy of the cache at path (which no process
// may have open) and puts it in path's place atomically: bbolt reuses the
// pages that GC frees but never shrinks its file. It returns the sizes
// before and after.
func Compact(path string) (before, after int64, err error) {
	src, err := Open(path, nil) // migrates a format-1 file first
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".compact-*")
	if err != nil {
		return 0, 0, fmt.Errorf("cache: compacting %s: %w", path, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	os.Remove(tmpName)
	defer os.Remove(tmpName) // after a failure
	dst, err := bolt.Open(tmpName, 0o644, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("cache: compacting %s: %w", path, err)
	}
	if err := bolt.Compact(dst, src.bolt, 64<<20); err != nil {
		dst.Close()
		return 0, 0, fmt.Errorf("cache: compacting %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		return 0, 0, fmt.Errorf("cache: compacting %s: %w", path, err)
	}
	nst, err := os.Stat(tmpName)
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmpName, path); err != nil {
		return 0, 0, fmt.Errorf("cache: compacting %s: %w", path, err)
	}
	return st.Size(), nst.Size(), nil
}
