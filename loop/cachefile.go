package loop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/asvp-dev/asvp/cache"
)

// ErrNoCache means a step that reads features was given a cache file that
// does not exist: nothing has been extracted into it.
var ErrNoCache = errors.New("loop: no such cache: extract features into it first")

// openExisting opens a cache that an extraction must already have written.
// A mistyped path is an error wrapping ErrNoCache, instead of a new empty
// cache file left behind.
func openExisting(path string, readOnly bool) (*cache.DB, error) {
	return openExistingWith(path, &cache.Options{ReadOnly: readOnly})
}

// openExistingWith is openExisting with the cache's options.
func openExistingWith(path string, opts *cache.Options) (*cache.DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoCache, path)
		}
		return nil, fmt.Errorf("loop: cache %s: %w", path, err)
	}
	return cache.Open(path, opts)
}

// sharedLockTimeout is how long a job that locks the cache per transaction
// (cache.Options.Shared) waits for another process's lock: long enough for
// a select or a cache ls to finish.
const sharedLockTimeout = 2 * time.Minute

// closeInto closes db and, when *err is nil, stores the close error there:
// after writes, a failed close is a failed write.
func closeInto(db *cache.DB, err *error) {
	if cerr := db.Close(); *err == nil {
		*err = cerr
	}
}
