package cache

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/features"
)

// TestGenerationLifeCycle walks one re-aligned generation through what a
// writer does: add it by provenance, write part of it (a killed run), find
// it again instead of adding another, write only the missing rows, refuse
// to finish it short, finish it; and checks PickGeneration at every step.
func TestGenerationLifeCycle(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("m", 3, ""))
	if err != nil {
		t.Fatal(err)
	}
	src := features.NewMatrix(10, 3)
	for i := range src.Rows {
		src.IDs[i] = fmt.Sprintf("s%02d", i)
		for j := range 3 {
			src.Row(i)[j] = float32(i*3 + j)
		}
	}
	if err := s.PutBatch(0, src.IDs, src.Data); err != nil {
		t.Fatal(err)
	}
	// The "model": 2 outputs per row, so the generation's dimension differs from the input's.
	calls := 0
	embed := func(x []float32, rows int, dst []float32) {
		calls += rows
		for i := range rows {
			dst[2*i], dst[2*i+1] = x[3*i]+x[3*i+2], -x[3*i+1]
		}
	}
	g := GenInfo{Dim: 2, Source: "adapter", Provenance: map[string]string{"net": "abc"}}
	n, done, err := s.EnsureGeneration(g)
	if err != nil || n != 1 || done {
		t.Fatalf("EnsureGeneration: %d %v %v, want 1, not complete", n, done, err)
	}
	// A killed writer: the first 4 rows only.
	part := &features.Matrix{IDs: src.IDs[:4], Rows: 4, Cols: 3, Data: src.Data[:12]}
	if w, err := s.WriteEmbedded(n, part, embed, 3, nil); err != nil || w != 4 {
		t.Fatalf("partial write: %d rows, %v", w, err)
	}
	if _, err := s.PickGeneration(n); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("PickGeneration of a partial generation: %v, want ErrIncomplete", err)
	}
	if got, err := s.PickGeneration(-1); err != nil || got != 0 {
		t.Fatalf("PickGeneration(-1) with a partial generation: %d %v, want 0", got, err)
	}
	if err := s.Finish(n, 10); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Finish of 4 of 10 rows: %v, want ErrIncomplete", err)
	}
	// The rerun finds the same generation and writes only what is missing.
	again, done, err := s.EnsureGeneration(g)
	if err != nil || again != n || done {
		t.Fatalf("EnsureGeneration again: %d %v %v, want %d, not complete", again, done, err, n)
	}
	calls = 0
	var seen []int
	w, err := s.WriteEmbedded(n, src, embed, 4, func(done, total int) { seen = append(seen, done, total) })
	if err != nil || w != 6 || calls != 6 {
		t.Fatalf("rerun wrote %d rows (%d embedded), %v; want 6", w, calls, err)
	}
	if !slices.Equal(seen, []int{4, 6, 6, 6}) {
		t.Errorf("progress %v, want batches of 4 then 2 of 6 missing", seen)
	}
	if err := s.Finish(n, 10); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PickGeneration(-1); err != nil || got != n {
		t.Fatalf("PickGeneration(-1): %d %v, want %d", got, err, n)
	}
	m, err := s.ReadMatrix(n)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 20)
	embed(src.Data, 10, want)
	if !slices.Equal(m.Data, want) || m.Cols != 2 {
		t.Fatalf("generation holds %v, want %v", m.Data, want)
	}
	if _, done, _ := s.EnsureGeneration(g); !done {
		t.Error("a finished generation is not reported complete")
	}
	// FindAligned: the newest complete generation aligned like another set's.
	if got, err := s.FindAligned(GenInfo{Source: "adapter", Provenance: map[string]string{"net": "abc"}}); err != nil || got != n {
		t.Errorf("FindAligned: %d %v, want %d", got, err, n)
	}
	if got, _ := s.FindAligned(GenInfo{Source: "adapter", Provenance: map[string]string{"net": "xyz"}}); got != -1 {
		t.Errorf("FindAligned of another provenance: %d, want -1", got)
	}
	bad := g
	bad.Dim = 5
	if _, _, err := s.EnsureGeneration(bad); !errors.Is(err, ErrMismatch) {
		t.Errorf("same provenance, other dimension: %v, want ErrMismatch", err)
	}
	if _, err := s.PickGeneration(9); !errors.Is(err, ErrNotFound) {
		t.Errorf("PickGeneration(9): %v, want ErrNotFound", err)
	}
}

