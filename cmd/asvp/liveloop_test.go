package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/internal/fmnisttest"
)

// handNames are the class names a person types for Fashion-MNIST's ten
// classes: none of them is a name the (flat, unlabeled) pool knows.
var handNames = [10]string{"top", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"}

// lsTaskFile is a Label Studio task as select writes it.
type lsTaskFile struct {
	Data        map[string]string `json:"data"`
	Predictions []struct {
		Result []struct {
			FromName string `json:"from_name"`
			Value    struct {
				Choices []string `json:"choices"`
			} `json:"value"`
		} `json:"result"`
	} `json:"predictions"`
}

// TestLiveLoopOnUnlabeledFolder runs the README's live loop on a flat
// folder of unlabeled images: a first batch as Label Studio tasks whose
// image URLs Label Studio serves, the labelling config printed by the CLI,
// the batch labelled and exported in Label Studio's three formats (JSON,
// JSON-MIN, CSV) and imported, a round labelled by hand in a CSV with new
// class names, a selection with the proxy, a fine-tune, and a selection on
// the re-aligned features with pre-annotations in the user's class names.
func TestLiveLoopOnUnlabeledFolder(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "pool")
	if err := os.Mkdir(pool, 0o755); err != nil {
		t.Fatal(err)
	}
	oracle := writeUnlabeledFolder(t, pool, 150, func(i int) string {
		return fmt.Sprintf("IMG_%04d.png", (i*37)%150+1000) // camera names, in no class order
	})
	c := filepath.Join(dir, "pool.cache")
	labeled := filepath.Join(dir, "labeled.csv")
	asvp(t, "extract", "--data", "folder:"+pool, "--cache", c, "--quiet")

	// 1. First batch, no labels: Label Studio tasks with local-files URLs.
	tasks0 := filepath.Join(dir, "tasks-0.json")
	_, stderr, err := asvpRun("select", "--cache", c, "--strategy", "kcenter", "--budget", "30", "--format", "labelstudio", "--out", tasks0)
	if err != nil {
		t.Fatalf("first batch: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="+pool) {
		t.Errorf("select does not say how Label Studio serves the images: %q", stderr)
	}
	batch := readTasks(t, tasks0)
	if len(batch) != 30 {
		t.Fatalf("%d tasks, want 30", len(batch))
	}
	for _, task := range batch {
		id := task.Data["asvp_id"]
		if want := "/data/local-files/?d=" + id; task.Data["image"] != want || len(task.Predictions) != 0 {
			t.Fatalf("first-batch task %+v: want image %q and no pre-annotation", task, want)
		}
	}

	// 2. The labelling config, from the CLI: the class names the team picked.
	config := string(asvp(t, "labels", "config", "--classes", strings.Join(handNames[:], ",")))
	for _, want := range []string{`<Image name="image" value="$image"`, `<Choices name="label" toName="image" choice="single"`, `<Choice value="sneaker"/>`} {
		if !strings.Contains(config, want) {
			t.Errorf("config lacks %s:\n%s", want, config)
		}
	}

	// 3. The batch comes back from Label Studio in its three export
	// formats, a third each; every import adds its part.
	thirds := [][]lsTaskFile{batch[:10], batch[10:20], batch[20:]}
	for k, write := range []func(*testing.T, string, []lsTaskFile, map[string]string) string{writeLSJSON, writeLSJSONMin, writeLSCSV} {
		exp := write(t, dir, thirds[k], oracle)
		out := asvp(t, "labels", "import", "--from", exp, "--labeled", labeled, "--cache", c, "--quiet")
		var res struct {
			Added, Total int
			Format       string
			NewClasses   []string `json:"new_classes"`
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Added != 10 || res.Total != 10*(k+1) {
			t.Fatalf("import of %s: %s (%v)", exp, out, err)
		}
		if want := []string{"json", "json-min", "csv"}[k]; res.Format != want {
			t.Errorf("%s read as %q, want %q", exp, res.Format, want)
		}
	}

	// 4. A round: the proxy picks, a person labels the picks by hand in a CSV.
	batch1 := filepath.Join(dir, "batch-1.csv")
	out := asvp(t, "select", "--cache", c, "--labeled", labeled, "--strategy", "margin", "--budget", "30", "--out", batch1, "--quiet")
	var sel struct{ Classes []string }
	if err := json.Unmarshal(out, &sel); err != nil || len(sel.Classes) < 2 {
		t.Fatalf("select: %s (%v)", out, err)
	}
	for _, cl := range sel.Classes {
		if !slices.Contains(handNames[:], cl) {
			t.Errorf("class %q is not one the labels named", cl)
		}
	}
	picks := readPickIDs(t, batch1)
	var hand bytes.Buffer
	hand.WriteString("id,label\n")
	have, _ := os.ReadFile(labeled)
	for _, id := range picks {
		if strings.Contains(string(have), "\n"+id+",") {
			t.Errorf("%s was labeled but picked again", id)
		}
		fmt.Fprintf(&hand, "%s,%s\n", id, oracle[id])
	}
	handFile := filepath.Join(dir, "batch-1-labels.csv")
	os.WriteFile(handFile, hand.Bytes(), 0o644)
	asvp(t, "labels", "import", "--from", handFile, "--labeled", labeled, "--cache", c, "--quiet")

	// 5. Fine-tune the backbone's top blocks on the 60 labels: generation 1.
	// The class indices of earlier rounds stay (new names come after).
	net := filepath.Join(dir, "net.bin")
	out = asvp(t, "finetune", "--cache", c, "--labeled", labeled, "--method", "ft", "--epochs", "3", "--save", net, "--quiet")
	var ft struct {
		Generation int
		Classes    []string
	}
	if err := json.Unmarshal(out, &ft); err != nil || ft.Generation != 1 || len(ft.Classes) < len(sel.Classes) || !slices.Equal(ft.Classes[:len(sel.Classes)], sel.Classes) {
		t.Fatalf("finetune: %s (%v)", out, err)
	}

	// 6. Next batch on the re-aligned features, as tasks pre-annotated in
	// the user's class names, under a URL prefix the images are served at.
	tasks2 := filepath.Join(dir, "tasks-2.json")
	asvp(t, "select", "--cache", c, "--gen", "-1", "--labeled", labeled, "--budget", "10", "--format", "labelstudio",
		"--image-url", "http://127.0.0.1:8081/pool", "--out", tasks2, "--quiet")
	for _, task := range readTasks(t, tasks2) {
		if want := "http://127.0.0.1:8081/pool/" + task.Data["asvp_id"]; task.Data["image"] != want {
			t.Errorf("image %q, want %q", task.Data["image"], want)
		}
		if len(task.Predictions) != 1 || task.Predictions[0].Result[0].FromName != "label" ||
			!slices.Contains(handNames[:], task.Predictions[0].Result[0].Value.Choices[0]) {
			t.Errorf("pre-annotation %+v: want one of the user's class names under from_name label", task.Predictions)
		}
	}
	asvp(t, "export", "--cache", c, "--net", net, "--out", filepath.Join(dir, "deploy.onnx"))
}

// writeUnlabeledFolder writes the first n Fashion-MNIST test images as
// PNGs named name(i) into the folder pool (no class folders, no labels)
// and returns what the person labelling them sees: each file's class, as
// handNames spells it.
func writeUnlabeledFolder(t *testing.T, pool string, n int, name func(i int) string) map[string]string {
	t.Helper()
	px, truth := fmnisttest.Pixels(t, "fashion-mnist:test", n)
	oracle := make(map[string]string, n)
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		copy(img.Pix, px[i*784:(i+1)*784])
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pool, name(i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		oracle[name(i)] = handNames[truth[i]]
	}
	return oracle
}

func readTasks(t *testing.T, path string) []lsTaskFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []lsTaskFile
	if err := json.Unmarshal(b, &tasks); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tasks
}

// The three writers below build Label Studio exports of answered tasks in
// the shapes Label Studio documents and its converter writes: the full JSON
// (tasks with data and annotations), JSON-MIN (one flat record per
// annotation: the task's data fields, its id, the answer under the
// control's name, annotator and times) and CSV (those records as rows,
// values unquoted).

func writeLSJSON(t *testing.T, dir string, tasks []lsTaskFile, oracle map[string]string) string {
	var out []map[string]any
	for i, task := range tasks {
		out = append(out, map[string]any{"id": 100 + i, "data": task.Data, "annotations": []any{map[string]any{
			"id": 500 + i, "completed_by": 1, "was_cancelled": false, "ground_truth": false,
			"created_at": "2026-12-01T10:00:00.000000Z", "updated_at": "2026-12-01T10:00:00.000000Z", "lead_time": 2.5,
			"result": []any{map[string]any{"id": "r" + fmt.Sprint(i), "from_name": "label", "to_name": "image", "type": "choices",
				"origin": "manual", "value": map[string]any{"choices": []string{oracle[task.Data["asvp_id"]]}}}},
		}}, "predictions": []any{}})
	}
	return writeJSON(t, filepath.Join(dir, "export.json"), out)
}

func writeLSJSONMin(t *testing.T, dir string, tasks []lsTaskFile, oracle map[string]string) string {
	var out []map[string]any
	for i, task := range tasks {
		out = append(out, map[string]any{"image": task.Data["image"], "asvp_id": task.Data["asvp_id"], "id": 200 + i,
			"label": oracle[task.Data["asvp_id"]], "annotator": 1, "annotation_id": 600 + i,
			"created_at": "2026-12-01T10:00:00.000000Z", "updated_at": "2026-12-01T10:00:00.000000Z", "lead_time": 1.5})
	}
	return writeJSON(t, filepath.Join(dir, "export-min.json"), out)
}

func writeLSCSV(t *testing.T, dir string, tasks []lsTaskFile, oracle map[string]string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"image", "asvp_id", "id", "label", "annotator", "annotation_id", "created_at", "updated_at", "lead_time"})
	for i, task := range tasks {
		w.Write([]string{task.Data["image"], task.Data["asvp_id"], fmt.Sprint(300 + i), oracle[task.Data["asvp_id"]],
			"ann@example.org", fmt.Sprint(700 + i), "2026-12-01T10:00:00.000000Z", "2026-12-01T10:00:00.000000Z", "1.0"})
	}
	w.Flush()
	path := filepath.Join(dir, "export.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLabelsImportIsStrict checks that labels import refuses, naming the
// file and row and leaving the labelled file as it was, what it cannot
// import faithfully.
func TestLabelsImportIsStrict(t *testing.T) {
	c := selectCache(t)
	dir := t.TempDir()
	labeled := filepath.Join(dir, "labeled.csv")
	start := "id,label\ntest/00000,Ankle boot\n"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lsTask := func(id int, choices ...string) string {
		var anns []string
		for k, ch := range choices {
			anns = append(anns, fmt.Sprintf(`{"id": %d, "created_at": "2026-12-01T10:0%d:00Z", "result": [{"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [%s]}}]}`, k, k, ch))
		}
		return fmt.Sprintf(`{"id": %d, "data": {"image": "x", "asvp_id": "test/%05d"}, "annotations": [%s]}`, id, id, strings.Join(anns, ","))
	}
	for _, tc := range []struct {
		name, file, body string
		args             []string
		want             string
	}{
		{"a header that is not id,label", "paths.csv", "path,label\ntest/00001,Bag\n", nil, `paths.csv line 1: header "path,label"`},
		{"no header", "nohead.csv", "test/00001,Bag\n", nil, `nohead.csv line 1: header "test/00001,Bag"`},
		{"an id not in the pool", "ids.csv", "id,label\ntest/00001,Bag\ntest/99999,Bag\n", nil, `ids.csv line 3: id "test/99999" is not a sample of the pool`},
		{"a label outside the closed list", "closed.csv", "id,label\ntest/00001,Bag\ntest/00002,Bagg\n", []string{"--classes", "Bag,Coat"}, `closed.csv line 3: label "Bagg"`},
		{"annotators who disagree", "export.json", "[" + lsTask(1, `"Bag"`) + ",\n" + lsTask(2, `"Bag"`, `"Coat"`) + "]", nil, `export.json:2: annotations disagree: task 2`},
		{"a tie under majority", "tie.json", "[" + lsTask(2, `"Bag"`, `"Coat"`) + "]", []string{"--resolve", "majority"}, "a tie"},
		{"several choices", "multi.json", "[" + lsTask(3, `"Bag", "Coat"`) + "]", []string{"--resolve", "latest"}, `task 3 (asvp_id "test/00003"): one annotation chose ["Bag" "Coat"]`},
		{"a number beyond the dataset's classes", "num.csv", "id,label\ntest/00001,Bag\ntest/00002,12\n", nil, `num.csv:3: unknown label: "12" (id "test/00002") is not a class index 0..9`},
		{"a label that contradicts the file", "contra.csv", "id,label\ntest/00000,Sneaker\n", nil, `"Ankle boot" on line 2 of`},
		{"an unknown resolution", "x.csv", "id,label\n", []string{"--resolve", "first"}, `--resolve "first"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			write("labeled.csv", start)
			args := append([]string{"labels", "import", "--from", write(tc.file, tc.body), "--labeled", labeled, "--cache", c}, tc.args...)
			_, stderr, err := asvpRun(args...)
			after, _ := os.ReadFile(labeled)
			if err == nil || !strings.Contains(stderr, tc.want) || string(after) != start {
				t.Errorf("err %v, stderr %q, labeled file %q; want a refusal with %q that leaves the file alone", err, stderr, after, tc.want)
			}
		})
	}
	// Majority settles a 2:1 disagreement; the new class is named on stderr.
	write("labeled.csv", start)
	exp := write("maj.json", "["+lsTask(4, `"Parka"`, `"Coat"`, `"Parka"`)+"]")
	out, stderr, err := asvpRun("labels", "import", "--from", exp, "--labeled", labeled, "--cache", c, "--resolve", "majority")
	after, _ := os.ReadFile(labeled)
	if err != nil || !strings.Contains(string(after), "test/00004,Parka\n") || !strings.Contains(stderr, `new classes: ["Parka"]`) ||
		!strings.Contains(string(out), `"resolved_disagreements":1`) {
		t.Errorf("majority: %v %s %q; file %q", err, out, stderr, after)
	}
	// A number within the dataset's classes is an index, not a new class.
	out, stderr, err = asvpRun("labels", "import", "--from", write("idx.csv", "id,label\ntest/00005,3\n"), "--labeled", labeled, "--cache", c)
	if err != nil || !strings.Contains(string(out), `"added":1`) || strings.Contains(string(out), "new_classes") {
		t.Errorf("index 3: %v %s %q", err, out, stderr)
	}
}
