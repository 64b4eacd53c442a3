package datasets

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// openFolder opens spec folder:DIR. Each subfolder of DIR (sorted by name) is a class; images anywhere
// below it are its samples. Images directly in DIR are unlabeled (Label -1). Sample IDs are slash
// paths relative to DIR, and samples are sorted by ID. Hidden files and folders (name starting with
// ".") and files without an image extension are skipped. Symbolic links to folders are not followed;
// symbolic links to files are samples, and reading one that leaves DIR fails with ErrOutsideRoot.
func openFolder(spec, dir string, opts Options) (Dataset, error) {
	d, err := loadFolder(spec, dir, opts)
	if err != nil {
		return nil, openError(spec, err)
	}
	return d, nil
}

func loadFolder(spec, dir string, opts Options) (*fileDataset, error) {
	root, err := resolveRoot(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileError(err)
	}
	d := &fileDataset{spec: spec, root: root, maxPixels: opts.maxPixels()}
	for _, e := range entries { // ReadDir sorts by name, so classes come out sorted
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if e.IsDir() {
			d.classes = append(d.classes, name)
			continue
		}
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			if isImageName(name) {
				d.samples = append(d.samples, Sample{ID: name, Label: -1, Path: filepath.Join(dir, name)})
			}
		}
	}
	for label, class := range d.classes {
		classDir := filepath.Join(dir, class)
		err := filepath.WalkDir(classDir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != classDir && strings.HasPrefix(e.Name(), ".") {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if e.IsDir() || !isImageName(e.Name()) {
				return nil
			}
			if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
				return nil // devices, sockets, pipes
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			d.samples = append(d.samples, Sample{ID: filepath.ToSlash(rel), Label: label, Path: p})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("datasets: walk %s: %w", classDir, err)
		}
	}
	if len(d.samples) == 0 {
		exts := slices.Sorted(maps.Keys(imageExtensions))
		return nil, fmt.Errorf("%s holds no images (files ending in %s, in it or in its subfolders): %w", dir, strings.Join(exts, " "), ErrNoSamples)
	}
	slices.SortFunc(d.samples, func(a, b Sample) int { return strings.Compare(a.ID, b.ID) })
	id := newIdentity("folder")
	for _, s := range d.samples {
		id.str(s.ID)
		id.int(contentSize(root, s.Path))
	}
	d.identity = id.sum()
	return d, nil
}
