package simulate

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// joinParts makes the parts of a simulation of pipelines x seeds with
// rounds 0..rounds, split as Run splits it into n parts; every record's
// accuracy encodes its unit and round, so a misplaced record shows.
func joinParts(pipelines []string, seeds []uint64, rounds, n int) []*Results {
	parts := make([]*Results, n)
	for i := range parts {
		parts[i] = &Results{Name: "x", Pipelines: pipelines, Seeds: seeds, Rounds: rounds, Shard: "i/n"}
	}
	unit := 0
	for pi, p := range pipelines {
		for _, s := range seeds {
			part := parts[unit%n]
			for r := range rounds + 1 {
				rec := RoundRecord{Pipeline: p, Seed: s, Round: r, Labels: 10 * (r + 1), Accuracy: float64(pi*1000+int(s)*10+r) / 1e4}
				if p == PipelineASVP {
					acc := rec.Accuracy / 2
					rec.AccuracyFT = &acc
				}
				part.Records = append(part.Records, rec)
			}
			unit++
		}
	}
	for _, part := range parts {
		if d := deriveASVPFT(part.Records); len(d) > 0 {
			part.Pipelines = append(slices.Clone(part.Pipelines), PipelineASVPFT)
			part.Records = append(part.Records, d...)
		}
	}
	return parts
}

func TestJoin(t *testing.T) {
	pipelines, seeds := []string{PipelineRandom, PipelineSVPP, PipelineASVP}, []uint64{1, 2}
	whole := joinParts(pipelines, seeds, 2, 1)[0]
	whole.Shard = ""
	for _, tc := range []struct {
		name  string
		parts func() []*Results
		want  string // "" : joins into whole
	}{
		{"one part", func() []*Results { return joinParts(pipelines, seeds, 2, 1) }, ""},
		{"3 parts", func() []*Results { return joinParts(pipelines, seeds, 2, 3) }, ""},
		{"6 parts, reversed", func() []*Results { p := joinParts(pipelines, seeds, 2, 6); slices.Reverse(p); return p }, ""},
		{"none", func() []*Results { return nil }, "nothing to join"},
		{"a part missing", func() []*Results { return joinParts(pipelines, seeds, 2, 3)[1:] }, "lack random seed 1, svpp seed 2"},
		{"a part twice", func() []*Results { p := joinParts(pipelines, seeds, 2, 2); return append(p, p[0]) }, "is in part 0 and in part 2"},
		{"a nil part", func() []*Results { return append(joinParts(pipelines, seeds, 2, 2), nil) }, "part 2 is empty"},
		{"other settings", func() []*Results { p := joinParts(pipelines, seeds, 2, 2); p[1].Settings.Budget = 7; return p }, "part 1 (shard \"i/n\") is not of the same simulation"},
		{"other rounds", func() []*Results {
			p := joinParts(pipelines, seeds, 2, 2)
			q := joinParts(pipelines, seeds, 3, 2)
			return []*Results{p[0], q[1]}
		}, "not of the same simulation"},
		{"a round missing", func() []*Results {
			p := joinParts(pipelines, seeds, 2, 2)
			p[1].Records = slices.Delete(p[1].Records, 1, 2) // random seed 2 round 1
			return p
		}, "part 1 holds 2 rounds of random seed 2, want 3"},
		{"rounds out of order", func() []*Results {
			p := joinParts(pipelines, seeds, 2, 2)
			p[1].Records[1], p[1].Records[2] = p[1].Records[2], p[1].Records[1]
			return p
		}, "random seed 2: record 1 is round 2"},
		{"a unit not listed", func() []*Results {
			p := joinParts(pipelines, seeds, 2, 2)
			p[0].Records = append(p[0].Records, RoundRecord{Pipeline: PipelineStandard, Seed: 1})
			return p
		}, "part 0 holds standard seed 1, which the simulation does not list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Join(tc.parts())
			if tc.want != "" {
				if err == nil || !errors.Is(err, ErrParts) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want ErrParts mentioning %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Shard != "" || !slices.Equal(got.Pipelines, whole.Pipelines) || !slices.EqualFunc(got.Records, whole.Records, func(a, b RoundRecord) bool {
				return a.Pipeline == b.Pipeline && a.Seed == b.Seed && a.Round == b.Round && a.Accuracy == b.Accuracy && a.Method == b.Method
			}) {
				t.Errorf("joined %+v\nwant %+v", got, whole)
			}
		})
	}
}
