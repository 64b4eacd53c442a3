package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/loop"
)

var (
	selectCacheOnce sync.Once
	selectCachePath string
)

// selectCache extracts 600 Fashion-MNIST test images once for the select tests.
func selectCache(t *testing.T) string {
	t.Helper()
	selectCacheOnce.Do(func() {
		selectCachePath = filepath.Join(testTmp, "select.cache")
		asvp(t, "extract", "--data", "fashion-mnist:test", "--limit", "600", "--cache", selectCachePath, "--quiet")
	})
	if selectCachePath == "" {
		t.Fatal("select cache was not built")
	}
	return selectCachePath
}

// writeLabeled writes the first n test samples with their true class names.
func writeLabeled(t *testing.T, n int) string {
	t.Helper()
	ds, err := datasets.Open("fashion-mnist:test", datasets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("id,label\n")
	for i := range n {
		s := ds.Sample(i)
		fmt.Fprintf(&b, "%s,%s\n", s.ID, ds.Classes()[s.Label])
	}
	p := filepath.Join(t.TempDir(), "labeled.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPickIDs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	return ids
}

func TestSelect(t *testing.T) {
	c := selectCache(t)
	labeled := writeLabeled(t, 60)
	dir := t.TempDir()
	for _, tc := range []struct{ strategy, proxy string }{
		{"margin", "linear"}, {"entropy", "mlp"}, {"kcenter", "mlp"}, {"badge", "linear"}, {"random", "linear"}, {"margin-power", "linear"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			var runs [2][]string
			for k := range runs {
				out := filepath.Join(dir, fmt.Sprintf("%s-%d.csv", tc.strategy, k))
				asvp(t, "select", "--cache", c, "--labeled", labeled, "--budget", "40", "--strategy", tc.strategy,
					"--proxy", tc.proxy, "--seed", "3", "--out", out, "--quiet", "--workers", fmt.Sprint(k+1))
				runs[k] = readPickIDs(t, out)
			}
			if len(runs[0]) != 40 {
				t.Fatalf("%d picks, want 40", len(runs[0]))
			}
			seen := map[string]bool{}
			for i, id := range runs[0] {
				n := 0
				fmt.Sscanf(strings.TrimPrefix(id, "test/"), "%d", &n)
				if n < 60 {
					t.Errorf("picked labeled sample %s", id)
				}
				if seen[id] {
					t.Errorf("picked %s twice", id)
				}
				seen[id] = true
				if runs[1][i] != id {
					t.Fatalf("same seed, other worker count: pick %d is %s then %s", i, id, runs[1][i])
				}
			}
		})
	}
}

func TestSelectLabelStudioRoundTrip(t *testing.T) {
	c := selectCache(t)
	labeled := writeLabeled(t, 40)
	tasks := filepath.Join(t.TempDir(), "tasks.json")
	asvp(t, "select", "--cache", c, "--labeled", labeled, "--budget", "5", "--proxy", "linear", "--out", tasks,
		"--format", "labelstudio", "--quiet")
	var got []struct {
		Data        map[string]string `json:"data"`
		Predictions []json.RawMessage `json:"predictions"`
	}
	b, err := os.ReadFile(tasks)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 5 {
		t.Fatalf("tasks: %v, %d tasks", err, len(got))
	}
	// A labeler answers every task "Bag"; the export comes back.
	var export []map[string]any
	for i, task := range got {
		if task.Data["asvp_id"] == "" || len(task.Predictions) != 1 {
			t.Fatalf("task %d: %+v", i, task)
		}
		export = append(export, map[string]any{"id": i + 1, "data": task.Data, "annotations": []any{map[string]any{
			"id": i + 1, "was_cancelled": false, "created_at": "2026-11-28T10:00:00Z",
			"result": []any{map[string]any{"from_name": "label", "to_name": "image", "type": "choices",
				"value": map[string]any{"choices": []string{"Bag"}}}},
		}}})
	}
	// A second labeler answered task 2 "Coat", earlier: the import is
	// refused, naming the task, until a resolution is asked for; then the
	// latest ("Bag") is taken and the disagreement counted.
	export[1]["annotations"] = append(export[1]["annotations"].([]any), map[string]any{
		"id": 99, "was_cancelled": false, "created_at": "2026-11-28T09:00:00Z",
		"result": []any{map[string]any{"from_name": "label", "type": "choices", "value": map[string]any{"choices": []string{"Coat"}}}},
	})
	exp := filepath.Join(t.TempDir(), "export.json")
	eb, _ := json.Marshal(export)
	if err := os.WriteFile(exp, eb, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(labeled)
	_, stderr, err := asvpRun("labels", "import", "--from", exp, "--labeled", labeled, "--cache", c)
	if after, _ := os.ReadFile(labeled); err == nil || !strings.Contains(stderr, "task 2 (asvp_id "+fmt.Sprintf("%q", got[1].Data["asvp_id"])+")") ||
		!strings.Contains(stderr, "--resolve") || string(after) != string(before) {
		t.Fatalf("disagreeing annotations: err %v, stderr %q; want a refusal naming task 2 that leaves the labeled file alone", err, stderr)
	}
	out, stderr, err := asvpRun("labels", "import", "--from", exp, "--labeled", labeled, "--cache", c, "--resolve", "latest")
	var res struct {
		Added, Total int
		Resolved     int `json:"resolved_disagreements"`
		Format       string
	}
	if err != nil || json.Unmarshal(out, &res) != nil || res.Added != 5 || res.Total != 45 || res.Resolved != 1 || res.Format != "json" {
		t.Fatalf("import: %s %s (%v)", out, stderr, err)
	}
	// The grown labeled file is usable at once, and the new samples are not picked again.
	next := filepath.Join(t.TempDir(), "next.csv")
	asvp(t, "select", "--cache", c, "--labeled", labeled, "--budget", "5", "--proxy", "linear", "--out", next, "--quiet")
	for _, id := range readPickIDs(t, next) {
		for _, task := range got {
			if task.Data["asvp_id"] == id {
				t.Errorf("%s was labeled but picked again", id)
			}
		}
	}
	// Importing a conflicting label is refused and names the sample.
	export[0]["annotations"].([]any)[0].(map[string]any)["result"].([]any)[0].(map[string]any)["value"] = map[string]any{"choices": []string{"Coat"}}
	eb, _ = json.Marshal(export)
	os.WriteFile(exp, eb, 0o644)
	_, stderr, err = asvpRun("labels", "import", "--from", exp, "--labeled", labeled, "--cache", c, "--resolve", "latest")
	if err == nil || !strings.Contains(stderr, got[0].Data["asvp_id"]) {
		t.Errorf("conflicting import: err %v, stderr %q", err, stderr)
	}
}

func TestSelectErrors(t *testing.T) {
	c := selectCache(t)
	labeled := writeLabeled(t, 30)
	unknown := filepath.Join(t.TempDir(), "unknown.csv")
	os.WriteFile(unknown, []byte("id,label\ntest/00001,Bag\ntest/99999,Bag\n"), 0o644)
	badLabel := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(badLabel, []byte("id,label\ntest/00001,Bag\ntest/00002,12\n"), 0o644)
	out := filepath.Join(t.TempDir(), "o.csv")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown id names the row", []string{"--labeled", unknown, "--budget", "5"}, "line 3"},
		{"class index out of range names the row", []string{"--labeled", badLabel, "--budget", "5"}, ":3"},
		{"budget larger than what is left", []string{"--labeled", labeled, "--budget", "999"}, "pass --budget 570 or --budget all"},
		{"unknown strategy", []string{"--labeled", labeled, "--budget", "5", "--strategy", "best"}, "margin"},
		{"one class only", []string{"--labeled", writeOneClass(t), "--budget", "5"}, "class"},
	} {
		args := append([]string{"select", "--cache", c, "--out", out, "--quiet"}, tc.args...)
		_, stderr, err := asvpRun(args...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: err %v, stderr %q, want it to mention %q", tc.name, err, stderr, tc.want)
		}
	}
}

func writeOneClass(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "one.csv")
	var b bytes.Buffer
	b.WriteString("id,label\n")
	for i := range 10 {
		fmt.Fprintf(&b, "test/%05d,Bag\n", i)
	}
	os.WriteFile(p, b.Bytes(), 0o644)
	return p
}

