package loop

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
)

// InferDataset returns the dataset spec a command on a feature set of db
// works on, when the user gave none (spec ""): the cache's only dataset;
// or, when the cache holds several and labeledPath names an id,label CSV,
// the only dataset whose feature set (of output, "" for its only one)
// holds every labelled sample. A given spec is returned as it is. When no
// dataset is found, the error says which the cache holds (wrapping
// cache.ErrAmbiguous, as cache.DB.FindSet's does).
func InferDataset(db *cache.DB, spec, output, labeledPath string) (string, error) {
	if spec != "" {
		return spec, nil
	}
	infos, err := db.Sets()
	if err != nil {
		return "", err
	}
	all := cache.Datasets(infos)
	if len(all) <= 1 || labeledPath == "" {
		return "", nil // FindSet takes the only one, or says there is none or several
	}
	raw, err := os.ReadFile(labeledPath)
	if err != nil {
		return "", &OptionError{Option: "labeled", Err: err}
	}
	rows, err := datasets.ReadLabels(bytes.NewReader(raw), labeledPath)
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var holds []string
	for _, ds := range all {
		set, err := db.FindSet(ds, output)
		if err != nil {
			continue // no set of this output: not the one meant
		}
		missing, err := set.Missing(0, ids)
		if err != nil {
			return "", err
		}
		if len(missing) == 0 {
			holds = append(holds, ds)
		}
	}
	if len(holds) == 1 {
		return holds[0], nil
	}
	which := "none of them holds"
	if len(holds) > 1 {
		which = "each of " + strings.Join(holds, ", ") + " holds"
	}
	return "", fmt.Errorf("loop: cache %s holds %d datasets (%s) and %s every sample of %s: name one with --data: %w",
		db.Path(), len(all), strings.Join(all, ", "), which, labeledPath, cache.ErrAmbiguous)
}

// labelledDatasets returns the datasets of db that have both features (a
// set that is not cached activations) and oracle labels, in the order of
// their sets.
func labelledDatasets(db *cache.DB) ([]string, error) {
	infos, err := db.Sets()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ds := range cache.Datasets(infos) {
		_, _, err := db.OracleLabels(ds)
		switch {
		case err == nil:
			out = append(out, ds)
		case !errors.Is(err, cache.ErrNotFound):
			return nil, err
		}
	}
	return out, nil
}

// partner returns the test split named like a train split ("x:train" ->
// "x:test"), "" for a spec that does not end in ":train".
func partner(spec string) string {
	if base, ok := strings.CutSuffix(spec, ":train"); ok {
		return base + ":test"
	}
	return ""
}

// inferProbeData fills in Probe's pool and test when not given, from the
// datasets of db with features and oracle labels: the pool is the only one
// (other than a given test), or the ":train" half of a train/test pair;
// the test is the pool's ":test" partner when the cache holds it, else the
// pool itself, whose samples not drawn for training then measure the probe.
func inferProbeData(db *cache.DB, pool, test string) (string, string, error) {
	if pool != "" && test != "" {
		return pool, test, nil
	}
	have, err := labelledDatasets(db)
	if err != nil {
		return "", "", err
	}
	if len(have) == 0 {
		infos, err := db.Sets()
		if err != nil {
			return "", "", err
		}
		return "", "", optionErr("pool", "cache %s holds no dataset with labels (datasets: %s): the probe trains and tests on the labels of class folders or a manifest's label column",
			db.Path(), strings.Join(cache.Datasets(infos), ", "))
	}
	if pool == "" {
		others := slices.DeleteFunc(slices.Clone(have), func(s string) bool { return s == test })
		var pairs []string
		for _, s := range have {
			if p := partner(s); p != "" && slices.Contains(have, p) && (test == "" || test == p) {
				pairs = append(pairs, s)
			}
		}
		switch {
		case len(others) == 1:
			pool = others[0]
		case len(others) == 0: // the test is the only one: it is the pool too
			pool = test
		case len(pairs) == 1:
			pool = pairs[0]
		default:
			return "", "", optionErr("pool", "cache %s holds %d datasets with labels (%s): name the probe's training set with --pool",
				db.Path(), len(have), strings.Join(have, ", "))
		}
	}
	if test == "" {
		test = pool
		if p := partner(pool); p != "" && slices.Contains(have, p) {
			test = p
		}
	}
	return pool, test, nil
}
