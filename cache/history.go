package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/asvp-dev/asvp/datasets"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// This file gives every kind of stored record one owner: typed methods over
// the record namespaces and label-set names below, which no other package
// spells.
const (
	// extractNS holds the wall time of extractions, per set (and shard).
	extractNS = "extract"
	// indicatorNS holds the LogME history of the live loop, per set and generation.
	indicatorNS = "asvp/indicator"
	// simPrefix prefixes the namespace of one simulation's records.
	simPrefix = "sim/"
	// oraclePrefix prefixes the label set of a dataset's own labels.
	oraclePrefix = "oracle/"
)

// PutOracleLabels stores a dataset's own labels (folder names, manifest
// labels, IDX labels) as its oracle label set, which simulations use to play
// the labelling oracle. Labels already stored as given are left alone (no
// write), so a rerun on a read-only file succeeds.
func (db *DB) PutOracleLabels(dataset string, classes []string, labels map[string]int) error {
	name := oraclePrefix + dataset
	if have, got, err := db.Labels(name); err == nil && slices.Equal(have, classes) && maps.Equal(got, labels) {
		return nil
	}
	return db.PutLabels(name, classes, labels)
}

// OracleLabels returns the oracle label set of a dataset, or an error
// wrapping ErrNotFound that lists the label sets the file holds.
func (db *DB) OracleLabels(dataset string) (classes []string, labels map[string]int, err error) {
	classes, labels, err = db.Labels(oraclePrefix + dataset)
	if n := datasets.NormalizeSpec(dataset); errors.Is(err, ErrNotFound) && n != dataset {
		classes, labels, err = db.Labels(oraclePrefix + n)
	}
	if err == nil || !errors.Is(err, ErrNotFound) {
		return classes, labels, err
	}
	names, lerr := db.LabelSets()
	if lerr != nil {
		return nil, nil, lerr
	}
	var have []string
	for _, n := range names {
		if d, ok := strings.CutPrefix(n, oraclePrefix); ok {
			have = append(have, d)
		}
	}
	return nil, nil, fmt.Errorf("cache: %s: no oracle labels of dataset %q (datasets with labels: %s): %w",
		db.path, dataset, orNone(have), ErrNotFound)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// extractRecord is the value of an extraction-time record.
type extractRecord struct {
	Seconds float64 `json:"seconds"`
	Runs    int     `json:"runs"`
}

// extractKey keys the extraction time of a set, per shard, so that merged
// shard files keep every shard's time instead of conflicting.
func extractKey(setKey string, shard, shards int) string {
	if shards <= 1 {
		return setKey
	}
	return fmt.Sprintf("%s/shard-%d-of-%d", setKey, shard, shards)
}

// AddExtractionSeconds adds one extraction pass's wall time to the record of
// set setKey (shard of shards; 0 of 1 for a whole extraction). One pass
// computes all of its outputs, so each output's set is charged the whole
// pass: any one of them alone would have cost as much.
func (db *DB) AddExtractionSeconds(setKey string, shard, shards int, seconds float64) error {
	key := extractKey(setKey, shard, shards)
	var rec extractRecord
	if b, err := db.Record(extractNS, key); err == nil {
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("cache: %s: extraction record of set %s: %w: %w", db.path, short(setKey), ErrCorrupt, err)
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	rec.Seconds += seconds
	rec.Runs++
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return db.PutRecord(extractNS, key, b)
}

// ExtractionSeconds returns the wall time recorded for the extraction of set
// setKey, its shards' included; 0 when none is recorded.
func (db *DB) ExtractionSeconds(setKey string) (float64, error) {
	kvs, err := db.Records(extractNS)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, kv := range kvs {
		if kv.Key != setKey && !strings.HasPrefix(kv.Key, setKey+"/") {
			continue
		}
		var r extractRecord
		if json.Unmarshal(kv.Value, &r) == nil && r.Seconds > 0 {
			total += r.Seconds
		}
	}
	return total, nil
}

// IndicatorPoint is one observation of the live re-alignment indicator: the
// size of the labelled set and the LogME per sample of its features.
type IndicatorPoint struct {
	Labels int     `json:"labels"`
	LogME  float64 `json:"logme"`
}

func (s *Set) indicatorNS(gen int) string {
	return fmt.Sprintf("%s/%s/%d", indicatorNS, s.Key(), gen)
}

// PutIndicatorPoint stores an observation for generation gen, keyed by the
// labelled-set size: observing the same round again replaces it.
func (s *Set) PutIndicatorPoint(gen int, p IndicatorPoint) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.db.PutRecord(s.indicatorNS(gen), fmt.Sprintf("%012d", p.Labels), b)
}

// IndicatorHistory returns the observations stored for generation gen, by
// labelled-set size.
func (s *Set) IndicatorHistory(gen int) ([]IndicatorPoint, error) {
	ns := s.indicatorNS(gen)
	kvs, err := s.db.Records(ns)
	if err != nil {
		return nil, err
	}
	out := make([]IndicatorPoint, 0, len(kvs))
	for _, kv := range kvs {
		var p IndicatorPoint
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("cache: %s: indicator record %s/%s: %w: %w", s.db.path, ns, kv.Key, ErrCorrupt, err)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b IndicatorPoint) int { return a.Labels - b.Labels })
	return out, nil
}

// SimRound is one stored round of a simulation: its number and the value
// the simulator wrote.
type SimRound struct {
	Round int
	Value []byte
}

func simKey(pipeline string, seed uint64, round int) string {
	return fmt.Sprintf("%s/%d/%04d", pipeline, seed, round)
}

// SimSettings returns the settings stored for simulation name, or an error
// wrapping ErrNotFound.
func (db *DB) SimSettings(name string) ([]byte, error) {
	return db.Record(simPrefix+name, "settings")
}

// PutSimSettings stores the settings of simulation name.
func (db *DB) PutSimSettings(name string, v []byte) error {
	return db.PutRecord(simPrefix+name, "settings", v)
}

// PutSimRound stores round round of a simulation's pipeline and seed.
func (db *DB) PutSimRound(name, pipeline string, seed uint64, round int, v []byte) error {
	return db.PutRecord(simPrefix+name, simKey(pipeline, seed, round), v)
}

// SimRounds returns the stored rounds of a simulation's pipeline and seed,
// by round number.
func (db *DB) SimRounds(name, pipeline string, seed uint64) ([]SimRound, error) {
	kvs, err := db.Records(simPrefix + name)
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf("%s/%d/", pipeline, seed)
	var out []SimRound
	for _, kv := range kvs {
		rest, ok := strings.CutPrefix(kv.Key, prefix)
		if !ok {
			continue
		}
		r, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("cache: %s: simulation %q record %s: %w", db.path, name, kv.Key, ErrCorrupt)
		}
		out = append(out, SimRound{Round: r, Value: kv.Value})
	}
	return out, nil
}

// DeleteSimRounds removes the stored rounds of a simulation's pipeline and
// seed from round from on, as if the run had stopped before it.
func (db *DB) DeleteSimRounds(name, pipeline string, seed uint64, from int) error {
	rounds, err := db.SimRounds(name, pipeline, seed)
	if err != nil {
		return err
	}
	for _, r := range rounds {
		if r.Round >= from {
			if err := db.deleteRecord(simPrefix+name, simKey(pipeline, seed, r.Round)); err != nil {
				return err
			}
		}
	}
	return nil
}
