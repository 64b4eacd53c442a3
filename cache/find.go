package cache

import (
	"fmt"
	"slices"
	"strings"
)

// FindSet returns the feature set of a dataset (as extraction named it) and
// backbone output. An empty dataset means the file's only dataset; an empty
// output means the dataset's only set. When nothing matches the error wraps
// ErrNotFound, when several do ErrAmbiguous; both list what the file holds.
func (db *DB) FindSet(dataset, output string) (*Set, error) {
	infos, err := db.Sets()
	if err != nil {
		return nil, err
	}
	if dataset == "" {
		ds := Datasets(infos)
		if len(ds) != 1 {
			return nil, fmt.Errorf("cache: %s holds %d datasets (%s): name one: %w", db.path, len(ds), orNone(ds), ErrAmbiguous)
		}
		dataset = ds[0]
	}
	var match []SetInfo
	for _, si := range infos {
		if si.Dataset == dataset && (output == "" || si.Output == output) {
			match = append(match, si)
		}
	}
	switch len(match) {
	case 1:
		return db.Set(match[0].Key)
	case 0:
		return nil, fmt.Errorf("cache: %s: no feature set of dataset %q%s; it holds:\n%s: %w", db.path, dataset, outputNote(output), ListSets(infos), ErrNotFound)
	}
	return nil, fmt.Errorf("cache: %s: %d feature sets of dataset %q%s; name the output:\n%s: %w", db.path, len(match), dataset, outputNote(output), ListSets(match), ErrAmbiguous)
}

// Datasets returns the distinct datasets of sets, in order of first
// appearance.
func Datasets(sets []SetInfo) []string {
	var out []string
	for _, si := range sets {
		if !slices.Contains(out, si.Dataset) {
			out = append(out, si.Dataset)
		}
	}
	return out
}

func outputNote(output string) string {
	if output == "" {
		return ""
	}
	return fmt.Sprintf(" with output %q", output)
}

// ListSets describes sets one per line (dataset, output, model, dimension
// and short key), for messages that say what a file holds.
func ListSets(sets []SetInfo) string {
	if len(sets) == 0 {
		return "  (no feature sets: extract features first)"
	}
	var b strings.Builder
	for _, si := range sets {
		fmt.Fprintf(&b, "  dataset %q output %q model %s dim %d key %s\n", si.Dataset, si.Output, si.Model, si.Dim, short(si.Key))
	}
	return strings.TrimRight(b.String(), "\n")
}
