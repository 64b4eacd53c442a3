package datasets

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fileDataset is a dataset of image files under one root folder (folder: and csv: specs). It is
// read-only after Open.
type fileDataset struct {
	spec      string
	root      string // the root with its symbolic links resolved
	classes   []string
	samples   []Sample
	identity  string
	maxPixels int64
}

func (d *fileDataset) Spec() string      { return d.spec }
func (d *fileDataset) Identity() string  { return d.identity }
func (d *fileDataset) Classes() []string { return d.classes }
func (d *fileDataset) Len() int          { return len(d.samples) }

func (d *fileDataset) Sample(i int) Sample {
	if i < 0 || i >= len(d.samples) {
		panic(fmt.Sprintf("datasets: sample index %d out of range [0,%d)", i, len(d.samples)))
	}
	return d.samples[i]
}

// Image opens and decodes sample i's file. The path is resolved again at every call, so a file that
// was replaced by a symbolic link leaving the root after Open is still refused.
func (d *fileDataset) Image(i int) (image.Image, error) {
	f, err := d.open(i)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := decode(f, d.maxPixels)
	if err != nil {
		return nil, d.sampleErr(i, err)
	}
	return img, nil
}

// open opens sample i's file, its path resolved inside the root at every
// call. Errors are *SampleError values naming the sample.
func (d *fileDataset) open(i int) (*os.File, error) {
	real, err := resolveWithin(d.root, d.Sample(i).Path)
	if err != nil {
		return nil, d.sampleErr(i, err)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, d.sampleErr(i, fileError(err))
	}
	return f, nil
}

// sampleErr wraps err in a *SampleError naming sample i.
func (d *fileDataset) sampleErr(i int, err error) error {
	s := d.Sample(i)
	return &SampleError{ID: s.ID, Path: s.Path, Row: s.Row, Err: err}
}

// resolveWithin resolves the symbolic links of p and checks that the result lies inside root (itself
// resolved). It returns the resolved path, or an error wrapping ErrOutsideRoot or ErrNotFound.
func resolveWithin(root, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fileError(err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	if !within(root, real) {
		return "", reason(ErrOutsideRoot, nil, "%s resolves to %s, outside %s; symbolic links out of the dataset are not followed", p, real, root)
	}
	return real, nil
}

// within reports whether path p (absolute, clean) is root or lies below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// fileError turns an error from the file system into one wrapping ErrNotFound where it is one.
func fileError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return reason(ErrNotFound, err, "%v", err)
	}
	return fmt.Errorf("datasets: %w", err)
}

// resolveRoot returns dir as an absolute path with its symbolic links resolved; dir must be a folder.
func resolveRoot(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("datasets: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fileError(err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fileError(err)
	}
	if !st.IsDir() {
		return "", reason(ErrBadSpec, nil, "%s is not a folder", dir)
	}
	return real, nil
}

// contentSize returns the size of the file a sample names, or -1 when it cannot be read inside root
// (a link leaving the root, a broken link): such a sample fails at Image.
func contentSize(root, p string) int64 {
	real, err := resolveWithin(root, p)
	if err != nil {
		return -1
	}
	st, err := os.Stat(real)
	if err != nil || !st.Mode().IsRegular() {
		return -1
	}
	return st.Size()
}

// isImageName reports whether a file name has an image extension and is not hidden.
func isImageName(name string) bool {
	return !strings.HasPrefix(name, ".") && imageExtensions[strings.ToLower(filepath.Ext(name))]
}
