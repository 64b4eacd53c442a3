package loop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
)

// inferCache writes a cache with one feature set per dataset (samples
// named "<dataset>/<k>", k < 3) and oracle labels for those in labelled.
func inferCache(t *testing.T, dsets []string, labelled map[string]bool) *cache.DB {
	t.Helper()
	db, err := cache.Open(filepath.Join(t.TempDir(), "c.asvp"), &cache.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, ds := range dsets {
		set, err := db.EnsureSet(cache.SetInfo{Model: "m", ModelSHA256: strings.Repeat("cd", 32), Output: "feat", CardHash: "card", Dataset: ds, DatasetID: ds, Dim: 2})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		labels := map[string]int{}
		for k := range 3 {
			ids = append(ids, fmt.Sprintf("%s/%d", ds, k))
			labels[ids[k]] = k % 2
		}
		if err := set.PutBatch(0, ids, make([]float32, 2*len(ids))); err != nil {
			t.Fatal(err)
		}
		if labelled[ds] {
			if err := db.PutOracleLabels(ds, []string{"a", "b"}, labels); err != nil {
				t.Fatal(err)
			}
		}
	}
	return db
}

func TestInferDataset(t *testing.T) {
	two := []string{"folder:pool", "folder:test"}
	for _, tc := range []struct {
		name   string
		dsets  []string
		spec   string
		ids    []string // of the labelled file; nil for none
		want   string
		errHas string
	}{
		{name: "given", dsets: two, spec: "folder:test", ids: []string{"folder:pool/0"}, want: "folder:test"},
		{name: "only one: left to FindSet", dsets: two[:1], ids: []string{"folder:pool/0"}, want: ""},
		{name: "the one holding the labels", dsets: two, ids: []string{"folder:pool/2", "folder:pool/0"}, want: "folder:pool"},
		{name: "the other one", dsets: two, ids: []string{"folder:test/1"}, want: "folder:test"},
		{name: "in none", dsets: two, ids: []string{"folder:pool/0", "folder:test/1"}, errHas: "none of them holds every sample"},
		{name: "no labelled file: left to FindSet", dsets: two, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := inferCache(t, tc.dsets, nil)
			labeled := ""
			if tc.ids != nil {
				labeled = filepath.Join(t.TempDir(), "labeled.csv")
				body := "id,label\n"
				for _, id := range tc.ids {
					body += id + ",a\n"
				}
				if err := os.WriteFile(labeled, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := InferDataset(db, tc.spec, "", labeled)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || !errors.Is(err, cache.ErrAmbiguous) {
					t.Fatalf("InferDataset = %q, %v; want an ambiguity error containing %q", got, err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("InferDataset = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestInferProbeData(t *testing.T) {
	for _, tc := range []struct {
		name             string
		dsets            []string
		labelled         []string
		pool, test       string
		wantPool, wantTs string
		errHas           string
	}{
		{name: "one labelled dataset: held out", dsets: []string{"folder:a"}, labelled: []string{"folder:a"}, wantPool: "folder:a", wantTs: "folder:a"},
		{name: "train/test pair", dsets: []string{"fashion-mnist:test", "fashion-mnist:train"}, labelled: []string{"fashion-mnist:test", "fashion-mnist:train"},
			wantPool: "fashion-mnist:train", wantTs: "fashion-mnist:test"},
		{name: "one of two labelled", dsets: []string{"folder:a", "folder:b"}, labelled: []string{"folder:b"}, wantPool: "folder:b", wantTs: "folder:b"},
		{name: "the other than the test", dsets: []string{"folder:a", "folder:b"}, labelled: []string{"folder:a", "folder:b"}, test: "folder:b",
			wantPool: "folder:a", wantTs: "folder:b"},
		{name: "pool given, no partner", dsets: []string{"folder:a", "folder:b"}, labelled: []string{"folder:a", "folder:b"}, pool: "folder:b",
			wantPool: "folder:b", wantTs: "folder:b"},
		{name: "two unrelated", dsets: []string{"folder:a", "folder:b"}, labelled: []string{"folder:a", "folder:b"}, errHas: "name the probe's training set with --pool"},
		{name: "no labels", dsets: []string{"folder:flat"}, errHas: "holds no dataset with labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labelled := map[string]bool{}
			for _, d := range tc.labelled {
				labelled[d] = true
			}
			db := inferCache(t, tc.dsets, labelled)
			pool, test, err := inferProbeData(db, tc.pool, tc.test)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("inferProbeData = %q, %q, %v; want an error containing %q", pool, test, err, tc.errHas)
				}
				return
			}
			if err != nil || pool != tc.wantPool || test != tc.wantTs {
				t.Fatalf("inferProbeData = %q, %q, %v; want %q, %q", pool, test, err, tc.wantPool, tc.wantTs)
			}
		})
	}
}
