package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Magic is the value of the "magic" key in the meta bucket of every cache.
const Magic = "asvp feature cache"

// FormatVersion is the cache format this package writes. It reads this
// version and older ones, and refuses newer ones with ErrVersion.
const FormatVersion = 1

// defaultLockTimeout is how long Open waits for another process to release the file.
const defaultLockTimeout = time.Second

var (
	bucketMeta    = []byte("meta")
	bucketSets    = []byte("sets")
	bucketLabels  = []byte("labels")
	bucketRecords = []byte("records")

	keyMagic   = []byte("magic")
	keyVersion = []byte("version")
)

// Options configures Open. The zero value (or nil) opens for writing,
// creating the file when it is missing, with durable commits.
type Options struct {
	// ReadOnly opens an existing cache with a shared lock; every write
	// method then fails with ErrReadOnly.
	ReadOnly bool
	// NoSync skips fsync after each commit. A crash may then corrupt the
	// file: for tests and benchmarks only.
	NoSync bool
	// LockTimeout is how long to wait for another process to close the
	// cache; zero means one second.
	LockTimeout time.Duration
}

// DB is an open cache file.
type DB struct {
	bolt     *bolt.DB
	path     string
	readOnly bool
}

// Open opens the cache at path, creating it when it is missing unless
// opts.ReadOnly is set.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = defaultLockTimeout
	}
	if o.ReadOnly {
		// bbolt would report a missing file as a bare ENOENT; say what was meant.
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("cache: opening %s read-only: %w", path, err)
		}
	}
	bdb, err := bolt.Open(path, 0o644, &bolt.Options{
		Timeout:  o.LockTimeout,
		ReadOnly: o.ReadOnly,
		NoSync:   o.NoSync,
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("cache: %s is open in another asvp process (no lock after %v); close it or use another cache file: %w: %w",
				path, o.LockTimeout, ErrLocked, err)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch):
			return nil, fmt.Errorf("cache: %s is not a bbolt file: %w (%v)", path, ErrNotCache, err)
		case errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("cache: opening %s: %w", path, err)
		}
		if isDiskFull(err) {
			return nil, fmt.Errorf("cache: creating %s: %w: %w", path, ErrDiskFull, err)
		}
		return nil, fmt.Errorf("cache: opening %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path, readOnly: o.ReadOnly}
	if err := db.checkMeta(); err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

// checkMeta verifies the meta bucket, creating it (and the top-level
// buckets) in a new, empty bbolt file.
func (db *DB) checkMeta() error {
	var missing, empty bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			missing = true
			empty = tx.ForEach(func([]byte, *bolt.Bucket) error { return errStop }) == nil
			return nil
		}
		if string(meta.Get(keyMagic)) != Magic {
			return fmt.Errorf("cache: %s: %w (bad magic %q)", db.path, ErrNotCache, meta.Get(keyMagic))
		}
		v, err := strconv.Atoi(string(meta.Get(keyVersion)))
		if err != nil || v < 1 {
			return fmt.Errorf("cache: %s: %w (bad format version %q)", db.path, ErrNotCache, meta.Get(keyVersion))
		}
		if v > FormatVersion {
			return fmt.Errorf("cache: %s has format version %d, this asvp reads up to %d (upgrade asvp): %w",
				db.path, v, FormatVersion, ErrVersion)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !missing {
		return nil
	}
	if !empty {
		return fmt.Errorf("cache: %s is a bbolt file without asvp metadata: %w", db.path, ErrNotCache)
	}
	if db.readOnly {
		return fmt.Errorf("cache: %s is an empty bbolt file: %w", db.path, ErrNotCache)
	}
	err = db.update("initializing", func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyMagic, []byte(Magic)); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, []byte(strconv.Itoa(FormatVersion))); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketSets, bucketLabels, bucketRecords} {
			if _, err := tx.CreateBucket(name); err != nil {
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

var errStop = errors.New("stop")

// Close closes the cache file.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("cache: closing %s: %w", db.path, err)
	}
	return nil
}

// Path returns the path the cache was opened with.
func (db *DB) Path() string { return db.path }

// ReadOnly reports whether the cache was opened read-only.
func (db *DB) ReadOnly() bool { return db.readOnly }

// update runs fn in one read-write transaction and gives failures a message
// that says what was being written; callers add the "cache: PATH" prefix.
func (db *DB) update(what string, fn func(tx *bolt.Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", what, ErrReadOnly)
	}
	err := db.bolt.Update(fn)
	if err == nil {
		return nil
	}
	if isDiskFull(err) {
		return fmt.Errorf("%s: %w (nothing of this write was kept): %w", what, ErrDiskFull, err)
	}
	if errors.Is(err, berrors.ErrDatabaseReadOnly) {
		return fmt.Errorf("%s: %w", what, ErrReadOnly)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// view runs fn in one read-only transaction.
func (db *DB) view(fn func(tx *bolt.Tx) error) error { return db.bolt.View(fn) }

// isDiskFull reports whether err comes from a full disk or a file-size limit.
// bbolt formats some I/O errors with %s, so the message is checked too.
func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EFBIG) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EFBIG.Error()) ||
		strings.Contains(msg, syscall.EDQUOT.Error())
}

// wrapPath prefixes err, if any, with the package name and the cache path.
func (db *DB) wrapPath(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("cache: %s: %w", db.path, err)
}