func TestSelectIndicatorAndFirstBatch(t *testing.T) {
	c := selectCache(t)
	dir := t.TempDir()
	// A first batch needs no labels with a proxy-free strategy, and refuses a proxy strategy.
	first := filepath.Join(dir, "first.csv")
	asvp(t, "select", "--cache", c, "--strategy", "kcenter", "--budget", "20", "--out", first, "--quiet")
	if n := len(readPickIDs(t, first)); n != 20 {
		t.Fatalf("first batch: %d picks, want 20", n)
	}
	if _, stderr, err := asvpRun("select", "--cache", c, "--strategy", "margin", "--budget", "5", "--out", first); err == nil ||
		!strings.Contains(stderr, "needs labeled samples") {
		t.Errorf("margin without labels: err %v, stderr %q", err, stderr)
	}
	// The indicator's verdict follows its rule and is reported.
	labeled := writeLabeled(t, 80)
	for _, tc := range []struct {
		args    []string
		realign bool
	}{
		{[]string{"--indicator", "never"}, false},
		{[]string{"--indicator", "threshold", "--threshold", "100", "--min-labels", "0"}, true},
	} {
		out := asvp(t, append([]string{"select", "--cache", c, "--labeled", labeled, "--budget", "5", "--proxy", "linear",
			"--out", filepath.Join(dir, "o.csv"), "--quiet"}, tc.args...)...)
		var res loop.SelectResult
		if err := json.Unmarshal(out, &res); err != nil || res.Indicator == nil {
			t.Fatalf("%v: %s (%v)", tc.args, out, err)
		}
		if res.Indicator.Realign != tc.realign || res.Indicator.Reason == "" || res.Indicator.Method != "lpft" {
			t.Errorf("%v: indicator %+v, want realign %v, a reason, and lpft before any re-alignment", tc.args, *res.Indicator, tc.realign)
		}
	}
}

