package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Magic is the value of the "magic" key in the meta bucket of every cache.
const Magic = "asvp feature cache"

// FormatVersion is the cache format this package writes. It reads this
// version and older ones, and refuses newer ones with ErrVersion.
const FormatVersion = 2

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
	// Shared locks the file only while a transaction runs (a shared lock
	// for reads, an exclusive one for writes, each waiting up to
	// LockTimeout), not from Open to Close: other processes can read the
	// cache between transactions, as `cache ls` does while a simulation
	// runs for hours. Each transaction opens the file, so it suits long
	// jobs of few transactions, not bulk writes.
	Shared bool
}

// DB is an open cache file.
type DB struct {
	bolt     *bolt.DB // nil in shared mode: see handles
	path     string
	readOnly bool
	opts     Options
	// Shared mode: writers hold txMu, readers share it; readers share one
	// read-only handle, opened by the first and closed by the last.
	txMu    sync.RWMutex
	roMu    sync.Mutex
	ro      *bolt.DB
	roUsers int
	// version is the file's format version when it was opened.
	version int
	// migrated says what Open's migration did; nil when it did none.
	migrated *Migration
	// stuck is set when bbolt panicked in a write transaction and did not
	// finish rolling it back, so that it still holds the writer lock: every
	// later write, and Close, would wait for it forever.
	stuck atomic.Bool
}

// Open opens the cache at path, creating it when it is missing unless
// opts.ReadOnly is set. A file too damaged for bbolt to open, or whose
// asvp buckets cannot be found, fails with ErrCorrupt.
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
	bdb, err := openBolt(path, o, o.ReadOnly)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: bdb, path: path, readOnly: o.ReadOnly, opts: o}
	db.opts.Shared = false // checkMeta runs on the handle just opened
	if err := db.checkMeta(); err != nil {
		bdb.Close()
		return nil, err
	}
	if !o.ReadOnly && db.version != 0 && db.version < FormatVersion {
		if err := db.migrate(); err != nil {
			bdb.Close()
			return nil, err
		}
	}
	if o.Shared {
		db.opts.Shared = true
		if err := bdb.Close(); err != nil {
			return nil, fmt.Errorf("cache: closing %s: %w", path, err)
		}
		db.bolt = nil
	}
	return db, nil
}

// openBolt opens the bbolt file at path, waiting up to o.LockTimeout for
// its lock, and says what went wrong in the cache's terms.
// pageSize is the bbolt page size of a new cache (an existing file keeps
// its own). A record of a 512- or 576-dimensional float32 vector (2-2.3 KB)
// is just over half a 4 KiB page, so 4 KiB pages hold one each and the
// file grows by twice the vectors' size; 16 KiB pages hold seven.
const pageSize = 16 << 10

func openBolt(path string, o Options, readOnly bool) (*bolt.DB, error) {
	var bdb *bolt.DB
	err := protect(path, func() error {
		var err error
		// bbolt takes the page size of an existing file from its meta
		// pages; given one, it would also assume it where both are
		// damaged, so it is given for a new file only.
		ps := 0
		if fi, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
			ps = pageSize
		}
		bdb, err = bolt.Open(path, 0o644, &bolt.Options{
			Timeout:  o.LockTimeout,
			ReadOnly: readOnly,
			NoSync:   o.NoSync,
			// A read-only open would otherwise read the freelist lazily,
			// inside Verify's tx.Check, on a goroutine of bbolt's where
			// a damaged freelist crashes the program; here it is an error.
			PreLoadFreelist: true,
			PageSize:        ps,
		})
		return err
	})
	if errors.Is(err, ErrCorrupt) {
		// bbolt gave up half-way through opening: the file descriptor
		// and its lock cannot be released (bbolt returned no DB).
		return nil, fmt.Errorf("cache: opening %s: %w", path, err)
	}
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
	return bdb, nil
}

