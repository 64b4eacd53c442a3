package cache

import (
	"errors"
	"testing"
)

// TestComplete checks the completion records: generation 0 is complete,
// later ones once marked; LatestComplete skips unmarked ones; the record's
// namespace and key are the ones caches already on disk use; a damaged
// record is ErrCorrupt.
func TestComplete(t *testing.T) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("c", 4, ""))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.AddGeneration(GenInfo{Dim: 4, Source: "adapter"}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name   string
		do     func() error
		want   [4]bool // Complete(0..3)
		latest int
	}{
		{"none marked", func() error { return nil }, [4]bool{true, false, false, false}, 0},
		{"mark 1", func() error { return s.MarkComplete(1, 10) }, [4]bool{true, true, false, false}, 1},
		{"mark 3", func() error { return s.MarkComplete(3, 10) }, [4]bool{true, true, false, true}, 3},
		// A record written by an earlier asvp, under the same namespace and key.
		{"old record for 2", func() error {
			return db.PutRecord("asvp/generation-done", s.Key()+"/2", []byte(`{"done":true,"count":10,"written":"2026-11-01T00:00:00Z"}`))
		}, [4]bool{true, true, true, true}, 3},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for gen, want := range st.want {
			if got, err := s.Complete(gen); err != nil || got != want {
				t.Errorf("%s: Complete(%d) = %v, %v; want %v", st.name, gen, got, err, want)
			}
		}
		if got, err := s.LatestComplete(); err != nil || got != st.latest {
			t.Errorf("%s: LatestComplete = %d, %v; want %d", st.name, got, err, st.latest)
		}
	}
	if err := db.PutRecord(completeNS, s.completeKey(2), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged completion record: %v, want ErrCorrupt", err)
	}
}
