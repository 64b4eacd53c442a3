package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/internal/fmnisttest"
	"github.com/asvp-dev/asvp/report"
)

// simCache writes a cache with real Fashion-MNIST data as features:
// pixels/255 averaged over 2x2 blocks (196-d, to keep the test fast), pool
// from the training split, test from t10k, and both oracle label sets.
func simCache(t *testing.T, poolN, testN int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fm.cache")
	db, err := cache.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	classes := []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	for _, sp := range []struct {
		split, spec string
		n           int
	}{{"train", "fashion-mnist:train", poolN}, {"t10k", "fashion-mnist:test", testN}} {
		px, lb := fmnisttest.Pixels(t, sp.spec, sp.n)
		set, err := db.EnsureSet(cache.SetInfo{Model: "pixels", ModelSHA256: "00", Output: "pool_2x2", CardHash: "raw",
			Dataset: sp.spec, DatasetID: sp.spec, Dim: 196})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, sp.n)
		vecs := make([]float32, sp.n*196)
		labels := make(map[string]int, sp.n)
		for i := range sp.n {
			ids[i] = fmt.Sprintf("%s/%05d", sp.split, i)
			labels[ids[i]] = lb[i]
			img := px[i*784 : (i+1)*784]
			for r := range 14 {
				for c := range 14 {
					s := int(img[2*r*28+2*c]) + int(img[2*r*28+2*c+1]) + int(img[(2*r+1)*28+2*c]) + int(img[(2*r+1)*28+2*c+1])
					vecs[i*196+r*14+c] = float32(s) / (4 * 255)
				}
			}
		}
		if err := set.PutBatch(0, ids, vecs); err != nil {
			t.Fatal(err)
		}
		if err := db.PutOracleLabels(sp.spec, classes, labels); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestSimulateCommand runs the command end to end on the real features and
// activations of 2,000 pool and 500 test Fashion-MNIST samples (every model
// the backbone's tail, fine-tuned for one epoch to keep the test short) and
// checks the outputs; then runs it again with one more round and checks
// that the stored rounds are reused.
func TestSimulateCommand(t *testing.T) {
	path := crashFixture(t)
	out := filepath.Join(t.TempDir(), "report")
	mk := func(rounds string) []string {
		return []string{"--cache", path, "--pool", crashPool, "--test", crashTest, "--output", crashOutput, "--pool-limit", "2000", "--tune-epochs", "1",
			"--strategy", "margin", "--proxy", "mlp", "--proxy-epochs", "20", "--ft-epochs", "10",
			"--init", "50", "--budget", "50", "--rounds", rounds, "--seeds", "2", "--out", out,
			"--indicator", "every", "--every", "2", "--min-labels", "0", "--extract-seconds", "36"}
	}
	args := mk("2")
	var stdout, stderr bytes.Buffer
	if err := runSimulate(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("simulate: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"pipeline", "random", "standard", "svpp", "asvp", "report: " + filepath.Join(out, "report.html")} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if n := strings.Count(stderr.String(), "simulate: "); n != 4*2*3 {
		t.Errorf("stderr has %d progress lines, want %d:\n%s", n, 4*2*3, stderr.String())
	}
	for _, f := range []string{"results.json", "results.csv", "report.md", "report.html", "learning_curves.png", "learning_curves.svg",
		"total_cost.png", "total_cost.svg", "time_per_phase.png", "time_per_phase.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	var doc report.Document
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Results.PoolSize != 2000 || doc.Results.TestSize != 500 || len(doc.Results.Records) != 30 {
		t.Fatalf("results: pool %d test %d records %d", doc.Results.PoolSize, doc.Results.TestSize, len(doc.Results.Records))
	}
	if doc.Summary.Costs.ExtractSeconds != 36 || doc.Summary.Costs.PriceLabel != 0.10 || doc.Summary.Costs.PriceHour != 3 {
		t.Errorf("costs %+v", doc.Summary.Costs)
	}
	for _, ps := range doc.Summary.Pipelines {
		// Real data, 150 labels: every pipeline is far above chance (0.1).
		if ps.Final.AccMean < 0.45 || ps.Final.Labels != 150 {
			t.Errorf("%s: final accuracy %.3f at %d labels", ps.Pipeline, ps.Final.AccMean, ps.Final.Labels)
		}
	}
	if asvp := doc.Summary.Pipeline("asvp"); asvp == nil || asvp.Updates != 1 {
		t.Errorf("asvp re-alignments %v, want 1 per seed (every 2 rounds)", asvp)
	}

	// One more round: the first three come from the cache.
	stdout.Reset()
	stderr.Reset()
	args = mk("3")
	if err := runSimulate(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("resumed simulate: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "(stored)"); n != 4*2*3 {
		t.Errorf("resumed run reused %d rounds, want %d", n, 4*2*3)
	}
	if n := strings.Count(stderr.String(), "simulate: "); n != 4*2*4 {
		t.Errorf("resumed run printed %d progress lines, want %d", n, 4*2*4)
	}
}

func TestSimulateCommandErrors(t *testing.T) {
	path := simCache(t, 100, 50)
	base := []string{"--cache", path, "--test", "fashion-mnist:test", "--pipelines", "random,svpp", "--out", t.TempDir()}
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"missing flags", []string{"--cache", path}, "required", true},
		{"unknown pool", append([]string{"--pool", "fashion-mnist:nope"}, base...), `dataset "fashion-mnist:train" output "pool_2x2"`, false},
		{"unknown output", append([]string{"--pool", "fashion-mnist:train", "--output", "logits"}, base...), "no feature set", false},
		{"unknown strategy", append([]string{"--pool", "fashion-mnist:train", "--strategy", "oracle"}, base...), "valid:", true},
		{"bad indicator", append([]string{"--pool", "fashion-mnist:train", "--indicator", "sometimes"}, base...), "unknown rule", true},
		{"budget beyond pool", append([]string{"--pool", "fashion-mnist:train", "--rounds", "50"}, base...), "labeled pool holds 100", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runSimulate(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
			if errors.Is(err, errUsage) != tc.usage {
				t.Errorf("usage error %v, want %v", errors.Is(err, errUsage), tc.usage)
			}
		})
	}
}

// TestSimulateWarnings checks that simulate says, on stderr even with
// --quiet, when its figures are less than they seem: the test set is the
// pool, or the pool has samples without an oracle label.
func TestSimulateWarnings(t *testing.T) {
	path := simCache(t, 300, 100)
	db, err := cache.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	classes, labels, err := db.OracleLabels("fashion-mnist:train")
	if err != nil {
		t.Fatal(err)
	}
	for id := range labels {
		if len(labels) == 250 {
			break
		}
		delete(labels, id) // a partly labelled pool
	}
	if err := db.PutOracleLabels("fashion-mnist:train", classes, labels); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, tc := range []struct {
		name, test string
		want       []string
	}{
		{"partly labelled pool", "fashion-mnist:test", []string{"the pool fashion-mnist:train has 300 samples but 250 with a label"}},
		{"test set is the pool", "fashion-mnist:train", []string{"the test set fashion-mnist:train is the pool", "has 300 samples but 250"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"--cache", path, "--pool", "fashion-mnist:train", "--test", tc.test, "--pipelines", "random,svpp",
				"--init", "20", "--budget", "20", "--rounds", "1", "--seeds", "1", "--ft-epochs", "2", "--proxy-epochs", "5", "--quiet", "--out", t.TempDir()}
			if err := runSimulate(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("simulate: %v\n%s", err, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), "simulate: warning: ") || !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks the warning %q", stderr.String(), w)
				}
			}
		})
	}
}
