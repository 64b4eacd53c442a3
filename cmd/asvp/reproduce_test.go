package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/report"
)

// TestSelectReproducesSimulatedRound checks the one seed derivation shared
// by select and simulate: `asvp select` with a simulation's --seed and
// --round, on the labeled set that round started from (in the order it was
// bought), picks exactly what the simulated round picked, for a proxy
// strategy (margin with the MLP) and for k-center; and for margin another
// round number picks differently (the round reaches the proxy's stream).
func TestSelectReproducesSimulatedRound(t *testing.T) {
	path := simCache(t, 600, 200)
	classes := []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
	for _, strategy := range []string{"margin", "kcenter"} {
		t.Run(strategy, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sim")
			var stdout, stderr bytes.Buffer
			if err := runSimulate(context.Background(), []string{"--cache", path, "--pool", "fashion-mnist:train",
				"--test", "fashion-mnist:test", "--pipelines", "svpp", "--strategy", strategy, "--proxy", "mlp",
				"--init", "40", "--budget", "30", "--rounds", "2", "--seeds", "2", "--ft-epochs", "5",
				"--name", "repro-" + strategy, "--out", out, "--quiet"}, &stdout, &stderr); err != nil {
				t.Fatalf("simulate: %v\n%s", err, stderr.String())
			}
			b, err := os.ReadFile(filepath.Join(out, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			var doc report.Document
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			_, oracle, err := openOracle(path, "fashion-mnist:train")
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range doc.Results.Records {
				if rec.Seed != 2 || rec.Round == 0 {
					continue
				}
				// The labeled set the round started from: every earlier round's picks, in order.
				var bought []string
				for _, prev := range doc.Results.Records {
					if prev.Seed == rec.Seed && prev.Round < rec.Round {
						bought = append(bought, prev.Picks...)
					}
				}
				var csv strings.Builder
				csv.WriteString("id,label\n")
				for _, id := range bought {
					fmt.Fprintf(&csv, "%s,%s\n", id, classes[oracle[id]])
				}
				dir := t.TempDir()
				labeled := filepath.Join(dir, "labeled.csv")
				if err := os.WriteFile(labeled, []byte(csv.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				picks := func(round int) []string {
					t.Helper()
					batch := filepath.Join(dir, fmt.Sprintf("batch-%d.csv", round))
					asvp(t, "select", "--cache", path, "--data", "fashion-mnist:train", "--labeled", labeled, "--strategy", strategy,
						"--proxy", "mlp", "--budget", "30", "--seed", "2", "--round", fmt.Sprint(round), "--indicator", "never",
						"--out", batch, "--quiet")
					return readPickIDs(t, batch)
				}
				if got := picks(rec.Round); !slices.Equal(got, rec.Picks) {
					t.Errorf("round %d: select picked %v\nsimulation picked %v", rec.Round, got, rec.Picks)
				}
				if other := picks(rec.Round + 5); strategy == "margin" && slices.Equal(other, rec.Picks) {
					t.Errorf("round %d: another round number picks the same batch: the round does not reach the streams", rec.Round)
				}
			}
		})
	}
}

// openOracle reads the oracle labels of a dataset from a cache.
func openOracle(path, spec string) ([]string, map[string]int, error) {
	db, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	return db.OracleLabels(spec)
}
