package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	bolt "go.etcd.io/bbolt"
)

// Migration says what Open did to bring a cache of an older format up to
// FormatVersion.
type Migration struct {
	// From is the format version the file had.
	From int `json:"from"`
	// Backup is the copy of the file as it was, FILE.v1.bak; an existing
	// backup is kept, not overwritten.
	Backup string `json:"backup"`
	// Specs maps each dataset spec that was made absolute to its new form
	// (datasets.NormalizeSpec, relative to the migrating process's folder).
	Specs map[string]string `json:"specs,omitempty"`
}

// Migrated returns what Open's migration did, or nil when the file was
// already in the current format (or opened read-only).
func (db *DB) Migrated() *Migration { return db.migrated }

// Version returns the format version the file had when it was opened (the
// current one after a migration).
func (db *DB) Version() int { return db.version }

// migrate brings a format-1 file to format 2, in one transaction, after
// copying it to FILE.v1.bak. Format 2 adds each set's view and the content
// index, both filled by extraction (a format-1 set's vectors are adopted by
// its next extraction: see ApplyView), and stores dataset specs in their
// normalised form: the sets' and their oracle label sets'. Vectors,
// generations, labels and records are otherwise left as they are, so every
// set keeps its key.
func (db *DB) migrate() error {
	m := &Migration{From: db.version, Backup: db.path + ".v" + strconv.Itoa(db.version) + ".bak", Specs: map[string]string{}}
	if _, err := os.Stat(m.Backup); errors.Is(err, fs.ErrNotExist) {
		err := db.view(func(tx *bolt.Tx) error { return tx.CopyFile(m.Backup, 0o644) })
		if err != nil {
			return fmt.Errorf("cache: %s: backing up to %s before migrating from format %d: %w", db.path, m.Backup, db.version, err)
		}
	}
	err := db.update(fmt.Sprintf("migrating from format %d to %d", db.version, FormatVersion), func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketContent); err != nil {
			return err
		}
		sets := tx.Bucket(bucketSets)
		var keys [][]byte
		if err := sets.ForEachBucket(func(k []byte) error { keys = append(keys, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, k := range keys {
			sb := sets.Bucket(k)
			si, err := decodeSetInfo(sb.Get(keyInfo))
			if err != nil {
				return fmt.Errorf("set %s: %w", short(string(k)), err)
			}
			if si.Import != nil {
				continue
			}
			if n := datasets.NormalizeSpec(si.Dataset); n != si.Dataset {
				m.Specs[si.Dataset] = n
				si.Dataset = n
				if err := sb.Put(keyInfo, encodeSetInfo(si)); err != nil {
					return err
				}
			}
		}
		labels := tx.Bucket(bucketLabels)
		var names [][]byte
		if err := labels.ForEachBucket(func(k []byte) error { names = append(names, bytes.Clone(k)); return nil }); err != nil {
			return err
		}
		for _, name := range names {
			spec, ok := strings.CutPrefix(string(name), oraclePrefix)
			if !ok {
				continue
			}
			n := datasets.NormalizeSpec(spec)
			if n == spec || labels.Bucket([]byte(oraclePrefix+n)) != nil {
				continue
			}
			m.Specs[spec] = n
			dst, err := labels.CreateBucket([]byte(oraclePrefix + n))
			if err != nil {
				return err
			}
			if err := copyBucket(dst, labels.Bucket(name)); err != nil {
				return fmt.Errorf("label set %q: %w", name, err)
			}
			if err := labels.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte(strconv.Itoa(FormatVersion)))
	})
	if err != nil {
		return fmt.Errorf("cache: %s: %w (the file is unchanged; %s is a copy)", db.path, err, m.Backup)
	}
	db.version = FormatVersion
	db.migrated = m
	return nil
}

// copyBucket copies every key and nested bucket of src into dst.
func copyBucket(dst, src *bolt.Bucket) error {
	return src.ForEach(func(k, v []byte) error {
		if v != nil {
			return dst.Put(bytes.Clone(k), bytes.Clone(v))
		}
		child, err := dst.CreateBucket(bytes.Clone(k))
		if err != nil {
			return err
		}
		return copyBucket(child, src.Bucket(k))
	})
}
