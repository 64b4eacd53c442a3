package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrParts is returned by Join for parts that do not make one whole
// simulation: a unit missing or held twice, or parts of different
// simulations.
var ErrParts = errors.New("simulate: the parts do not join")

// Join puts the results of the parts of one sharded simulation (Config.Shard
// and Shards, one Results per part, in any order) together into the Results
// the whole simulation run in one process gives: the same records in the
// same order, asvp-ft derived again from the joined asvp rounds.
//
// The parts must agree on everything but Shard and Records (name, settings,
// pipelines, seeds, rounds, pool, test set and classes), and together hold
// every (pipeline, seed) of the simulation exactly once, each with rounds
// 0..Rounds; any other input is an error naming the part (its index in
// parts) and the unit. Two things stay as the part recorded them, since no
// process can make them equal: the seconds of each phase (measured) and
// the generation numbers of re-aligned features (SelectGen, PoolGen,
// TestGen), which number generations in the cache the unit ran in.
func Join(parts []*Results) (*Results, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: nothing to join", ErrParts)
	}
	first := parts[0]
	head := func(r *Results) ([]byte, error) {
		h := *r
		h.Shard, h.Records = "", nil
		h.Pipelines = slices.DeleteFunc(slices.Clone(h.Pipelines), func(p string) bool { return p == PipelineASVPFT })
		return json.Marshal(h)
	}
	want, err := head(first)
	if err != nil {
		return nil, err
	}
	type unit struct {
		pipeline string
		seed     uint64
	}
	got := map[unit][]RoundRecord{}
	from := map[unit]int{}
	for k, p := range parts {
		if p == nil {
			return nil, fmt.Errorf("%w: part %d is empty", ErrParts, k)
		}
		h, err := head(p)
		if err != nil {
			return nil, err
		}
		if string(h) != string(want) {
			return nil, fmt.Errorf("%w: part %d (shard %q) is not of the same simulation as part 0 (shard %q): %s, not %s", ErrParts, k, p.Shard, first.Shard, h, want)
		}
		seen := map[unit]bool{}
		for _, r := range p.Records {
			if r.Pipeline == PipelineASVPFT {
				continue // derived again below
			}
			u := unit{r.Pipeline, r.Seed}
			if !seen[u] {
				if j, ok := from[u]; ok {
					return nil, fmt.Errorf("%w: %s seed %d is in part %d and in part %d", ErrParts, u.pipeline, u.seed, j, k)
				}
				seen[u], from[u] = true, k
			}
			got[u] = append(got[u], r)
		}
	}
	res := *first
	res.Shard, res.Records = "", nil
	res.Pipelines = slices.DeleteFunc(slices.Clone(first.Pipelines), func(p string) bool { return p == PipelineASVPFT })
	var missing []string
	for _, p := range res.Pipelines {
		for _, seed := range res.Seeds {
			u := unit{p, seed}
			recs, ok := got[u]
			if !ok {
				missing = append(missing, fmt.Sprintf("%s seed %d", p, seed))
				continue
			}
			delete(got, u)
			if len(recs) != res.Rounds+1 {
				return nil, fmt.Errorf("%w: part %d holds %d rounds of %s seed %d, want %d", ErrParts, from[u], len(recs), p, seed, res.Rounds+1)
			}
			for r, rec := range recs {
				if rec.Round != r {
					return nil, fmt.Errorf("%w: part %d: %s seed %d: record %d is round %d", ErrParts, from[u], p, seed, r, rec.Round)
				}
			}
			res.Records = append(res.Records, recs...)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: they lack %s (%d parts given)", ErrParts, strings.Join(missing, ", "), len(parts))
	}
	for u := range got {
		return nil, fmt.Errorf("%w: part %d holds %s seed %d, which the simulation does not list", ErrParts, from[u], u.pipeline, u.seed)
	}
	if d := deriveASVPFT(res.Records); len(d) > 0 {
		res.Pipelines = append(res.Pipelines, PipelineASVPFT)
		res.Records = append(res.Records, d...)
	}
	return &res, nil
}
