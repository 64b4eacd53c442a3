package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/report"
	"github.com/asvp-dev/asvp/simulate"
)

func runReport(args []string, stdout, stderr io.Writer) error {
	return runIn(context.Background(), "report", args, stdout, stderr)
}

// readDoc reads a results.json.
func readDoc(t *testing.T, path string) report.Document {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc report.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// comparable returns recs without what no two runs share: the measured
// seconds, the finish times, and the generation numbers of re-aligned
// features, which number generations in the cache a unit ran in (kept as
// whether the generation is a re-aligned one).
func comparable(recs []simulate.RoundRecord) []simulate.RoundRecord {
	out := make([]simulate.RoundRecord, len(recs))
	for i, r := range recs {
		r.Seconds, r.Finished = simulate.Phases{}, time.Time{}
		r.SelectGen, r.PoolGen, r.TestGen = min(r.SelectGen, 1), min(r.PoolGen, 1), min(r.TestGen, 1)
		out[i] = r
	}
	return out
}

// TestSimulateShardsJoin runs one simulation (every pipeline, 2 seeds, on
// the real features and activations of 600 Fashion-MNIST pool samples) in
// one process, and again as 3 parts (simulate --shard i/3), each in its own
// copy of the cache, joined by asvp report: the joined records equal the
// single run's, round by round (picks, labeled sets, accuracies, methods,
// indicator values, re-alignments), and so do the summary's accuracies.
func TestSimulateShardsJoin(t *testing.T) {
	flags := func(cache, out string, extra ...string) []string {
		return append([]string{"--cache", cache, "--pool", crashPool, "--test", crashTest, "--output", crashOutput, "--pool-limit", "600", "--tune-epochs", "1",
			"--strategy", "margin", "--proxy", "mlp", "--proxy-epochs", "10", "--init", "40", "--budget", "40", "--rounds", "2", "--seeds", "2",
			"--indicator", "every", "--every", "2", "--min-labels", "0", "--extract-seconds", "36", "--out", out, "--quiet"}, extra...)
	}
	var stdout, stderr bytes.Buffer
	single := filepath.Join(t.TempDir(), "single")
	if err := runSimulate(context.Background(), flags(crashFixture(t), single), &stdout, &stderr); err != nil {
		t.Fatalf("simulate: %v\n%s", err, stderr.String())
	}
	const n = 3
	var parts []string
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("part-%d", i))
		stdout.Reset()
		stderr.Reset()
		if err := runSimulate(context.Background(), flags(crashFixture(t), dir, "--shard", fmt.Sprintf("%d/%d", i, n)), &stdout, &stderr); err != nil {
			t.Fatalf("simulate --shard %d/%d: %v\n%s", i, n, err, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "report.html")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("part %d wrote a report.html (%v): a part writes only results.json", i, err)
		}
		parts = append(parts, filepath.Join(dir, "results.json"))
	}
	// Every part holds its strided units only: 8 units, parts of 3, 3 and 2.
	for i, p := range parts {
		doc := readDoc(t, p)
		units := map[string]bool{}
		for _, r := range doc.Results.Records {
			if r.Pipeline != simulate.PipelineASVPFT {
				units[fmt.Sprintf("%s/%d", r.Pipeline, r.Seed)] = true
			}
		}
		if want := []int{3, 3, 2}[i]; len(units) != want || doc.Results.Shard != fmt.Sprintf("%d/%d", i, n) {
			t.Errorf("part %d: shard %q, units %v, want %d units", i, doc.Results.Shard, units, want)
		}
	}
	joined := filepath.Join(t.TempDir(), "joined")
	stdout.Reset()
	stderr.Reset()
	// Parts in another order than their numbers: the join does not care.
	if err := runReport([]string{"--out", joined, parts[2], parts[0], parts[1]}, &stdout, &stderr); err != nil {
		t.Fatalf("report: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "asvp-ft") || !strings.Contains(stdout.String(), "report: "+filepath.Join(joined, "report.html")) {
		t.Errorf("report's stdout:\n%s", stdout.String())
	}
	a, b := readDoc(t, filepath.Join(single, "results.json")), readDoc(t, filepath.Join(joined, "results.json"))
	if len(a.Results.Records) != 4*2*3+2*3 || a.Summary.Pipeline("asvp").Updates != 1 {
		t.Fatalf("single run: %d records, asvp re-alignments %v: not the run this test means", len(a.Results.Records), a.Summary.Pipeline("asvp").Updates)
	}
	ar, br := *a.Results, *b.Results
	ar.Records, br.Records = comparable(ar.Records), comparable(br.Records)
	if !reflect.DeepEqual(ar, br) {
		for i := range min(len(ar.Records), len(br.Records)) {
			if !reflect.DeepEqual(ar.Records[i], br.Records[i]) {
				t.Errorf("record %d differs:\nsingle %+v\njoined %+v", i, ar.Records[i], br.Records[i])
				break
			}
		}
		ar.Records, br.Records = nil, nil
		t.Fatalf("joined results differ from the single run's:\nsingle %+v\njoined %+v", ar, br)
	}
	if a.Summary.Costs != b.Summary.Costs || len(a.Summary.Pipelines) != len(b.Summary.Pipelines) {
		t.Fatalf("summaries: costs %+v and %+v, %d and %d pipelines", a.Summary.Costs, b.Summary.Costs, len(a.Summary.Pipelines), len(b.Summary.Pipelines))
	}
	for k, pa := range a.Summary.Pipelines {
		pb := b.Summary.Pipelines[k]
		if pa.Pipeline != pb.Pipeline || !reflect.DeepEqual(pa.Curve, pb.Curve) || pa.AUC != pb.AUC || pa.Final.AccMean != pb.Final.AccMean ||
			pa.Final.AccStd != pb.Final.AccStd || !reflect.DeepEqual(pa.Final.SSR, pb.Final.SSR) || pa.Updates != pb.Updates {
			t.Errorf("summary of %s differs from the joined %s:\n%+v\n%+v", pa.Pipeline, pb.Pipeline, pa, pb)
		}
	}

	// What the join refuses, each time naming what is wrong.
	// A part of another simulation: part 0 as if run with another budget.
	doc := readDoc(t, parts[0])
	doc.Results.Settings.Budget = 30
	other := filepath.Join(t.TempDir(), "results.json")
	if b, err := json.Marshal(doc); err != nil || os.WriteFile(other, b, 0o644) != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"a part missing", []string{"--out", t.TempDir(), parts[0], parts[2]}, "lack random seed 2, svpp seed 1, asvp seed 2", false},
		{"a part twice", []string{"--out", t.TempDir(), parts[0], parts[1], parts[2], parts[1]}, "is in part 1 and in part 3", false},
		{"another simulation", []string{"--out", t.TempDir(), other, parts[1], parts[2]}, "not of the same simulation", false},
		{"not a results file", []string{"--out", t.TempDir(), filepath.Join(joined, "results.csv")}, "results.csv", false},
		{"no parts", []string{"--out", t.TempDir()}, "want the results.json", true},
		{"no out", []string{parts[0]}, "required", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runReport(tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
			if errors.Is(err, errUsage) != tc.usage {
				t.Errorf("usage error %v, want %v", errors.Is(err, errUsage), tc.usage)
			}
		})
	}
	for _, bad := range []string{"3/3", "-1/3", "1", "a/b"} {
		err := runSimulate(context.Background(), flags(filepath.Join(t.TempDir(), "none.asvp"), t.TempDir(), "--shard", bad), &stdout, &stderr)
		if !errors.Is(err, errUsage) {
			t.Errorf("--shard %s: err %v, want a usage error", bad, err)
		}
	}
}
