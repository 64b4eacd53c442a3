package datasets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ManifestRow is one row of a CSV manifest.
type ManifestRow struct {
	Path  string // slash path relative to the manifest's folder, cleaned
	Label string // class name; "" when unlabeled
	Line  int    // 1-based line in the manifest
}

// ReadManifest reads a CSV manifest of path[,label] rows. A first row "path" or "path,label" is a
// header and is skipped. A byte-order mark, CRLF line ends and blank lines are accepted; lines over
// MaxLineBytes are refused. Paths are cleaned; an absolute path, or one whose ".." leaves the
// manifest's folder, wraps ErrOutsideRoot; the same (cleaned) path twice wraps ErrDuplicate and names
// both lines; an empty path or more than two fields wraps ErrSyntax. Errors are *ParseError values.
// ReadManifest does not look at the files; Open does.
func ReadManifest(r io.Reader, name string) ([]ManifestRow, error) {
	recs, err := readCSV(r, name)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 && isHeader(recs[0].fields, "path", "label") {
		recs = recs[1:]
	}
	out := make([]ManifestRow, 0, len(recs))
	seen := make(map[string]int, len(recs))
	for _, rec := range recs {
		fail := func(err error) ([]ManifestRow, error) {
			return nil, &ParseError{File: name, Line: rec.line, Err: err}
		}
		if len(rec.fields) > 2 {
			return fail(reason(ErrSyntax, nil, "too many fields (%d); want path,label", len(rec.fields)))
		}
		p := rec.fields[0]
		label := ""
		if len(rec.fields) == 2 {
			label = rec.fields[1]
		}
		if p == "" {
			return fail(reason(ErrSyntax, nil, "empty path"))
		}
		if strings.HasPrefix(p, "/") || filepath.IsAbs(p) {
			return fail(reason(ErrOutsideRoot, nil, "absolute path %q; paths are relative to the manifest's folder", p))
		}
		c := path.Clean(p)
		if c == ".." || strings.HasPrefix(c, "../") {
			return fail(reason(ErrOutsideRoot, nil, "path %q leaves the manifest's folder", p))
		}
		if c == "." {
			return fail(reason(ErrSyntax, nil, "path %q names the manifest's folder, not a file", p))
		}
		if prev, dup := seen[c]; dup {
			return fail(reason(ErrDuplicate, nil, "path %q already on line %d", c, prev))
		}
		seen[c] = rec.line
		out = append(out, ManifestRow{Path: c, Label: label, Line: rec.line})
	}
	return out, nil
}

// WriteManifest writes rows as a CSV manifest with a "path,label" header, readable by ReadManifest.
// Paths holding line breaks are refused.
func WriteManifest(w io.Writer, rows []ManifestRow) error { return public(writeManifest(w, rows)) }

func writeManifest(w io.Writer, rows []ManifestRow) error {
	var b strings.Builder
	b.WriteString("path,label\n")
	for i, r := range rows {
		if r.Path == "" {
			return reason(ErrSyntax, nil, "row %d: empty path", i)
		}
		if err := writeCSVField(&b, r.Path); err != nil {
			return err
		}
		b.WriteByte(',')
		if err := writeCSVField(&b, r.Label); err != nil {
			return err
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// openManifest opens spec csv:FILE. Every row's file must exist, be a regular file and lie inside the
// manifest's folder (symbolic links included); otherwise Open fails naming the row. Classes are the
// sorted distinct labels; rows with an empty label are unlabeled. Sample IDs are the cleaned paths,
// in manifest order.
func openManifest(spec, file string, opts Options) (Dataset, error) {
	d, err := loadManifest(spec, file, opts)
	if err != nil {
		return nil, openError(spec, err)
	}
	return d, nil
}

func loadManifest(spec, file string, opts Options) (*fileDataset, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fileError(err)
	}
	defer f.Close()
	rows, err := ReadManifest(f, file)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s lists no images (want one line path[,label] per image, paths relative to its folder): %w", file, ErrNoSamples)
	}
	dir := filepath.Dir(file)
	root, err := resolveRoot(dir)
	if err != nil {
		return nil, err
	}
	d := &fileDataset{spec: spec, root: root, maxPixels: opts.maxPixels()}
	index := map[string]int{}
	for _, r := range rows {
		if r.Label != "" {
			index[r.Label] = 0
		}
	}
	for c := range index {
		d.classes = append(d.classes, c)
	}
	slices.Sort(d.classes)
	for i, c := range d.classes {
		index[c] = i
	}
	id := newIdentity("csv")
	for _, r := range rows {
		fail := func(err error) (*fileDataset, error) { return nil, &ParseError{File: file, Line: r.Line, Err: err} }
		p := filepath.Join(dir, filepath.FromSlash(r.Path))
		real, err := resolveWithin(root, p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fail(reason(ErrNotFound, err, "file %s does not exist", p))
			}
			return fail(err)
		}
		st, err := os.Stat(real)
		if err != nil {
			return fail(fileError(err))
		}
		if !st.Mode().IsRegular() {
			return fail(reason(ErrSyntax, nil, "%s is not a regular file", p))
		}
		label := -1
		if r.Label != "" {
			label = index[r.Label]
		}
		d.samples = append(d.samples, Sample{ID: r.Path, Label: label, Path: p, Row: r.Line})
		id.str(r.Path)
		id.int(st.Size())
	}
	d.identity = id.sum()
	return d, nil
}