func TestFindSet(t *testing.T) {
	db := openTest(t, false)
	add := func(dataset, output string) {
		si := testInfo("m", 4, "")
		si.Dataset, si.DatasetID, si.Output = dataset, dataset, output
		if _, err := db.EnsureSet(si); err != nil {
			t.Fatal(err)
		}
	}
	add("folder:/a", "pool")
	tests := []struct {
		name, data, output string
		want               error
		mention            string
	}{
		{"only set", "", "", nil, ""},
		{"by dataset", "folder:/a", "", nil, ""},
		{"unknown dataset", "folder:/z", "", ErrNotFound, `dataset "folder:/a" output "pool"`},
		{"unknown output", "folder:/a", "logits", ErrNotFound, `with output "logits"`},
	}
	check := func(tests []struct {
		name, data, output string
		want               error
		mention            string
	}) {
		for _, tc := range tests {
			s, err := db.FindSet(tc.data, tc.output)
			if tc.want == nil {
				if err != nil || s == nil {
					t.Errorf("%s: %v", tc.name, err)
				}
				continue
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("%s: %v, want %v mentioning %q", tc.name, err, tc.want, tc.mention)
			}
		}
	}
	check(tests)
	add("folder:/a", "logits")
	add("folder:/b", "pool")
	check([]struct {
		name, data, output string
		want               error
		mention            string
	}{
		{"two datasets", "", "", ErrAmbiguous, "folder:/a, folder:/b"},
		{"two outputs", "folder:/a", "", ErrAmbiguous, `output "logits"`},
		{"named", "folder:/a", "logits", nil, ""},
	})
}

func TestTypedRecords(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("m", 2, ""))
	if err != nil {
		t.Fatal(err)
	}
	// Extraction time: per shard, summed, and other sets' records left out.
	for _, r := range []struct {
		key           string
		shard, shards int
		sec           float64
	}{{s.Key(), 0, 1, 1.5}, {s.Key(), 0, 2, 2}, {s.Key(), 1, 2, 3}, {s.Key(), 1, 2, 0.5}, {strings.Repeat("f", 64), 0, 1, 100}} {
		if err := db.AddExtractionSeconds(r.key, r.shard, r.shards, r.sec); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.ExtractionSeconds(s.Key()); err != nil || got != 7 {
		t.Errorf("ExtractionSeconds = %v, %v; want 7", got, err)
	}
	// Indicator history: by labelled-set size, a round observed again replaced.
	for _, p := range []IndicatorPoint{{300, -0.3}, {100, -0.1}, {200, -0.2}, {200, -0.25}} {
		if err := s.PutIndicatorPoint(1, p); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := s.IndicatorHistory(1)
	if want := []IndicatorPoint{{100, -0.1}, {200, -0.25}, {300, -0.3}}; err != nil || !slices.Equal(hist, want) {
		t.Errorf("IndicatorHistory = %v, %v; want %v", hist, err, want)
	}
	if h, err := s.IndicatorHistory(0); err != nil || len(h) != 0 {
		t.Errorf("another generation's history: %v, %v", h, err)
	}
	// Simulation rounds: per pipeline and seed, in round order; deleting from a round on.
	if _, err := db.SimSettings("x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SimSettings of a new simulation: %v, want ErrNotFound", err)
	}
	if err := db.PutSimSettings("x", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	for r := range 12 {
		for _, p := range []string{"svpp", "asvp"} {
			if err := db.PutSimRound("x", p, 3, r, []byte(fmt.Sprintf("%s-%d", p, r))); err != nil {
				t.Fatal(err)
			}
		}
	}
	rounds, err := db.SimRounds("x", "asvp", 3)
	if err != nil || len(rounds) != 12 || rounds[10].Round != 10 || string(rounds[10].Value) != "asvp-10" {
		t.Fatalf("SimRounds: %d rounds, %v", len(rounds), err)
	}
	if err := db.DeleteSimRounds("x", "asvp", 3, 5); err != nil {
		t.Fatal(err)
	}
	if a, _ := db.SimRounds("x", "asvp", 3); len(a) != 5 {
		t.Errorf("after deleting from round 5: %d asvp rounds, want 5", len(a))
	}
	if b, _ := db.SimRounds("x", "svpp", 3); len(b) != 12 {
		t.Errorf("another pipeline lost rounds: %d, want 12", len(b))
	}
	if b, _ := db.SimSettings("x"); string(b) != `{"a":1}` {
		t.Errorf("settings %q", b)
	}
	// Oracle labels: stored, then read back; a missing dataset's error names the ones there are.
	if err := db.PutOracleLabels("ds:a", []string{"x", "y"}, map[string]int{"s1": 1}); err != nil {
		t.Fatal(err)
	}
	if c, l, err := db.OracleLabels("ds:a"); err != nil || len(c) != 2 || l["s1"] != 1 {
		t.Errorf("OracleLabels: %v %v %v", c, l, err)
	}
	if _, _, err := db.OracleLabels("ds:b"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ds:a") {
		t.Errorf("OracleLabels of an unlabeled dataset: %v", err)
	}
}
