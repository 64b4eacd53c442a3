package datasets

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ContentHash is the SHA-256 that addresses a sample's content: of the image file's bytes for folder
// and csv datasets, of the image's size and pixels for IDX ones. Two samples with the same
// ContentHash give the same features under one model and preprocessing, whatever their IDs, paths or
// datasets.
type ContentHash [sha256.Size]byte

// FileStat is what the file system says about a sample's file: when it equals what was seen when the
// file was hashed, the file is taken as unchanged and not hashed again.
type FileStat struct {
	Size    int64  // bytes
	MtimeNS int64  // modification time, nanoseconds since 1970
	Inode   uint64 // inode number (0 where the system has none)
}

// contentSource is implemented by the datasets of this package.
type contentSource interface {
	stat(i int) (FileStat, bool)
	hash(i int) (ContentHash, error)
}

// SampleStat returns the stat of sample i's file, and false for a sample that has no file of its own
// (IDX) or whose file cannot be read inside the dataset's root (it fails at Image and at SampleHash).
func SampleStat(ds Dataset, i int) (FileStat, bool) {
	if cs, ok := ds.(contentSource); ok {
		return cs.stat(i)
	}
	return FileStat{}, false
}

// SampleHash returns sample i's ContentHash, reading its file. A file that cannot be read is a
// *SampleError naming the sample, as Image's errors are.
func SampleHash(ds Dataset, i int) (ContentHash, error) {
	cs, ok := ds.(contentSource)
	if !ok {
		return ContentHash{}, fmt.Errorf("datasets: %s: samples of this dataset have no content hash", ds.Spec())
	}
	return cs.hash(i)
}

func (d *fileDataset) stat(i int) (FileStat, bool) {
	s := d.Sample(i)
	real, err := resolveWithin(d.root, s.Path)
	if err != nil {
		return FileStat{}, false
	}
	st, err := os.Stat(real)
	if err != nil || !st.Mode().IsRegular() {
		return FileStat{}, false
	}
	fs := FileStat{Size: st.Size(), MtimeNS: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		fs.Inode = uint64(sys.Ino)
	}
	return fs, true
}

func (d *fileDataset) hash(i int) (ContentHash, error) {
	f, err := d.open(i)
	if err != nil {
		return ContentHash{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ContentHash{}, d.sampleErr(i, fmt.Errorf("datasets: reading %s: %w", d.Sample(i).Path, err))
	}
	var out ContentHash
	h.Sum(out[:0])
	return out, nil
}

func (d *idxDataset) stat(int) (FileStat, bool) { return FileStat{}, false }

func (d *idxDataset) hash(i int) (ContentHash, error) {
	d.Sample(i) // bounds check
	n := d.rows * d.cols
	h := sha256.New()
	var hdr [16]byte
	copy(hdr[:8], "idx-gray")
	binary.LittleEndian.PutUint32(hdr[8:], uint32(d.rows))
	binary.LittleEndian.PutUint32(hdr[12:], uint32(d.cols))
	h.Write(hdr[:])
	h.Write(d.pixels[i*n : (i+1)*n])
	var out ContentHash
	h.Sum(out[:0])
	return out, nil
}

// NormalizeSpec returns spec with its path made absolute and clean, so that one dataset has one spec
// whatever folder it was named from: folder:pool, folder:./pool/ and folder:/abs/pool (run in /abs)
// are all folder:/abs/pool. It applies to folder:, csv: and idx: specs (an idx: prefix is kept);
// other specs (fashion-mnist:, import:) are returned as given. Symbolic links are not resolved: a
// link to a folder names a dataset of its own (its samples' content is still shared).
func NormalizeSpec(spec string) string {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return spec
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		return a
	}
	switch kind {
	case "folder", "csv":
		return kind + ":" + abs(arg)
	case "idx":
		dir, prefix := arg, ""
		if st, err := os.Stat(arg); err != nil || !st.IsDir() {
			if i := strings.LastIndexByte(arg, ':'); i > 0 {
				dir, prefix = arg[:i], arg[i+1:]
			}
		}
		if prefix != "" {
			return kind + ":" + abs(dir) + ":" + prefix
		}
		return kind + ":" + abs(dir)
	}
	return spec
}
