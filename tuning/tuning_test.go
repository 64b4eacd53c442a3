package tuning

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/features"
)

// TestFindActivations checks which set of a cache holds a feature set's
// activations: the same dataset, model, preprocessing and output; none is
// ErrNoActivations, two cuts unnamed are ambiguous.
func TestFindActivations(t *testing.T) {
	db, err := cache.Open(filepath.Join(t.TempDir(), "c.cache"), &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info := cache.SetInfo{Model: "m", ModelSHA256: "aa", Output: "pool", CardHash: "card", Dataset: "ds:a", DatasetID: "a", Dim: 4}
	add := func(change func(*cache.SetInfo)) *cache.Set {
		si := info
		change(&si)
		s, err := db.EnsureSet(si)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	feats := add(func(*cache.SetInfo) {})
	if _, _, err := FindActivations(db, feats, ""); !errors.Is(err, ErrNoActivations) {
		t.Fatalf("no activations: %v, want ErrNoActivations", err)
	}
	// Activations of another dataset, model or output do not count.
	add(func(si *cache.SetInfo) {
		si.Output, si.Dataset, si.DatasetID, si.Dim = cache.ActivationsOutput("c1", "pool"), "ds:b", "b", 8
	})
	add(func(si *cache.SetInfo) {
		si.Output, si.ModelSHA256, si.Dim = cache.ActivationsOutput("c1", "pool"), "bb", 8
	})
	add(func(si *cache.SetInfo) { si.Output, si.Dim = cache.ActivationsOutput("c1", "other"), 8 })
	if _, _, err := FindActivations(db, feats, ""); !errors.Is(err, ErrNoActivations) {
		t.Fatalf("only others' activations: %v, want ErrNoActivations", err)
	}
	want := add(func(si *cache.SetInfo) { si.Output, si.Dim = cache.ActivationsOutput("c1", "pool"), 8 })
	if got, cut, err := FindActivations(db, feats, ""); err != nil || got.Key() != want.Key() || cut != "c1" {
		t.Fatalf("FindActivations: %v %q %v, want set %s at c1", got, cut, err, want.ShortKey())
	}
	add(func(si *cache.SetInfo) { si.Output, si.Dim = cache.ActivationsOutput("c2", "pool"), 8 })
	if _, _, err := FindActivations(db, feats, ""); !errors.Is(err, cache.ErrAmbiguous) {
		t.Fatalf("two cuts unnamed: %v, want ErrAmbiguous", err)
	}
	if got, cut, err := FindActivations(db, feats, "c2"); err != nil || cut != "c2" || got.Key() == want.Key() {
		t.Fatalf("named cut c2: %v %q %v", got, cut, err)
	}
	// FindSet without an output means the features, not the activations.
	if s, err := db.FindSet("ds:a", ""); err != nil || s.Key() != feats.Key() {
		t.Fatalf("FindSet(ds:a, \"\") = %v, %v; want the features", s, err)
	}
}

// TestSplit checks that rows of an activations matrix split into the cut
// activation and the frozen inputs, in the order asked.
func TestSplit(t *testing.T) {
	s := &Source{sizes: []int{3, 2, 1}}
	m := features.NewMatrix(3, 6)
	for i := range m.Data {
		m.Data[i] = float32(i)
	}
	a := s.Split(m, []int{2, 0})
	if a.Rows != 2 || !slices.Equal(a.X, []float32{12, 13, 14, 0, 1, 2}) || len(a.Frozen) != 2 ||
		!slices.Equal(a.Frozen[0], []float32{15, 16, 3, 4}) || !slices.Equal(a.Frozen[1], []float32{17, 5}) {
		t.Fatalf("Split = %+v", a)
	}
	if all := s.Split(m, nil); all.Rows != 3 || len(all.X) != 9 {
		t.Fatalf("Split(nil) = %d rows, %d values", all.Rows, len(all.X))
	}
}
