package cache

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// KV is one experiment record: its key and value.
type KV struct {
	Key   string
	Value []byte
}

// PutRecord stores v under key in namespace ns, replacing any earlier value.
// Records are opaque blobs (the selector writes JSON) that make selection
// and simulation auditable and resumable.
func (db *DB) PutRecord(ns, key string, v []byte) error {
	if ns == "" || key == "" {
		return fmt.Errorf("cache: record needs a namespace and a key (got %q, %q)", ns, key)
	}
	v = bytes.Clone(v)
	if v == nil {
		v = []byte{}
	}
	return db.wrapPath(db.update(fmt.Sprintf("writing record %s/%s", ns, key), func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketRecords).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), v)
	}))
}

// Record returns a copy of the value under key in namespace ns, or ErrNotFound.
func (db *DB) Record(ns, key string) ([]byte, error) {
	var out []byte
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords).Bucket([]byte(ns))
		var v []byte
		if b != nil {
			v = b.Get([]byte(key))
		}
		if v == nil {
			return fmt.Errorf("cache: %s: record %s/%s: %w", db.path, ns, key, ErrNotFound)
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// Records returns copies of all records of namespace ns, ordered by key.
// A missing namespace has no records.
func (db *DB) Records(ns string) ([]KV, error) {
	var out []KV
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords).Bucket([]byte(ns))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil { // nested bucket: not written by this package
				return nil
			}
			out = append(out, KV{Key: string(k), Value: bytes.Clone(v)})
			return nil
		})
	})
	return out, db.wrapPath(err)
}

// DeleteRecords removes namespace ns and all its records; a missing
// namespace is not an error.
func (db *DB) DeleteRecords(ns string) error {
	return db.wrapPath(db.update(fmt.Sprintf("deleting records %s", ns), func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRecords)
		if root.Bucket([]byte(ns)) == nil {
			return nil
		}
		return root.DeleteBucket([]byte(ns))
	}))
}

// deleteRecord removes one record; a missing one is not an error.
func (db *DB) deleteRecord(ns, key string) error {
	return db.wrapPath(db.update(fmt.Sprintf("deleting record %s/%s", ns, key), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords).Bucket([]byte(ns))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	}))
}
