package datasets

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FashionMNISTClasses are the Fashion-MNIST class names; index = label.
var FashionMNISTClasses = [...]string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// idxPair is an IDX image file and its (optional) label file, found in one folder.
type idxPair struct {
	prefix string // the file names' common start, e.g. "train" or "t10k"
	images string // path of the image file
	labels string // path of the label file, "" if none
}

// normIDXName lower-cases a file name, drops ".gz" and turns '.' and '_' into '-', so that
// "t10k-images.idx3-ubyte" and "t10k-images-idx3-ubyte.gz" compare alike.
func normIDXName(name string) string {
	n := strings.TrimSuffix(strings.ToLower(name), ".gz")
	return strings.NewReplacer(".", "-", "_", "-").Replace(n)
}

// findIDXPairs lists the IDX image files in dir (by name: *-images-idx3-ubyte[.gz] and variants) with
// the label file of the same prefix, sorted by prefix.
func findIDXPairs(dir string) ([]idxPair, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, reason(ErrNotFound, err, "IDX folder %s does not exist", dir)
		}
		return nil, fmt.Errorf("datasets: list IDX folder: %w", err)
	}
	images := map[string][]string{}
	labels := map[string][]string{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n := normIDXName(e.Name())
		switch {
		case strings.HasSuffix(n, "idx3-ubyte"):
			p := strings.TrimSuffix(strings.TrimSuffix(n, "idx3-ubyte"), "-")
			p = strings.TrimSuffix(strings.TrimSuffix(p, "images"), "-")
			images[p] = append(images[p], e.Name())
		case strings.HasSuffix(n, "idx1-ubyte"):
			p := strings.TrimSuffix(strings.TrimSuffix(n, "idx1-ubyte"), "-")
			p = strings.TrimSuffix(strings.TrimSuffix(p, "labels"), "-")
			labels[p] = append(labels[p], e.Name())
		}
	}
	var pairs []idxPair
	for p, names := range images {
		if len(names) > 1 {
			return nil, reason(ErrBadSpec, nil, "folder %s has several image files for prefix %q: %s", dir, p, strings.Join(names, ", "))
		}
		pair := idxPair{prefix: p, images: filepath.Join(dir, names[0])}
		switch l := labels[p]; len(l) {
		case 0:
		case 1:
			pair.labels = filepath.Join(dir, l[0])
		default:
			return nil, reason(ErrBadSpec, nil, "folder %s has several label files for prefix %q: %s", dir, p, strings.Join(l, ", "))
		}
		pairs = append(pairs, pair)
	}
	slices.SortFunc(pairs, func(a, b idxPair) int { return strings.Compare(a.prefix, b.prefix) })
	return pairs, nil
}

// openIDXDir opens spec idx:DIR[:PREFIX].
func openIDXDir(spec, dir, prefix string, opts Options) (Dataset, error) {
	pairs, err := findIDXPairs(dir)
	if err != nil {
		return nil, openError(spec, err)
	}
	var prefixes []string
	for _, p := range pairs {
		prefixes = append(prefixes, p.prefix)
	}
	var pick *idxPair
	switch {
	case len(pairs) == 0:
		return nil, openError(spec, reason(ErrNotFound, nil, "no IDX image file (*-images-idx3-ubyte[.gz]) in %s", dir))
	case prefix != "":
		for i := range pairs {
			if pairs[i].prefix == normIDXName(prefix) {
				pick = &pairs[i]
			}
		}
		if pick == nil {
			return nil, openError(spec, reason(ErrNotFound, nil, "no IDX prefix %q in %s (have %s)", prefix, dir, strings.Join(prefixes, ", ")))
		}
	case len(pairs) == 1:
		pick = &pairs[0]
	default:
		return nil, openError(spec, reason(ErrBadSpec, nil, "%s holds several IDX sets; name one as idx:%s:PREFIX with PREFIX one of %s",
			dir, dir, strings.Join(prefixes, ", ")))
	}
	d, err := loadIDX(spec, *pick, pick.prefix, nil, opts)
	if err != nil {
		return nil, openError(spec, err)
	}
	return d, nil
}

// openFashionMNIST opens spec fashion-mnist:train or fashion-mnist:test.
func openFashionMNIST(spec, split string, opts Options) (Dataset, error) {
	var file string
	switch split {
	case "train":
		file = "train"
	case "test":
		file = "t10k"
	default:
		return nil, openError(spec, reason(ErrBadSpec, nil, "want fashion-mnist:train or fashion-mnist:test"))
	}
	dir := opts.FashionMNISTDir
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	pair := idxPair{
		prefix: file,
		images: filepath.Join(dir, file+"-images-idx3-ubyte.gz"),
		labels: filepath.Join(dir, file+"-labels-idx1-ubyte.gz"),
	}
	for _, p := range []string{pair.images, pair.labels} {
		if _, err := os.Stat(p); err != nil {
			return nil, openError(spec, reason(ErrNotFound, err,
				"%s is missing; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` or `make setup`", p))
		}
	}
	d, err := loadIDX(spec, pair, split, FashionMNISTClasses[:], opts)
	if err != nil {
		return nil, openError(spec, err)
	}
	return d, nil
}

