package loop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"

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
	Class []int // class index of IDs[i]
	Line  []int // line of IDs[i] in the file
}

// ReadLabeled reads an id,label CSV whose labels are class names of classes
// or class indices. Errors name the file and line.
func ReadLabeled(path string, classes []string) (*Labeled, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &OptionError{Option: "labeled", Err: err}
	}
	rows, err := datasets.ReadLabels(bytes.NewReader(raw), path)
	if err != nil {
		return nil, err
	}
	index, err := datasets.ResolveLabels(rows, classes, path)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, optionErr("labeled", "%s holds no labels", path)
	}
	l := &Labeled{Path: path}
	for _, r := range rows {
		l.IDs = append(l.IDs, r.ID)
		l.Class = append(l.Class, index[r.ID])
		l.Line = append(l.Line, r.Line)
	}
	return l, nil
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
// label set when the cache has one, else the dataset's own.
func datasetClasses(db *cache.DB, spec string, opts datasets.Options) ([]string, error) {
	classes, _, err := db.OracleLabels(spec)
	if err == nil {
		return classes, nil
	}
	if !errors.Is(err, cache.ErrNotFound) {
		return nil, err
	}
	if cache.IsImportDataset(spec) {
		return nil, fmt.Errorf("loop: imported set %s has no labels to take class names from (import it with --labels): %w", spec, errNoImportClasses)
	}
	ds, err := datasets.Open(spec, opts)
	if err != nil {
		return nil, err
	}
	if len(ds.Classes()) < 2 {
		return nil, fmt.Errorf("loop: dataset %s has %d classes: a labeled set needs at least 2", spec, len(ds.Classes()))
	}
	return ds.Classes(), nil
}

// errNoImportClasses means an imported set was imported without labels:
// its classes come from the labeled file instead.
var errNoImportClasses = errors.New("no classes")

// labeledClasses returns the distinct labels of an id,label CSV, sorted as
// an import's labels are: the classes of an imported set imported
// without labels.
func labeledClasses(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &OptionError{Option: "labeled", Err: err}
	}
	rows, err := datasets.ReadLabels(bytes.NewReader(raw), path)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(rows))
	for _, r := range rows {
		names[r.ID] = r.Label
	}
	if len(names) == 0 {
		return nil, optionErr("labeled", "%s holds no labels", path)
	}
	classes, _, err := classesOf(names)
	if err != nil {
		return nil, optionErr("labeled", "%s: %v", path, err)
	}
	return classes, nil
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