// TestSelectValidatesBeforeActing checks that a select that cannot work
// says so with exit status 2 before anything is written: the cache file's
// bytes stay as they were (an unknown proxy used to fail after storing an
// indicator point), a generation below -1 is refused instead of meaning the
// newest, and an unknown generation is said once.
func TestSelectValidatesBeforeActing(t *testing.T) {
	c := selectCache(t)
	labeled := writeLabeled(t, 30)
	out := filepath.Join(t.TempDir(), "o.csv")
	before, err := os.ReadFile(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown proxy", []string{"--labeled", labeled, "--proxy", "svm", "--budget", "5"}, 2, "--proxy"},
		{"generation below -1", []string{"--labeled", labeled, "--gen", "-2", "--budget", "5"}, 2, "--gen -2"},
		{"unknown generation", []string{"--labeled", labeled, "--gen", "7", "--budget", "5"}, 1, "generation 7: not found"},
	} {
		_, stderr, err := asvpRun(append([]string{"select", "--cache", c, "--out", out, "--quiet"}, tc.args...)...)
		if code := exitCode(err); code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "generation 7") > 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q once", tc.name, code, stderr, tc.code, tc.want)
		}
		after, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("%s: the cache file changed", tc.name)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused select wrote its output")
	}
}

// TestSelectBudgetAll checks --budget all: every sample not yet labelled,
// once, in the strategy's order.
func TestSelectBudgetAll(t *testing.T) {
	c := selectCache(t)
	labeled := writeLabeled(t, 30)
	out := filepath.Join(t.TempDir(), "rest.csv")
	res := asvp(t, "select", "--cache", c, "--labeled", labeled, "--strategy", "random", "--budget", "all", "--out", out, "--quiet")
	ids := readPickIDs(t, out)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s picked twice", id)
		}
		seen[id] = true
	}
	if len(ids) != 570 || !strings.Contains(string(res), `"budget":570`) {
		t.Errorf("%d picks (%s), want the 570 unlabelled samples", len(ids), res)
	}
	if _, stderr, err := asvpRun("select", "--cache", c, "--budget", "some", "--out", out); exitCode(err) != 2 || !strings.Contains(stderr, "or all") {
		t.Errorf("--budget some: exit %d, %q; want a usage error", exitCode(err), stderr)
	}
}
