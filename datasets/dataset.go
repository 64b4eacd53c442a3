package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"image"
	"os"
	"strings"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package installs the files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Sample is one item of a dataset.
type Sample struct {
	ID    string // stable identifier, unique in the dataset (e.g. "train/00042", "cats/a.jpg")
	Label int    // class index into Classes(), or -1 when unlabeled
	Path  string // file holding the image; "" for samples stored inside an IDX file
	Row   int    // 1-based manifest line of the sample, 0 when the dataset has no manifest
}

// Dataset is an ordered pool of image samples. Its methods are safe for concurrent use.
type Dataset interface {
	// Spec returns the spec the dataset was opened with, e.g. "fashion-mnist:train".
	Spec() string
	// Identity returns a hex SHA-256 of what defines the dataset's images: its kind, the sample IDs in
	// order, and the content (IDX: the decompressed image file; folder and csv: each file's path
	// relative to the root and size). Labels are left out on purpose: relabeling a pool keeps its
	// features valid.
	Identity() string
	// Classes returns the class names; index = label. The caller must not modify the slice.
	Classes() []string
	// Len returns the number of samples.
	Len() int
	// Sample returns sample i, 0 <= i < Len(). It panics when i is out of range.
	Sample(i int) Sample
	// Image decodes sample i's image. On failure the error is a *SampleError.
	Image(i int) (image.Image, error)
}

// Options tune Open. The zero value gives the defaults.
type Options struct {
	// MaxPixels is the largest image (width x height) decoded; 0 means DefaultMaxPixels.
	MaxPixels int64
	// FashionMNISTDir holds Fashion-MNIST's gzipped IDX files; "" means DefaultFashionMNISTDir. (The
	// CLI lets the environment variable ASVP_FASHION_MNIST_DIR set it; this package reads no
	// environment.)
	FashionMNISTDir string
}

func (o Options) maxPixels() int64 {
	if o.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return o.MaxPixels
}

// Open opens the dataset a spec names:
//
//	fashion-mnist:train | fashion-mnist:test
//	idx:DIR[:PREFIX]
//	folder:DIR
//	csv:FILE
//
// Open lists every sample and checks that each file exists; it decodes no image. Errors wrap
// ErrBadSpec, ErrNotFound, ErrBadIDX, ErrOutsideRoot, or are *ParseError values for manifests.
func Open(spec string, opts Options) (Dataset, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, openError(spec, reason(ErrBadSpec, nil, "want KIND:ARG with KIND one of fashion-mnist, idx, folder, csv"))
	}
	switch kind {
	case "fashion-mnist":
		return openFashionMNIST(spec, arg, opts)
	case "idx":
		dir, prefix := arg, ""
		if st, err := os.Stat(arg); err != nil || !st.IsDir() {
			if i := strings.LastIndexByte(arg, ':'); i > 0 {
				dir, prefix = arg[:i], arg[i+1:]
			}
		}
		return openIDXDir(spec, dir, prefix, opts)
	case "folder":
		return openFolder(spec, arg, opts)
	case "csv":
		return openManifest(spec, arg, opts)
	}
	return nil, openError(spec, reason(ErrBadSpec, nil, "unknown kind %q (want fashion-mnist, idx, folder or csv)", kind))
}

// identity accumulates length-prefixed fields into a SHA-256, so that no two field sequences collide.
type identity struct{ h hash.Hash }

func newIdentity(kind string) *identity {
	id := &identity{h: sha256.New()}
	id.str("asvp-dataset-v1")
	id.str(kind)
	return id
}

func (id *identity) str(s string) {
	var n [binary.MaxVarintLen64]byte
	id.h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	id.h.Write([]byte(s))
}

func (id *identity) bytes(b []byte) {
	var n [binary.MaxVarintLen64]byte
	id.h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	id.h.Write(b)
}

func (id *identity) int(v int64) {
	var n [binary.MaxVarintLen64]byte
	id.h.Write(n[:binary.PutVarint(n[:], v)])
}

func (id *identity) sum() string { return hex.EncodeToString(id.h.Sum(nil)) }
