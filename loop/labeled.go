package loop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/features"
)

// Labeled is a labelled set read from an id,label CSV, in the file's order
// (the order samples were bought, when batches are appended): the order in
// which proxies and networks see the rows, so that a live round trains on
// what a simulated round trained on.
type Labeled struct {
	Path  string
	IDs   []string
	Class []int // class index of IDs[i] in Classes
	Line  []int // line of IDs[i] in the file
	// Classes are the class names the indices refer to: the dataset's own
	// classes (folder names, manifest labels; none for an unlabeled pool),
	// then each new name the file uses, in the order it first appears.
	Classes []string
	// New lists the names of Classes the dataset does not name, with the
	// line where each first appears.
	New []NewClass
}

// NewClass is a class name a labelled file introduces.
type NewClass struct {
	Name string `json:"name"`
	Line int    `json:"line"`
}

// ReadLabeled reads an id,label CSV. A label is a class name or, when the
// dataset has classes, an index into them ("0".."len-1"). Class names are
// open-ended: a name the dataset does not know is a new class, appended to
// the dataset's classes in the order the file first uses it, so that the
// indices of a labelled file that only grows (labels import appends) never
// change. Errors name the file and line.
func ReadLabeled(path string, base []string) (*Labeled, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &OptionError{Option: "labeled", Err: err}
	}
	rows, err := datasets.ReadLabels(bytes.NewReader(raw), path)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, optionErr("labeled", "%s holds no labels", path)
	}
	l := &Labeled{Path: path}
	ci := newClassIndex(base)
	for _, r := range rows {
		c, err := ci.class(r, path)
		if err != nil {
			return nil, err
		}
		l.IDs = append(l.IDs, r.ID)
		l.Class = append(l.Class, c)
		l.Line = append(l.Line, r.Line)
	}
	l.Classes, l.New = ci.classes, ci.added
	return l, nil
}

// classIndex maps labels to class indices as ReadLabeled reads them: the
// dataset's classes first, a number as an index into them when there are
// any, and each other name a new class in the order it first comes.
type classIndex struct {
	base    int // how many of classes are the dataset's
	classes []string
	index   map[string]int
	added   []NewClass
}

func newClassIndex(base []string) *classIndex {
	ci := &classIndex{base: len(base), classes: slices.Clone(base), index: make(map[string]int, len(base))}
	for i, c := range base {
		ci.index[c] = i
	}
	return ci
}

// class returns the class index of r's label, adding a new class for a
// name not seen before. A number outside the dataset's classes is an error
// naming file and r's line.
func (ci *classIndex) class(r datasets.Label, file string) (int, error) {
	if c, ok := ci.index[r.Label]; ok {
		return c, nil
	}
	if ci.base > 0 {
		if k, err := strconv.Atoi(r.Label); err == nil {
			if k < 0 || k >= ci.base {
				return 0, &datasets.ParseError{File: file, Line: r.Line, Err: fmt.Errorf("%w: %q (id %q) is not a class index 0..%d of the dataset's classes %q; write the class name",
					datasets.ErrUnknownLabel, r.Label, r.ID, ci.base-1, ci.classes[:ci.base])}
			}
			return k, nil
		}
	}
	c := len(ci.classes)
	ci.index[r.Label] = c
	ci.classes = append(ci.classes, r.Label)
	ci.added = append(ci.added, NewClass{Name: r.Label, Line: r.Line})
	return c, nil
}

// needClasses says why a labelled set with fewer than two classes cannot
// train what needs it (a proxy, a fine-tune); nil when it has two or more.
func (l *Labeled) needClasses(what string) error {
	seen := map[int]bool{}
	for _, c := range l.Class {
		seen[c] = true
	}
	if len(seen) >= 2 {
		return nil
	}
	var only string
	for c := range seen {
		only = l.Classes[c]
	}
	return fmt.Errorf("loop: %s: all %d labels are %q: %s needs labels of 2 classes or more; label a few samples of another class (any name is a class)",
		l.Path, l.Len(), only, what)
}

// Len returns the number of labelled samples; 0 for a nil set.
func (l *Labeled) Len() int {
	if l == nil {
		return 0
	}
	return len(l.IDs)
}

