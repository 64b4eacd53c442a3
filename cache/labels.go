package cache

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

var (
	keyClasses = []byte("classes")
	bucketIDs  = []byte("ids")
)

// PutLabels replaces the label set name (for example "oracle" or "human")
// with labels, which maps sample IDs to indices into classes. It is one
// transaction.
func (db *DB) PutLabels(name string, classes []string, labels map[string]int) error {
	return db.writeLabels(name, classes, labels, true)
}

// AddLabels adds labels to the label set name, creating it with classes when
// it is missing; an existing set must have the same classes. Labels of IDs
// already present are replaced.
func (db *DB) AddLabels(name string, classes []string, labels map[string]int) error {
	return db.writeLabels(name, classes, labels, false)
}

func (db *DB) writeLabels(name string, classes []string, labels map[string]int, replace bool) error {
	if name == "" {
		return fmt.Errorf("cache: empty label set name")
	}
	if len(classes) == 0 {
		return fmt.Errorf("cache: label set %q: no classes", name)
	}
	for id, c := range labels {
		if err := checkID(id); err != nil {
			return fmt.Errorf("cache: label set %q: %w", name, err)
		}
		if c < 0 || c >= len(classes) {
			return fmt.Errorf("cache: label set %q: sample %q has class %d, want 0..%d", name, id, c, len(classes)-1)
		}
	}
	classJSON, _ := json.Marshal(classes)
	err := db.update(fmt.Sprintf("writing label set %q", name), func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketLabels)
		if replace && root.Bucket([]byte(name)) != nil {
			if err := root.DeleteBucket([]byte(name)); err != nil {
				return err
			}
		}
		lb, err := root.CreateBucketIfNotExists([]byte(name))
		if err != nil {
			return err
		}
		if old := lb.Get(keyClasses); old != nil {
			var have []string
			if err := json.Unmarshal(old, &have); err != nil {
				return fmt.Errorf("%w: label set %q classes: %w", ErrCorrupt, name, err)
			}
			if !slices.Equal(have, classes) {
				return fmt.Errorf("label set %q has classes %q, not %q: %w", name, have, classes, ErrMismatch)
			}
		} else if err := lb.Put(keyClasses, classJSON); err != nil {
			return err
		}
		ids, err := lb.CreateBucketIfNotExists(bucketIDs)
		if err != nil {
			return err
		}
		for id, c := range labels {
			if err := ids.Put([]byte(id), binary.AppendUvarint(nil, uint64(c))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: %s: %w", db.path, err)
	}
	return nil
}

// Labels returns the classes and the ID -> class index map of the label set
// name, or ErrNotFound.
func (db *DB) Labels(name string) (classes []string, labels map[string]int, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		lb := tx.Bucket(bucketLabels).Bucket([]byte(name))
		if lb == nil {
			return fmt.Errorf("label set %q: %w", name, ErrNotFound)
		}
		if err := json.Unmarshal(lb.Get(keyClasses), &classes); err != nil {
			return fmt.Errorf("%w: label set %q classes: %w", ErrCorrupt, name, err)
		}
		labels = map[string]int{}
		return lb.Bucket(bucketIDs).ForEach(func(k, v []byte) error {
			c, n := binary.Uvarint(v)
			if n <= 0 || c >= uint64(len(classes)) {
				return fmt.Errorf("%w: label set %q: sample %q: bad class", ErrCorrupt, name, k)
			}
			labels[string(k)] = int(c)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cache: %s: %w", db.path, err)
	}
	return classes, labels, nil
}

// LabelSets returns the names of the stored label sets in order.
func (db *DB) LabelSets() ([]string, error) {
	var out []string
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLabels).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, db.wrapPath(err)
}
