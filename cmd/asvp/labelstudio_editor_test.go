package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asvp-dev/asvp/internal/chromium"
)

// lsEditorVersion is the Label Studio editor build that `make setup-test`
// installs (scripts/setup.sh, LS_VERSION) and this test drives.
const lsEditorVersion = "1.4.0"

// lsEditorPage is the page that shows one task in Label Studio's editor:
// the config and the tasks file are fetched as asvp wrote them, the task is
// given the id Label Studio's import would give it, and, as the Label
// Studio server does when predictions pre-label tasks, the annotation
// starts as a copy of the task's first prediction (onStorageInitialized: the
// store holds the task's predictions then). window.asvp reports to
// the test: ready, error, and the serialised result of a submission.
const lsEditorPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>asvp task in Label Studio</title>
<link href="/ls/main.css" rel="stylesheet"><script src="/ls/main.js"></script></head>
<body><div id="label-studio"></div>
<script>
window.asvp = {ready: false, error: null, submitted: null};
(async () => {
  try {
    const q = new URLSearchParams(location.search);
    const get = async (name) => { const r = await fetch('/files/' + name); if (!r.ok) throw new Error(name + ': HTTP ' + r.status); return r.text(); };
    const config = await get('config.xml');
    const tasks = JSON.parse(await get(q.get('tasks')));
    const t = tasks[+q.get('i')];
    window.asvp.image = t.data.image;
    new LabelStudio('label-studio', {
      config,
      task: {id: +q.get('id'), data: t.data, predictions: t.predictions || [], annotations: []},
      interfaces: ['panel', 'update', 'submit', 'controls', 'side-column', 'topbar',
                   'annotations:menu', 'annotations:current', 'predictions:menu'],
      user: {id: +q.get('annotator'), first_name: 'Annotator', last_name: q.get('annotator'), username: 'ann' + q.get('annotator')},
      onStorageInitialized(LS) { // the task's predictions are in the store now
        const as = LS.annotationStore;
        const c = as.predictions.length ? as.addAnnotationFromPrediction(as.predictions[0]) : as.addAnnotation({userGenerate: true});
        as.selectAnnotation(c.id);
        window.asvp.store = LS;
        window.asvp.ready = true;
      },
      onSubmitAnnotation(LS, annotation) { window.asvp.submitted = annotation.serializeAnnotation(); },
    });
  } catch (e) { window.asvp.error = String(e && e.stack || e); }
})();
</script></body></html>
`

// lsTaskState is what the editor shows of a task.
type lsTaskState struct {
	Image struct {
		Found         bool   `json:"found"`
		Complete      bool   `json:"complete"`
		NaturalWidth  int    `json:"naturalWidth"`
		NaturalHeight int    `json:"naturalHeight"`
		Src           string `json:"src"`
	} `json:"image"`
	Options []string `json:"options"` // the choices shown, in order
	Checked []string `json:"checked"` // those checked
	// Selected is the type of what the editor shows: "annotation" (the
	// person's, editable), or "prediction".
	Selected string `json:"selected"`
	Error    string `json:"error"` // an error the page or the editor shows
}

// lsEditor is Label Studio's editor in a headless Chromium, fed by a local
// server.
type lsEditor struct {
	b   *chromium.Browser
	url string // the server's base URL
}

// open shows task i of the tasks file name (served under /files/) as Label
// Studio task id, for annotator, and returns what the editor shows once
// the task's image has loaded or failed.
func (e *lsEditor) open(ctx context.Context, name string, i, id, annotator int) (lsTaskState, error) {
	var st lsTaskState
	u := fmt.Sprintf("%s/?tasks=%s&i=%d&id=%d&annotator=%d", e.url, name, i, id, annotator)
	if err := e.b.Navigate(ctx, u); err != nil {
		return st, err
	}
	if err := e.b.Wait(ctx, `window.asvp.ready || window.asvp.error`, 30*time.Second); err != nil {
		return st, fmt.Errorf("the editor did not load %s task %d: %w", name, i, err)
	}
	// The task's image: an <img> whose src is data.image, loaded or failed.
	const state = `(() => {
	  const want = new URL(window.asvp.image, location.href).href;
	  const img = [...document.images].find(im => im.src === want);
	  const boxes = [...document.querySelectorAll('#label-studio input.ant-checkbox-input, #label-studio input.ant-radio-input')];
	  const sel = '[class*="error"], [class*="Error"]';
	  const err = [...document.querySelectorAll(sel)].filter(n => !n.parentElement.closest(sel))
	    .map(n => n.innerText.replace(/\s+/g, ' ').trim()).filter(Boolean).join(' | ');
	  return {
	    image: img ? {found: true, complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, src: img.src}
	               : {found: false, src: want},
	    options: boxes.map(b => b.name || b.value),
	    checked: boxes.filter(b => b.checked).map(b => b.name || b.value),
	    selected: window.asvp.store ? window.asvp.store.annotationStore.selected.type : '',
	    error: window.asvp.error || err,
	  };
	})()`
	deadline := time.Now().Add(15 * time.Second)
	for {
		st = lsTaskState{}
		if err := e.b.Eval(ctx, state, &st); err != nil {
			return st, err
		}
		loaded := st.Image.Found && st.Image.Complete
		if loaded || st.Error != "" || time.Now().After(deadline) {
			return st, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks the visible option whose value is choice, at the centre of
// its label, with mouse events (as a person does), after checking that
// the label is what is drawn there.
func (e *lsEditor) click(ctx context.Context, choice string) error {
	var at struct {
		X, Y float64
		Why  string
	}
	js := fmt.Sprintf(`(() => {
	  const box = [...document.querySelectorAll('#label-studio input.ant-checkbox-input, #label-studio input.ant-radio-input')]
	    .find(b => (b.name || b.value) === %q);
	  if (!box) return {why: 'no option'};
	  const label = box.closest('label');
	  label.scrollIntoView({block: 'center'});
	  const r = label.getBoundingClientRect();
	  if (r.width === 0 || r.height === 0) return {why: 'the option is not visible'};
	  const x = r.left + r.width / 2, y = r.top + r.height / 2;
	  const top = document.elementFromPoint(x, y);
	  if (!top || !label.contains(top)) return {why: 'the option is covered by ' + (top ? top.outerHTML.slice(0, 120) : 'nothing')};
	  return {x, y};
	})()`, choice)
	if err := e.b.Eval(ctx, js, &at); err != nil {
		return err
	}
	if at.Why != "" {
		return fmt.Errorf("option %q: %s", choice, at.Why)
	}
	return e.b.Click(ctx, at.X, at.Y)
}

// submit clicks the Submit button and returns the annotation's result as
// the editor serialised it.
func (e *lsEditor) submit(ctx context.Context) ([]map[string]any, error) {
	var at struct {
		X, Y float64
		Why  string
	}
	if err := e.b.Eval(ctx, `(() => {
	  const b = document.querySelector('#label-studio button[aria-label="submit"]');
	  if (!b) return {why: 'no Submit button'};
	  if (b.disabled) return {why: 'the Submit button is disabled'};
	  const r = b.getBoundingClientRect();
	  return {x: r.left + r.width / 2, y: r.top + r.height / 2};
	})()`, &at); err != nil {
		return nil, err
	}
	if at.Why != "" {
		return nil, fmt.Errorf("submit: %s", at.Why)
	}
	if err := e.b.Click(ctx, at.X, at.Y); err != nil {
		return nil, err
	}
	if err := e.b.Wait(ctx, `window.asvp.submitted`, 10*time.Second); err != nil {
		return nil, fmt.Errorf("submit: the editor did not hand over the annotation: %w", err)
	}
	var res []map[string]any
	if err := e.b.Eval(ctx, `window.asvp.submitted`, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// lsAnnotation is one submitted annotation: who, on which task, the
// editor's serialised result.
type lsAnnotation struct {
	Task      int // index in the tasks file
	TaskID    int // Label Studio's task id
	Annotator int
	Result    []map[string]any
}

// TestLabelStudioEditorRoundTrip drives Label Studio's own editor (the npm
// build of version lsEditorVersion) in headless Chromium through what a
// person does with a batch that asvp select wrote: every task shows its
// image (served as --image-url and as Label Studio's local-files URLs
// say) with the proxy's pre-annotation checked, the person clicks the
// right class and submits; the annotations the editor serialised are
// written as Label Studio's JSON, JSON-MIN and CSV exports, and each is
// imported by asvp labels import. A second annotator who disagrees makes
// every format's import refuse, naming the task. On failure a screenshot
// of the editor and its console log are left in the artifacts folder the
// failure names.
func TestLabelStudioEditorRoundTrip(t *testing.T) {
	bin, err := chromium.Find()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../..")
	editor := filepath.Join(root, "third_party", "label-studio-"+lsEditorVersion)
	for _, f := range []string{"main.js", "main.css"} {
		if _, err := os.Stat(filepath.Join(editor, f)); err != nil {
			t.Fatalf("Label Studio's editor build is missing: run make setup-test: %v", err)
		}
	}
	dir := t.TempDir()
	pool := filepath.Join(dir, "pool")
	files := filepath.Join(dir, "files") // what the server hands the page: config and tasks
	for _, d := range []string{pool, files} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A flat folder of real images; the person labelling knows their classes.
	oracle := writeUnlabeledFolder(t, pool, 40, func(i int) string { return fmt.Sprintf("IMG_%04d.png", i+1000) })

	// The server: the page, the editor build, the pool under a prefix and
	// under Label Studio's local-files path (its document root is the pool).
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, lsEditorPage)
	})
	mux.Handle("/ls/", http.StripPrefix("/ls/", http.FileServer(http.Dir(editor))))
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(files))))
	mux.Handle("/pool/", http.StripPrefix("/pool/", http.FileServer(http.Dir(pool))))
	mux.HandleFunc("/data/local-files/", func(w http.ResponseWriter, r *http.Request) {
		d := r.URL.Query().Get("d")
		p := filepath.Join(pool, filepath.FromSlash(d))
		if d == "" || !strings.HasPrefix(p, pool+string(filepath.Separator)) {
			http.Error(w, "bad d", http.StatusBadRequest)
			return
		}
		http.ServeFile(w, r, p)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// asvp's side: extract, 20 labels by hand, then a batch chosen by the
	// proxy as Label Studio tasks, once with --image-url and once with the
	// default local-files URLs; the labelling config as asvp prints it.
	c := filepath.Join(dir, "pool.cache")
	labeled := filepath.Join(dir, "labeled.csv")
	asvp(t, "extract", "--data", "folder:"+pool, "--cache", c, "--quiet")
	var hand strings.Builder
	hand.WriteString("id,label\n")
	for i := range 20 {
		id := fmt.Sprintf("IMG_%04d.png", i+1000)
		fmt.Fprintf(&hand, "%s,%s\n", id, oracle[id])
	}
	handFile := filepath.Join(dir, "hand.csv")
	if err := os.WriteFile(handFile, []byte(hand.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	asvp(t, "labels", "import", "--from", handFile, "--labeled", labeled, "--cache", c, "--quiet")
	base, err := os.ReadFile(labeled)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 4
	asvp(t, "select", "--cache", c, "--labeled", labeled, "--strategy", "margin", "--budget", fmt.Sprint(budget),
		"--format", "labelstudio", "--image-url", srv.URL+"/pool", "--out", filepath.Join(files, "tasks.json"), "--quiet")
	asvp(t, "select", "--cache", c, "--labeled", labeled, "--strategy", "margin", "--budget", fmt.Sprint(budget),
		"--format", "labelstudio", "--out", filepath.Join(files, "tasks-local.json"), "--quiet")
	config := asvp(t, "labels", "config", "--classes", strings.Join(handNames[:], ","))
	if err := os.WriteFile(filepath.Join(files, "config.xml"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	tasks := readTasks(t, filepath.Join(files, "tasks.json"))
	if len(tasks) != budget {
		t.Fatalf("%d tasks, want %d", len(tasks), budget)
	}

	// The editor.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := chromium.Start(ctx, chromium.Options{Bin: bin, Dir: filepath.Join(dir, "chromium"), Width: 1280, Height: 900})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	ed := &lsEditor{b: b, url: srv.URL}
	defer keepScreenshotOnFailure(t, b, root)

	taskID := func(i int) int { return 101 + i } // as Label Studio numbers imported tasks
	var anns []lsAnnotation
	for i, task := range tasks {
		id := task.Data["asvp_id"]
		st, err := ed.open(ctx, "tasks.json", i, taskID(i), 1)
		if err != nil {
			t.Fatal(err)
		}
		checkShown(t, "tasks.json", i, task, st)
		if t.Failed() {
			t.FailNow()
		}
		// The person labels the image: when the pre-annotation is already
		// right, they first misclick another class, then correct it.
		want := oracle[id]
		if pre := st.Checked[0]; pre == want {
			other := handNames[(slices.Index(handNames[:], want)+1)%len(handNames)]
			if err := ed.click(ctx, other); err != nil {
				t.Fatalf("task %d: %v", i, err)
			}
		}
		if err := ed.click(ctx, want); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		var checked []string
		if err := b.Eval(ctx, `[...document.querySelectorAll('#label-studio input.ant-checkbox-input:checked')].map(b => b.name)`, &checked); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(checked, []string{want}) {
			t.Fatalf("task %d: after clicking %q the editor shows %q checked", i, want, checked)
		}
		res, err := ed.submit(ctx)
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		t.Logf("task %d (%s): pre-annotation %q, labelled %q; the editor serialised %s", i, id, st.Checked[0], want, mustJSON(res))
		anns = append(anns, lsAnnotation{Task: i, TaskID: taskID(i), Annotator: 1, Result: res})
	}
	// A second annotator disagrees on the first task.
	first := tasks[0].Data["asvp_id"]
	wrong := handNames[(slices.Index(handNames[:], oracle[first])+3)%len(handNames)]
	if _, err := ed.open(ctx, "tasks.json", 0, taskID(0), 2); err != nil {
		t.Fatal(err)
	}
	if err := ed.click(ctx, wrong); err != nil {
		t.Fatalf("second annotator: %v", err)
	}
	res, err := ed.submit(ctx)
	if err != nil {
		t.Fatalf("second annotator: %v", err)
	}
	disagreeing := lsAnnotation{Task: 0, TaskID: taskID(0), Annotator: 2, Result: res}

	// The same batch with Label Studio's default local-files URLs.
	for i, task := range readTasks(t, filepath.Join(files, "tasks-local.json")) {
		st, err := ed.open(ctx, "tasks-local.json", i, 201+i, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkShown(t, "tasks-local.json", i, task, st)
	}
	if t.Failed() {
		t.FailNow()
	}
	b.Log() // the console so far is of passed steps

	// Label Studio's three exports of the annotations the editor made, each
	// imported into the labelled file as it was before the batch.
	controls := lsControls(t, config)
	rawTasks := readRawTasks(t, filepath.Join(files, "tasks.json"))
	for _, format := range []string{"json", "json-min", "csv"} {
		exp := writeEditorExport(t, dir, format, rawTasks, anns, controls)
		if err := os.WriteFile(labeled, base, 0o644); err != nil {
			t.Fatal(err)
		}
		out := asvp(t, "labels", "import", "--from", exp, "--labeled", labeled, "--cache", c, "--quiet")
		var got struct {
			Added, Total int
			Format       string
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Added != budget || got.Total != 20+budget || got.Format != format {
			t.Errorf("import of %s: %s (%v); want %d added, %d in all, format %s", exp, out, err, budget, 20+budget, format)
		}
		after, _ := os.ReadFile(labeled)
		for _, task := range tasks {
			id := task.Data["asvp_id"]
			if line := id + "," + oracle[id] + "\n"; !strings.Contains(string(after), line) {
				t.Errorf("%s: the labelled file lacks %q:\n%s", format, line, after)
			}
		}

		// Both annotators' answers: refused, naming the task; the file is left alone.
		exp = writeEditorExport(t, dir, format, rawTasks, append(slices.Clone(anns), disagreeing), controls)
		if err := os.WriteFile(labeled, base, 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := asvpRun("labels", "import", "--from", exp, "--labeled", labeled, "--cache", c)
		after, _ = os.ReadFile(labeled)
		want := fmt.Sprintf("annotations disagree: task %d (asvp_id %q", taskID(0), first)
		if err == nil || !strings.Contains(stderr, want) || !bytes.Equal(after, base) {
			t.Errorf("%s with two annotators who disagree: err %v, stderr %q; want a refusal with %q that leaves the labelled file alone", format, err, stderr, want)
		}
	}
}

// checkShown checks that the editor shows task i's image, loaded from the
// URL asvp wrote, and its pre-annotation as the one checked choice.
func checkShown(t *testing.T, name string, i int, task lsTaskFile, st lsTaskState) {
	t.Helper()
	if st.Error != "" {
		t.Errorf("%s task %d: the editor shows an error: %s", name, i, st.Error)
	}
	if !st.Image.Found {
		t.Errorf("%s task %d: the editor shows no image from %s", name, i, st.Image.Src)
	} else if !st.Image.Complete || st.Image.NaturalWidth == 0 || st.Image.NaturalHeight == 0 {
		t.Errorf("%s task %d: the image %s did not load (natural size %dx%d)", name, i, st.Image.Src, st.Image.NaturalWidth, st.Image.NaturalHeight)
	}
	if !slices.Equal(st.Options, handNames[:]) {
		t.Errorf("%s task %d: the editor offers %q, want the config's %q", name, i, st.Options, handNames)
	}
	if len(task.Predictions) != 1 || len(task.Predictions[0].Result) != 1 {
		t.Errorf("%s task %d: predictions %+v, want the proxy's one pre-annotation", name, i, task.Predictions)
		return
	}
	if st.Selected != "annotation" {
		t.Errorf("%s task %d: the editor shows a %q, want the person's annotation", name, i, st.Selected)
	}
	if r := task.Predictions[0].Result[0]; !slices.Equal(st.Checked, r.Value.Choices) {
		t.Errorf("%s task %d: the editor shows %q checked, want the pre-annotation %q (the editor drops a result whose from_name, here %q, is not a control of the config)",
			name, i, st.Checked, r.Value.Choices, r.FromName)
	}
}

// keepScreenshotOnFailure, deferred, saves a screenshot of the editor and
// the page's console log when the test failed, into $ASVP_TEST_ARTIFACTS
// (out/test-artifacts under the checkout when unset), and names them.
func keepScreenshotOnFailure(t *testing.T, b *chromium.Browser, root string) {
	if !t.Failed() {
		return
	}
	dir := os.Getenv("ASVP_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(root, "out", "test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("artifacts: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shot := filepath.Join(dir, t.Name()+".png")
	png, err := b.Screenshot(ctx)
	if err == nil {
		err = os.WriteFile(shot, png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot: %v", err)
	}
	logFile := filepath.Join(dir, t.Name()+".console.txt")
	os.WriteFile(logFile, []byte(strings.Join(b.Log(), "\n")+"\n"), 0o644)
	t.Errorf("the editor as it was when the test failed: %s (its console: %s)", shot, logFile)
}

// lsControls returns the control tags of a labelling config by name, with
// their tag (Choices, ...): Label Studio's converter exports only results
// of the config's controls.
func lsControls(t *testing.T, config []byte) map[string]string {
	t.Helper()
	controls := map[string]string{}
	d := xml.NewDecoder(bytes.NewReader(config))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("labelling config: %v\n%s", err, config)
		}
		if se, ok := tok.(xml.StartElement); ok {
			var name, to string
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "name":
					name = a.Value
				case "toName":
					to = a.Value
				}
			}
			if name != "" && to != "" {
				controls[name] = se.Name.Local
			}
		}
	}
	return controls
}

// readRawTasks reads a tasks file keeping every field as written.
func readRawTasks(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []map[string]any
	if err := json.Unmarshal(b, &tasks); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tasks
}

// writeEditorExport writes the annotations as Label Studio exports them
// in format (json, json-min or csv), with the shapes its docs give and its
// converter writes: JSON, the tasks with data, annotations (the editor's
// results as they are) and predictions; JSON-MIN, one flat record per
// annotation with the task's data fields, its id, each control of the
// config under its name (one choice as a string, several as
// {"choices": [...]}), annotator, annotation id, times and lead time; CSV,
// those records as rows under a header of their keys, values unquoted.
func writeEditorExport(t *testing.T, dir, format string, tasks []map[string]any, anns []lsAnnotation, controls map[string]string) string {
	t.Helper()
	when := func(k int) string { return fmt.Sprintf("2026-12-01T10:%02d:00.000000Z", k) }
	switch format {
	case "json":
		var out []map[string]any
		for i, task := range tasks {
			var as []any
			for k, a := range anns {
				if a.Task == i {
					as = append(as, map[string]any{"id": 500 + k, "completed_by": a.Annotator, "result": a.Result,
						"was_cancelled": false, "ground_truth": false, "created_at": when(k), "updated_at": when(k),
						"lead_time": 3.5, "task": a.TaskID, "project": 1, "parent_prediction": nil, "parent_annotation": nil})
				}
			}
			var preds []any
			if p, ok := task["predictions"].([]any); ok {
				for k, pr := range p {
					m := maps(pr)
					m["id"], m["task"] = 900+10*i+k, 101+i
					preds = append(preds, m)
				}
			}
			out = append(out, map[string]any{"id": 101 + i, "data": task["data"], "annotations": as, "predictions": preds,
				"meta": map[string]any{}, "created_at": when(0), "updated_at": when(0), "project": 1})
		}
		return writeJSON(t, filepath.Join(dir, "export.json"), out)
	case "json-min", "csv":
		var recs []map[string]any
		var keys []string
		for k, a := range anns {
			rec := map[string]any{}
			keys = keys[:0]
			data := maps(tasks[a.Task]["data"])
			for _, f := range []string{"image", "asvp_id"} {
				rec[f] = data[f]
				keys = append(keys, f)
			}
			rec["id"] = a.TaskID
			keys = append(keys, "id")
			for _, r := range a.Result {
				from, _ := r["from_name"].(string)
				if _, ok := controls[from]; !ok {
					continue // the converter exports the config's controls only
				}
				choices, _ := maps(r["value"])["choices"].([]any)
				if len(choices) == 1 {
					rec[from] = choices[0]
				} else {
					rec[from] = map[string]any{"choices": choices}
				}
				keys = append(keys, from)
			}
			rec["annotator"], rec["annotation_id"] = fmt.Sprintf("annotator%d@example.org", a.Annotator), 500+k
			rec["created_at"], rec["updated_at"], rec["lead_time"] = when(k), when(k), 3.5
			keys = append(keys, "annotator", "annotation_id", "created_at", "updated_at", "lead_time")
			recs = append(recs, rec)
		}
		if format == "json-min" {
			return writeJSON(t, filepath.Join(dir, "export-min.json"), recs)
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write(keys)
		for _, rec := range recs {
			row := make([]string, len(keys))
			for j, k := range keys {
				if s, ok := rec[k].(string); ok {
					row[j] = s
				} else {
					row[j] = mustJSON(rec[k])
				}
			}
			w.Write(row)
		}
		w.Flush()
		path := filepath.Join(dir, "export.csv")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Fatalf("unknown export format %q", format)
	return ""
}

// maps returns v as a JSON object (nil when it is not one).
func maps(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// mustJSON encodes v for messages and CSV cells.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