// Map returns the labels as a map from sample ID to class index.
func (l *Labeled) Map() map[string]int {
	out := make(map[string]int, l.Len())
	for i, id := range l.IDs {
		out[id] = l.Class[i]
	}
	return out
}

// SHA256 is the hash of the labelled set, independent of row order and of
// how labels were written: sorted "id\tclass-index" lines.
func (l *Labeled) SHA256() string { return labelsSHA256(l.Map()) }

func labelsSHA256(labels map[string]int) string {
	ids := make([]string, 0, len(labels))
	for id := range labels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s\t%d\n", id, labels[id])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Rows returns the rows of m of the labelled samples, in the labelled
// set's order, with their classes; missing lists (in that order) the
// labelled IDs that m does not hold.
func (l *Labeled) Rows(m *features.Matrix) (X *features.Matrix, y []int, missing []int) {
	row := make(map[string]int, m.Rows)
	for i, id := range m.IDs {
		row[id] = i
	}
	X = &features.Matrix{Cols: m.Cols}
	for k, id := range l.IDs {
		i, ok := row[id]
		if !ok {
			missing = append(missing, k)
			continue
		}
		X.IDs = append(X.IDs, id)
		X.Data = append(X.Data, m.Row(i)...)
		y = append(y, l.Class[k])
	}
	X.Rows = len(X.IDs)
	return X, y, missing
}

// oracleRows returns the rows of m that have a label in labels, in m's
// order, with the labels.
func oracleRows(m *features.Matrix, labels map[string]int) (*features.Matrix, []int) {
	out := &features.Matrix{Cols: m.Cols}
	var y []int
	for i, id := range m.IDs {
		if c, ok := labels[id]; ok {
			out.IDs = append(out.IDs, id)
			out.Data = append(out.Data, m.Row(i)...)
			y = append(y, c)
		}
	}
	out.Rows = len(out.IDs)
	return out, y
}

// datasetClasses returns the class names of a dataset: those of its oracle
// label set when the cache has one, else the dataset's own (none for an
// unlabeled pool: a flat folder, a manifest without labels).
func datasetClasses(db *cache.DB, spec string, opts datasets.Options) ([]string, error) {
	classes, _, err := db.OracleLabels(spec)
	if err == nil {
		return classes, nil
	}
	if !errors.Is(err, cache.ErrNotFound) {
		return nil, err
	}
	if cache.IsImportDataset(spec) { // imported without labels: the labeled file names the classes
		return nil, nil
	}
	ds, err := datasets.Open(spec, opts)
	if err != nil {
		return nil, err
	}
	return ds.Classes(), nil
}

// rowsOf returns the row of m of each labeled sample, in the labeled set's
// order, with its class; missing lists (in that order) the labeled IDs that
// m does not hold.
func (l *Labeled) rowsOf(m *features.Matrix) (rows, y, missing []int) {
	row := make(map[string]int, m.Rows)
	for i, id := range m.IDs {
		row[id] = i
	}
	for k, id := range l.IDs {
		i, ok := row[id]
		if !ok {
			missing = append(missing, k)
			continue
		}
		rows, y = append(rows, i), append(y, l.Class[k])
	}
	return rows, y, missing
}

// ClassesOptions names the pool and labelled file whose classes Classes
// returns.
type ClassesOptions struct {
	Cache, Dataset, Output string // the pool ("" Dataset and Output for the only set)
	Labeled                string // the labelled file; "" for none yet
	Datasets               datasets.Options
}

// Classes returns the live class list of a pool: the dataset's own
// classes (none for an unlabeled pool), then the new names of the labelled
// file in the order it first uses them; the indices select, finetune and
// align train with.
func Classes(opts ClassesOptions) (classes []string, err error) {
	db, err := openExisting(opts.Cache, true)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	set, err := db.FindSet(opts.Dataset, opts.Output)
	if err != nil {
		return nil, err
	}
	base, err := datasetClasses(db, set.Info().Dataset, opts.Datasets)
	if err != nil || opts.Labeled == "" {
		return base, err
	}
	l, err := ReadLabeled(opts.Labeled, base)
	if err != nil {
		return nil, err
	}
	return l.Classes, nil
}
