package loop

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
)

// TestStoreOracleLabelsOnce checks that a rerun of extract leaves stored
// oracle labels alone: on a read-only cache, which refuses every write, the
// second call must succeed, while a dataset whose labels differ is written.
func TestStoreOracleLabelsOnce(t *testing.T) {
	ds, err := datasets.Open("fashion-mnist:test", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.asvp")
	db, err := cache.Open(path, &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := storeOracleLabels(db, ds.Spec(), ds); err != nil {
		t.Fatal(err)
	}
	// Change one stored label behind extract's back.
	classes, labels, err := db.OracleLabels(ds.Spec())
	if err != nil || len(labels) != ds.Len() {
		t.Fatalf("stored %d labels of %d: %v", len(labels), ds.Len(), err)
	}
	first := ds.Sample(0).ID
	labels[first] = (labels[first] + 1) % len(classes)
	if err := db.PutOracleLabels(ds.Spec(), classes, labels); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := storeOracleLabels(ro, ds.Spec(), ds); !errors.Is(err, cache.ErrReadOnly) {
		t.Fatalf("differing labels on a read-only cache: %v, want ErrReadOnly (a write)", err)
	}
	ro.Close()

	rw, err := cache.Open(path, &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := storeOracleLabels(rw, ds.Spec(), ds); err != nil { // repairs the label
		t.Fatal(err)
	}
	rw.Close()
	ro, err = cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := storeOracleLabels(ro, ds.Spec(), ds); err != nil {
		t.Fatalf("same labels again: %v, want no write", err)
	}
}
