package cache

import (
	"fmt"
	"maps"

	"github.com/asvp-dev/asvp/features"
)

// This file is the life cycle of a re-aligned generation, one way for every
// writer (the built-in fine-tune, re-extraction with another model, the
// simulator): find or add the generation by its provenance, write the
// missing rows in batches of one transaction each, then check the count and
// mark it complete.

// DefaultWriteBatch is the number of rows WriteEmbedded stores per write
// transaction.
const DefaultWriteBatch = 4096

// EmbedFunc computes the features of rows samples: src holds their input
// rows (rows×input dimension, row-major) and dst receives their outputs
// (rows×the generation's dimension). A row's output must not depend on the
// other rows.
type EmbedFunc func(src []float32, rows int, dst []float32)

// PickGeneration returns gen when it is given (>= 0), exists and is
// complete, and otherwise (gen < 0) the newest complete generation.
func (s *Set) PickGeneration(gen int) (int, error) {
	if gen < 0 {
		return s.LatestComplete()
	}
	if _, err := s.Generation(gen); err != nil {
		return 0, err
	}
	if gen == 0 && s.info.Import != nil {
		return 0, s.checkImported()
	}
	ok, err := s.Complete(gen)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("cache: %s: generation %d of set %s is incomplete (its writer was interrupted): rerun what made it: %w",
			s.db.path, gen, s.ShortKey(), ErrIncomplete)
	}
	return gen, nil
}

// EnsureGeneration returns the generation above 0 whose Source and
// Provenance equal g's, adding one (with g's Dim) when there is none, and
// whether it is already complete. A found generation whose dimension is
// not g.Dim is an ErrMismatch.
func (s *Set) EnsureGeneration(g GenInfo) (n int, complete bool, err error) {
	gens, err := s.Generations()
	if err != nil {
		return 0, false, err
	}
	for _, h := range gens {
		if h.N == 0 || h.Source != g.Source || !maps.Equal(h.Provenance, g.Provenance) {
			continue
		}
		if h.Dim != g.Dim {
			return 0, false, fmt.Errorf("cache: %s: generation %d of set %s has dimension %d, want %d: %w",
				s.db.path, h.N, s.ShortKey(), h.Dim, g.Dim, ErrMismatch)
		}
		done, err := s.Complete(h.N)
		return h.N, done, err
	}
	n, err = s.AddGeneration(GenInfo{Dim: g.Dim, Source: g.Source, Provenance: g.Provenance})
	return n, false, err
}

// alignmentKeys are the provenance keys that say which model produced a
// generation re-extracted with another ONNX model (Source "onnx"); the
// rest of its provenance (the trainer command, the labelled set) is
// history.
var alignmentKeys = []string{"model_sha256", "model_output", "card_hash"}

// FindAligned returns the newest complete generation of s aligned like g (a
// generation of another set): for "onnx" generations, extracted by the same
// model, output and preprocessing; for others, with the same source and
// provenance. It returns -1 when there is none.
func (s *Set) FindAligned(g GenInfo) (int, error) {
	gens, err := s.Generations()
	if err != nil {
		return 0, err
	}
	for i := len(gens) - 1; i > 0; i-- {
		h := gens[i]
		same := h.Source == g.Source
		if same && g.Source == "onnx" {
			for _, k := range alignmentKeys {
				same = same && h.Provenance[k] == g.Provenance[k]
			}
		} else if same {
			same = maps.Equal(h.Provenance, g.Provenance)
		}
		if !same {
			continue
		}
		done, err := s.Complete(h.N)
		if err != nil {
			return 0, err
		}
		if done {
			return h.N, nil
		}
	}
	return -1, nil
}

// WriteEmbedded stores embed's outputs for the rows of src that generation
// gen does not hold yet, batch rows (DefaultWriteBatch when <= 0) per
// transaction, so that a killed writer loses at most one batch and a rerun
// writes only what is missing. progress, when not nil, is called after each
// batch with the rows written so far and the rows missing at the start. It
// returns the number of rows written.
func (s *Set) WriteEmbedded(gen int, src *features.Matrix, embed EmbedFunc, batch int, progress func(done, total int)) (int, error) {
	g, err := s.Generation(gen)
	if err != nil {
		return 0, err
	}
	if batch <= 0 {
		batch = DefaultWriteBatch
	}
	missing, err := s.Missing(gen, src.IDs)
	if err != nil {
		return 0, err
	}
	want := make(map[string]bool, len(missing))
	for _, id := range missing {
		want[id] = true
	}
	done := 0
	ids := make([]string, 0, batch)
	x := make([]float32, 0, batch*src.Cols)
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		out := make([]float32, len(ids)*g.Dim)
		embed(x, len(ids), out)
		if err := s.PutBatch(gen, ids, out); err != nil {
			return err
		}
		done += len(ids)
		if progress != nil {
			progress(done, len(missing))
		}
		ids, x = ids[:0], x[:0]
		return nil
	}
	for i, id := range src.IDs {
		if !want[id] {
			continue
		}
		ids = append(ids, id)
		x = append(x, src.Row(i)...)
		if len(ids) == batch {
			if err := flush(); err != nil {
				return done, err
			}
		}
	}
	return done, flush()
}

// Finish checks that generation gen holds want samples and marks it
// complete (MarkComplete); a count that differs is an error, and the
// generation stays incomplete.
func (s *Set) Finish(gen, want int) error {
	n, err := s.Count(gen)
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("cache: %s: generation %d of set %s holds %d samples after writing, want %d: %w",
			s.db.path, gen, s.ShortKey(), n, want, ErrIncomplete)
	}
	return s.MarkComplete(gen, n)
}

// ShortKey is the set's key cut to 12 hex digits, as messages and listings
// show it (Set accepts any unique prefix of 8 or more).
func (s *Set) ShortKey() string { return ShortKey(s.Key()) }

// ShortKey cuts a set key to the 12 hex digits that messages show.
func ShortKey(key string) string { return short(key) }
