package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// completeNS is the record namespace that marks generations complete, one
// record per set and generation (key "SETKEY/GEN").
const completeNS = "asvp/generation-done"

// completeRecord is the value of a completion record.
type completeRecord struct {
	Done    bool      `json:"done"`
	Count   int       `json:"count"`
	Written time.Time `json:"written"`
}

func (s *Set) completeKey(gen int) string { return s.Key() + "/" + strconv.Itoa(gen) }

// MarkComplete records that generation gen holds all count of its samples.
// A writer calls it after the generation's last batch, so that a generation
// left half-written by a killed run never looks complete (Complete).
func (s *Set) MarkComplete(gen, count int) error {
	b, err := json.Marshal(completeRecord{Done: true, Count: count, Written: time.Now().UTC()})
	if err != nil {
		return err
	}
	return s.db.PutRecord(completeNS, s.completeKey(gen), b)
}

// Complete reports whether generation gen is complete: generation 0 of an
// extracted set (the extraction, which is incremental and resumable)
// always is, an imported set's once ImportSet wrote every row; a later one
// once its writer called MarkComplete. A simulation's working generations
// never are.
func (s *Set) Complete(gen int) (bool, error) {
	if gen == 0 && s.info.Import == nil {
		return true, nil
	}
	b, err := s.db.Record(completeNS, s.completeKey(gen))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var r completeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return false, fmt.Errorf("cache: %s: set %s generation %d completion record: %w: %w", s.db.path, short(s.Key()), gen, ErrCorrupt, err)
	}
	return r.Done, nil
}

// LatestComplete returns the newest complete generation, 0 when no later
// one is. An imported set whose import was interrupted has none: that is
// an error wrapping ErrIncomplete.
func (s *Set) LatestComplete() (int, error) {
	gens, err := s.Generations()
	if err != nil {
		return 0, err
	}
	for i := len(gens) - 1; i > 0; i-- {
		ok, err := s.Complete(gens[i].N)
		if err != nil {
			return 0, err
		}
		if ok {
			return gens[i].N, nil
		}
	}
	return 0, s.checkImported()
}