// readIDXFile reads and checks one IDX file.
func readIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	x, err := readIDX(f, 0)
	if err != nil {
		return nil, &prefixedError{msg: path + ": " + bare(err), err: err}
	}
	return x, nil
}

// loadIDX reads an image/label pair into memory. classes nil means "0".."9" or up to the largest label.
func loadIDX(spec string, pair idxPair, idPrefix string, classes []string, opts Options) (*idxDataset, error) {
	im, err := readIDXFile(pair.images)
	if err != nil {
		return nil, err
	}
	if im.Type != IDXUint8 || len(im.Dims) != 3 {
		return nil, reason(ErrBadIDX, nil, "%s: want unsigned bytes in 3 dimensions (count, rows, columns), have type 0x%02x in %d",
			pair.images, im.Type, len(im.Dims))
	}
	n, rows, cols := im.Dims[0], im.Dims[1], im.Dims[2]
	if rows == 0 || cols == 0 {
		return nil, reason(ErrBadIDX, nil, "%s: images of %dx%d pixels", pair.images, cols, rows)
	}
	if px := int64(rows) * int64(cols); px > opts.maxPixels() {
		return nil, reason(ErrTooLarge, nil, "%s: images of %dx%d pixels, over the limit of %d", pair.images, cols, rows, opts.maxPixels())
	}
	labels := make([]int, n)
	maxLabel := -1
	if pair.labels == "" {
		for i := range labels {
			labels[i] = -1
		}
	} else {
		lb, err := readIDXFile(pair.labels)
		if err != nil {
			return nil, err
		}
		if lb.Type != IDXUint8 || len(lb.Dims) != 1 {
			return nil, reason(ErrBadIDX, nil, "%s: want unsigned bytes in 1 dimension, have type 0x%02x in %d",
				pair.labels, lb.Type, len(lb.Dims))
		}
		if lb.Dims[0] != n {
			return nil, reason(ErrBadIDX, nil, "%s has %d labels for %d images in %s", pair.labels, lb.Dims[0], n, pair.images)
		}
		for i, v := range lb.Data {
			labels[i] = int(v)
			maxLabel = max(maxLabel, int(v))
		}
	}
	if classes == nil {
		for c := range max(10, maxLabel+1) {
			classes = append(classes, strconv.Itoa(c))
		}
	} else if maxLabel >= len(classes) {
		return nil, reason(ErrBadIDX, nil, "%s: label %d, but only %d classes", pair.labels, maxLabel, len(classes))
	}
	d := &idxDataset{spec: spec, prefix: idPrefix, width: max(5, len(strconv.Itoa(n-1))),
		rows: rows, cols: cols, pixels: im.Data, labels: labels, classes: classes}
	id := newIdentity("idx")
	id.int(int64(n))
	id.int(int64(rows))
	id.int(int64(cols))
	for i := range n {
		id.str(d.id(i))
	}
	id.bytes(im.Data)
	d.identity = id.sum()
	return d, nil
}

// idxDataset is a dataset held in memory from IDX files. It is read-only after loading.
type idxDataset struct {
	spec       string
	prefix     string
	width      int
	rows, cols int
	pixels     []byte
	labels     []int
	classes    []string
	identity   string
}

func (d *idxDataset) id(i int) string { return fmt.Sprintf("%s/%0*d", d.prefix, d.width, i) }

func (d *idxDataset) Spec() string      { return d.spec }
func (d *idxDataset) Identity() string  { return d.identity }
func (d *idxDataset) Classes() []string { return d.classes }
func (d *idxDataset) Len() int          { return len(d.labels) }

func (d *idxDataset) Sample(i int) Sample {
	if i < 0 || i >= len(d.labels) {
		panic(fmt.Sprintf("datasets: sample index %d out of range [0,%d)", i, len(d.labels)))
	}
	return Sample{ID: d.id(i), Label: d.labels[i]}
}

// Image returns a fresh *image.Gray copy of image i.
func (d *idxDataset) Image(i int) (image.Image, error) {
	d.Sample(i) // bounds check
	n := d.rows * d.cols
	img := image.NewGray(image.Rect(0, 0, d.cols, d.rows))
	copy(img.Pix, d.pixels[i*n:(i+1)*n])
	return img, nil
}
