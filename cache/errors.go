package cache

import "errors"

// Sentinel errors returned by this package, always wrapped in a message that
// starts "cache: " and names the file; test for them with errors.Is.
var (
	// ErrNotCache means the file is not an asvp feature cache: either not a
	// bbolt file at all, or a bbolt file without the asvp meta bucket.
	ErrNotCache = errors.New("not an asvp feature cache")
	// ErrVersion means the cache was written by a newer format version than
	// this program understands.
	ErrVersion = errors.New("unsupported cache format version")
	// ErrNotFound means a feature set, generation, sample, label set or
	// record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous means a set key prefix, or a dataset named without its
	// output, matches more than one feature set.
	ErrAmbiguous = errors.New("ambiguous")
	// ErrIncomplete means a generation's writer did not finish it: a killed
	// run left it half-written, or it holds fewer samples than it should.
	ErrIncomplete = errors.New("incomplete generation")
	// ErrMismatch means stored data disagrees with what the caller passed:
	// a set's dimension or dtype, a generation's dimension, or a vector's length.
	ErrMismatch = errors.New("mismatch")
	// ErrReadOnly means a write was attempted on a cache opened read-only.
	ErrReadOnly = errors.New("opened read-only")
	// ErrLocked means another process holds the cache open for writing.
	ErrLocked = errors.New("in use by another process")
	// ErrDiskFull means a write failed because the disk is full or the
	// process hit its file-size limit. The transaction was rolled back.
	ErrDiskFull = errors.New("disk full or file size limit reached")
	// ErrCorrupt means the file is damaged: a stored record failed to
	// decode or its checksum did not match, or bbolt's own structure
	// (pages, buckets, the freelist) does not hold together. Verify lists
	// the damage.
	ErrCorrupt = errors.New("corrupt data")
	// ErrConflict means Merge found two different vectors for the same sample.
	ErrConflict = errors.New("conflicting vectors")
)

// DamageError is an error about a damaged file whose structure bbolt
// cannot walk: Path names the file, so that a caller can say how to check
// it (Verify). It wraps ErrCorrupt.
type DamageError struct {
	Path string
	Err  error
}

// Error is the underlying error's message, which names the file.
func (e *DamageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error (wrapping ErrCorrupt).
func (e *DamageError) Unwrap() error { return e.Err }
