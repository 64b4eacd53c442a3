package cache

import (
	"fmt"
	"github.com/asvp-dev/asvp/datasets"
	"slices"
	"strings"
)

// FindSet returns the feature set of a dataset (as extraction named it) and
// backbone output. An empty dataset means the file's only dataset; an empty
// output means the dataset's only set of features (cached activations,
// ActivationsOutput, are named only explicitly). When nothing matches the error wraps
// ErrNotFound, when several do ErrAmbiguous; both list what the file holds.
// An imported set whose import was interrupted is an error wrapping
// ErrIncomplete.
//
// In place of a dataset, SetSpec(key) names one set by its key or a unique
// prefix of it (what the commands' --set gives); output, when given, must
// then be the set's.
func (db *DB) FindSet(dataset, output string) (*Set, error) {
	if key, ok := strings.CutPrefix(dataset, setPrefix); ok {
		s, err := db.Set(key)
		if err != nil {
			return nil, err
		}
		if output != "" && s.info.Output != output {
			return nil, fmt.Errorf("cache: %s: set %s holds output %q, not %q: %w", db.path, s.ShortKey(), s.info.Output, output, ErrMismatch)
		}
		if err := s.checkImported(); err != nil {
			return nil, err
		}
		return s, nil
	}
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
		_, _, acts := ParseActivationsOutput(si.Output)
		if sameSpec(si.Dataset, dataset) && (si.Output == output || output == "" && !acts) {
			match = append(match, si)
		}
	}
	switch len(match) {
	case 1:
		s, err := db.Set(match[0].Key)
		if err != nil {
			return nil, err
		}
		if err := s.checkImported(); err != nil {
			return nil, err
		}
		return s, nil
	case 0:
		return nil, fmt.Errorf("cache: %s: no feature set of dataset %q%s; it holds:\n%s: %w", db.path, dataset, outputNote(output), ListSets(infos), ErrNotFound)
	}
	what := "name the output"
	if !slices.ContainsFunc(match, func(si SetInfo) bool { return si.Output != match[0].Output }) {
		what = "name one with --set KEY"
	}
	return nil, fmt.Errorf("cache: %s: %d feature sets of dataset %q%s; %s:\n%s: %w", db.path, len(match), dataset, outputNote(output), what, ListSets(match), ErrAmbiguous)
}

// sameSpec reports whether two dataset specs name one dataset: equal once
// normalised (datasets.NormalizeSpec: folder:pool, folder:./pool/ and the
// absolute path are one).
func sameSpec(a, b string) bool {
	return a == b || datasets.NormalizeSpec(a) == datasets.NormalizeSpec(b)
}

// SpecDatasetID is the DatasetID of a feature set extracted in format 2:
// the dataset's normalised spec, so that the set's key does not change
// when the dataset's files do (its view says which content it holds).
func SpecDatasetID(spec string) string { return "spec:" + datasets.NormalizeSpec(spec) }

// EnsureDatasetSet returns the extracted feature set of info's model,
// output, preprocessing and dataset (info.Dataset, normalised), creating it
// when there is none. Its key is Fingerprint over SpecDatasetID; a set of
// the same dataset extracted in format 1 (keyed by the file list) is used
// when there is no such set, the newest when there are several, so that
// its vectors are adopted (ApplyView) and not extracted again.
func (db *DB) EnsureDatasetSet(info SetInfo) (*Set, error) {
	info.Dataset = datasets.NormalizeSpec(info.Dataset)
	info.DatasetID = SpecDatasetID(info.Dataset)
	info.Key = ""
	infos, err := db.Sets()
	if err != nil {
		return nil, err
	}
	want := Fingerprint(info.ModelSHA256, info.Output, info.CardHash, info.DatasetID)
	var legacy *SetInfo
	for i, si := range infos {
		if si.Key == want {
			legacy = nil
			break
		}
		if si.Import == nil && si.ModelSHA256 == info.ModelSHA256 && si.Output == info.Output &&
			si.CardHash == info.CardHash && sameSpec(si.Dataset, info.Dataset) &&
			(legacy == nil || si.Created.After(legacy.Created)) {
			legacy = &infos[i]
		}
	}
	if legacy == nil {
		return db.EnsureSet(info)
	}
	dtype := info.DType
	if dtype == "" {
		dtype = DTypeFloat32
	}
	if legacy.Dim != info.Dim || legacy.DType != dtype {
		return nil, fmt.Errorf("cache: %s: set %s holds %s vectors of dimension %d, not %s of dimension %d: %w",
			db.path, short(legacy.Key), legacy.DType, legacy.Dim, dtype, info.Dim, ErrMismatch)
	}
	return db.newSet(*legacy), nil
}

// Datasets returns the distinct datasets of sets, in order of first
// appearance.
func Datasets(sets []SetInfo) []string {
	var out []string
	for _, si := range sets {
		if !slices.ContainsFunc(out, func(d string) bool { return sameSpec(d, si.Dataset) }) {
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

// ActivationsOutput names the cached inputs of the backbone's tail above
// cut that computes output (the cut activation and the tail's frozen
// inputs, one vector per sample): extraction stores them as a set of that
// output name, beside the output's own features, for the built-in
// fine-tuning.
func ActivationsOutput(cut, output string) string { return activationsPrefix + cut + ">" + output }

const activationsPrefix = "tail-input:"

// ParseActivationsOutput returns the cut and output of an ActivationsOutput
// name, and whether name is one.
func ParseActivationsOutput(name string) (cut, output string, ok bool) {
	rest, ok := strings.CutPrefix(name, activationsPrefix)
	if !ok {
		return "", "", false
	}
	cut, output, ok = strings.Cut(rest, ">")
	return cut, output, ok && cut != "" && output != ""
}

// SetSpec is what FindSet takes, in place of a dataset spec, to name the
// set of the given key (or unique prefix of at least 8 hex digits).
func SetSpec(key string) string { return setPrefix + key }

const setPrefix = "set:"