// checkMeta verifies the meta bucket, creating it (and the top-level
// buckets) in a new, empty bbolt file.
func (db *DB) checkMeta() error {
	var missing, empty bool
	err := db.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			missing = true
			empty = tx.ForEach(func([]byte, *bolt.Bucket) error { return errStop }) == nil
			// A damaged root page can hide the meta bucket, or every
			// bucket; such a file must not pass for a foreign or a new one.
			// (A walk, not a lookup: lookups trust the key order.)
			if tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				for _, ours := range [][]byte{bucketMeta, bucketSets, bucketLabels, bucketRecords, bucketContent} {
					if bytes.Equal(name, ours) {
						return errStop
					}
				}
				return nil
			}) != nil {
				return fmt.Errorf("%w: %s has the buckets of an asvp cache but its %q bucket cannot be found", ErrCorrupt, db.path, bucketMeta)
			}
			if empty {
				if n := usedPages(tx); n > 1 {
					return fmt.Errorf("%w: %s has no buckets but %d pages of data", ErrCorrupt, db.path, n)
				}
			}
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
		db.version = v
		return nil
	})
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("cache: opening %s: %w", db.path, err)
	}
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
		for _, name := range [][]byte{bucketSets, bucketLabels, bucketRecords, bucketContent} {
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

// usedPages counts the branch and leaf pages of tx's file that are not free:
// one (the root) in an empty file.
func usedPages(tx *bolt.Tx) int {
	n := 0
	for id := 0; ; id++ {
		p, err := tx.Page(id)
		if err != nil || p == nil {
			return n
		}
		if p.Type == "branch" || p.Type == "leaf" {
			n++
		}
	}
}

// Close closes the cache file. After a write that failed with ErrCorrupt
// because bbolt broke down in the middle of it, the file may stay open
// until the process exits; Close then says so.
func (db *DB) Close() error {
	if db.stuck.Load() {
		return fmt.Errorf("cache: closing %s: a write transaction on the damaged file could not be rolled back; the file stays open until the program exits: %w",
			db.path, ErrCorrupt)
	}
	if db.bolt == nil { // shared mode: nothing stays open between transactions
		return nil
	}
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
	err := db.write(fn)
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

// write runs fn in one read-write transaction, as bbolt's Update does, and
// turns a panic raised by bbolt on a damaged file into an ErrCorrupt error.
// Update rolls the transaction back as the panic unwinds (its deferred
// rollback), so nothing of it is kept; if that rollback itself broke down,
// the writer lock is still held and db is marked stuck.
func (db *DB) write(fn func(tx *bolt.Tx) error) error {
	if db.stuck.Load() {
		return &DamageError{Path: db.path, Err: fmt.Errorf("%w: %s: an earlier write on the damaged file could not be rolled back; verify the file, then reopen it",
			ErrCorrupt, db.path)}
	}
	bdb := db.bolt
	if db.opts.Shared {
		db.txMu.Lock()
		defer db.txMu.Unlock()
		var err error
		if bdb, err = openBolt(db.path, db.opts, false); err != nil {
			return err
		}
	}
	var tx *bolt.Tx
	err := protect(db.path, func() error {
		return bdb.Update(func(t *bolt.Tx) error {
			tx = t
			return fn(t)
		})
	})
	if errors.Is(err, errPanicked) && tx != nil && tx.DB() != nil {
		db.stuck.Store(true)
		return err
	}
	if db.opts.Shared {
		if cerr := bdb.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cache: closing %s: %w", db.path, cerr)
		}
	}
	return err
}

// view runs fn in one read-only transaction; a panic raised by bbolt on a
// damaged file becomes an ErrCorrupt error.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	if !db.opts.Shared {
		return protect(db.path, func() error { return db.bolt.View(fn) })
	}
	db.txMu.RLock()
	defer db.txMu.RUnlock()
	bdb, err := db.acquireRO()
	if err != nil {
		return err
	}
	defer db.releaseRO()
	return protect(db.path, func() error { return bdb.View(fn) })
}

// acquireRO returns the read-only handle of shared mode, opening it for
// the first reader.
func (db *DB) acquireRO() (*bolt.DB, error) {
	db.roMu.Lock()
	defer db.roMu.Unlock()
	if db.ro == nil {
		bdb, err := openBolt(db.path, db.opts, true)
		if err != nil {
			return nil, err
		}
		db.ro = bdb
	}
	db.roUsers++
	return db.ro, nil
}

// releaseRO closes the read-only handle after its last reader.
func (db *DB) releaseRO() {
	db.roMu.Lock()
	defer db.roMu.Unlock()
	if db.roUsers--; db.roUsers == 0 {
		db.ro.Close() // a read-only handle has nothing to flush
		db.ro = nil
	}
}

// errPanicked marks the errors protect makes of panics.
var errPanicked = errors.New("bbolt failed")

// protect runs fn and returns its error. bbolt trusts the file it maps:
// on a damaged one it panics (failed assertions, slices out of range) or
// reads outside the mapping, which crashes a Go program unless the
// goroutine asked for a panic instead. protect asks for that and turns any
// panic into an error wrapping ErrCorrupt that names the file, so that a
// damaged cache is reported instead of crashing asvp.
func protect(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicError(path, r)
		}
	}()
	return fn()
}

// panicError is the error for panic r raised while reading the file at path.
func panicError(path string, r any) error {
	return &DamageError{Path: path, Err: fmt.Errorf("%w: %s is damaged: %w on it (%v)", ErrCorrupt, path, errPanicked, r)}
}

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
