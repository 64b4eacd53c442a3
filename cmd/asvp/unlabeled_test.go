package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstBatchOfUnlabeledPool runs the first step of the live loop on a
// pool with no labels at all: a flat folder of real photos, no class
// subfolders. A first batch needs no labels and no classes, as CSV and as
// Label Studio tasks (without pre-annotations); a strategy that needs a
// proxy still asks for labels.
func TestFirstBatchOfUnlabeledPool(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "imgs")
	if err := os.MkdirAll(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pool, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := filepath.Join(dir, "c.cache")
	asvp(t, "extract", "--data", "folder:"+pool, "--cache", c, "--quiet")

	csvOut := filepath.Join(dir, "batch-0.csv")
	asvp(t, "select", "--cache", c, "--strategy", "kcenter", "--budget", "3", "--out", csvOut, "--quiet")
	if ids := readPickIDs(t, csvOut); len(ids) != 3 {
		t.Fatalf("kcenter first batch: %d picks, want 3", len(ids))
	}

	tasksOut := filepath.Join(dir, "tasks.json")
	asvp(t, "select", "--cache", c, "--strategy", "random", "--budget", "2", "--format", "labelstudio", "--out", tasksOut, "--quiet")
	b, err := os.ReadFile(tasksOut)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []struct {
		Data        map[string]string `json:"data"`
		Predictions []any             `json:"predictions"`
	}
	if err := json.Unmarshal(b, &tasks); err != nil {
		t.Fatalf("tasks are not JSON: %v\n%s", err, b)
	}
	if len(tasks) != 2 {
		t.Fatalf("%d tasks, want 2", len(tasks))
	}
	for _, task := range tasks {
		if task.Data["asvp_id"] == "" || task.Data["image"] != "/data/local-files/?d="+task.Data["asvp_id"] || len(task.Predictions) != 0 {
			t.Errorf("first-batch task %+v: want a Label Studio local-files URL and no prediction", task)
		}
	}

	if _, stderr, err := asvpRun("select", "--cache", c, "--strategy", "margin", "--budget", "2", "--out", csvOut); err == nil ||
		!strings.Contains(stderr, "needs labeled samples") {
		t.Errorf("margin on an unlabeled pool: err %v, stderr %q; want it to ask for labels", err, stderr)
	}
}
