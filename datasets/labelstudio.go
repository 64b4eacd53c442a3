package datasets

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Label Studio export formats, as ReadLabelStudio reports them.
const (
	// LabelStudioJSON is the full JSON export: a list of tasks, each with
	// its data and its annotations' results.
	LabelStudioJSON = "json"
	// LabelStudioJSONMin is the JSON-MIN export: a list of flat records,
	// one per annotation (one per task without annotations), holding the
	// task's data fields, its id, and each control's answer under the
	// control's name (a string for one choice, {"choices": [...]} for
	// several).
	LabelStudioJSONMin = "json-min"
	// LabelStudioCSV is the CSV export: the JSON-MIN records as rows under
	// a header of their keys.
	LabelStudioCSV = "csv"
)

// DefaultFromName is the name of the choices control of the labelling
// configuration asvp prints, under which exports hold the answer.
const DefaultFromName = "label"

// Annotated is one task of a Label Studio export with its answers.
type Annotated struct {
	ID      string   // the sample's ID: data.asvp_id (data.id in the full JSON export when absent)
	Task    string   // Label Studio's task id; "" when the export has none
	Line    int      // line where the task (JSON) or its first record (JSON-MIN, CSV) starts
	Answers []Answer // the annotations that chose something, in file order
}

// Answer is what one annotation chose.
type Answer struct {
	Choices []string  // the chosen classes (one, unless the control allowed several)
	Time    time.Time // updated_at, else created_at; zero when neither parses
	Line    int       // line of the annotation's record (the task's line in the full JSON export)
}

// String names the task for messages: `task 17 (asvp_id "a.jpg", line 40)`.
func (a Annotated) String() string {
	if a.Task != "" {
		return fmt.Sprintf("task %s (asvp_id %q)", a.Task, a.ID)
	}
	return fmt.Sprintf("the task of asvp_id %q", a.ID)
}

// ReadLabelStudio reads a Label Studio export in any of its three formats,
// told apart by content: a JSON list of tasks with "data" (JSON), a JSON
// list of flat records (JSON-MIN), or CSV whose header has an asvp_id
// column (CSV). fromName is the name of the choices control whose answers
// are read ("" for DefaultFromName). Cancelled annotations and results of
// other controls are left out; tasks without an answer are returned with
// none (not yet labelled). Errors are *ParseError values naming the line:
// bad JSON or CSV, a task with no asvp_id, a row whose field count differs
// from the header's (Label Studio does not quote CSV values), an asvp_id on
// two different tasks (ErrDuplicate), answers under another control's name.
func ReadLabelStudio(r io.Reader, name, fromName string) (format string, tasks []Annotated, err error) {
	if fromName == "" {
		fromName = DefaultFromName
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", nil, &ParseError{File: name, Err: fmt.Errorf("datasets: read: %w", err)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 {
		return "", nil, &ParseError{File: name, Line: 1, Err: reason(ErrSyntax, nil, "empty file; want a Label Studio export (JSON, JSON-MIN or CSV)")}
	}
	if t[0] != '[' && t[0] != '{' {
		tasks, err = readLabelStudioCSV(data, name, fromName)
		return LabelStudioCSV, tasks, err
	}
	return readLabelStudioJSON(data, name, fromName)
}

// lsTask is the part of a full-export task that ReadLabelStudio uses.
type lsTask struct {
	ID          json.RawMessage            `json:"id"`
	Data        map[string]json.RawMessage `json:"data"`
	Annotations []struct {
		WasCancelled bool   `json:"was_cancelled"`
		CreatedAt    string `json:"created_at"`
		UpdatedAt    string `json:"updated_at"`
		Result       []struct {
			FromName string `json:"from_name"`
			Type     string `json:"type"`
			Value    struct {
				Choices []string `json:"choices"`
			} `json:"value"`
		} `json:"result"`
	} `json:"annotations"`
}

// readLabelStudioJSON reads the full JSON and the JSON-MIN exports.
func readLabelStudioJSON(data []byte, name, fromName string) (string, []Annotated, error) {
	lineAt := func(off int64) int {
		return 1 + bytes.Count(data[:min(off, int64(len(data)))], []byte("\n"))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(off int64, err error) error {
		return &ParseError{File: name, Line: lineAt(off), Err: reason(ErrSyntax, err, "%v", err)}
	}
	tok, err := dec.Token()
	if err != nil {
		return "", nil, syntax(dec.InputOffset(), err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return "", nil, &ParseError{File: name, Line: lineAt(dec.InputOffset()),
			Err: reason(ErrSyntax, nil, "want a JSON list of tasks (a Label Studio JSON or JSON-MIN export)")}
	}
	format := ""
	g := newTaskGroups(name, fromName)
	for k := 1; dec.More(); k++ {
		start := dec.InputOffset()
		// InputOffset points before the separating comma and spaces; move to the element's first byte.
		for start < int64(len(data)) && strings.IndexByte(", \t\r\n", data[start]) >= 0 {
			start++
		}
		line := lineAt(start)
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", nil, syntax(start, err)
		}
		if format == "" {
			format = LabelStudioJSONMin
			if _, ok := raw["data"]; ok {
				format = LabelStudioJSON
			} else if _, ok := raw["annotations"]; ok {
				format = LabelStudioJSON
			}
		}
		var err error
		if format == LabelStudioJSON {
			err = g.addTask(raw, k, line, fromName)
		} else {
			err = g.addMinRecord(raw, k, line, fromName)
		}
		if err != nil {
			return "", nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return "", nil, syntax(dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", nil, &ParseError{File: name, Line: lineAt(dec.InputOffset()), Err: reason(ErrSyntax, nil, "data after the list of tasks")}
	}
	if format == "" {
		format = LabelStudioJSON
	}
	return format, g.tasks, g.check(format)
}

// taskGroups collects the tasks of an export, grouping the per-annotation
// records of JSON-MIN and CSV by sample.
type taskGroups struct {
	name   string
	from   string // the from_name read
	tasks  []Annotated
	at     map[string]int // sample ID -> index in tasks
	others map[string]int // a from_name other than the one read -> a line it answers on
	answer bool           // some record answers under the from_name read
}

func newTaskGroups(name, fromName string) *taskGroups {
	return &taskGroups{name: name, from: fromName, at: map[string]int{}, others: map[string]int{}}
}

// task returns the task of id, adding it at line when new; an id on a
// record of another Label Studio task is an ErrDuplicate.
func (g *taskGroups) task(id, taskID string, line int, grouped bool) (*Annotated, error) {
	if i, ok := g.at[id]; ok {
		t := &g.tasks[i]
		if !grouped || t.Task != taskID {
			return nil, &ParseError{File: g.name, Line: line, Err: reason(ErrDuplicate, nil,
				"asvp_id %q is already on %s at line %d", id, t, t.Line)}
		}
		return t, nil
	}
	g.at[id] = len(g.tasks)
	g.tasks = append(g.tasks, Annotated{ID: id, Task: taskID, Line: line})
	return &g.tasks[len(g.tasks)-1], nil
}

// addTask adds one task of the full JSON export.
func (g *taskGroups) addTask(raw map[string]json.RawMessage, k, line int, fromName string) error {
	b, _ := json.Marshal(raw) // re-encoding a decoded object cannot fail
	var task lsTask
	if err := json.Unmarshal(b, &task); err != nil {
		return &ParseError{File: g.name, Line: line, Err: reason(ErrSyntax, err, "task %d of the list: %v", k, err)}
	}
	taskID, _ := jsonID(task.ID)
	id, ok := jsonID(task.Data["asvp_id"])
	if !ok {
		id, ok = jsonID(task.Data["id"])
	}
	if !ok {
		which := fmt.Sprintf("task %d of the list", k)
		if taskID != "" {
			which += fmt.Sprintf(" (Label Studio id %s)", taskID)
		}
		return &ParseError{File: g.name, Line: line, Err: reason(ErrSyntax, nil, "%s has no data.asvp_id (nor data.id)", which)}
	}
	t, err := g.task(id, taskID, line, false)
	if err != nil {
		return err
	}
	for _, a := range task.Annotations {
		if a.WasCancelled {
			continue
		}
		var choices []string
		for _, res := range a.Result {
			if !strings.EqualFold(res.Type, "choices") || len(res.Value.Choices) == 0 {
				continue
			}
			if res.FromName != "" && res.FromName != fromName {
				g.others[res.FromName] = line
				continue
			}
			choices = append(choices, res.Value.Choices...)
		}
		if choices = nonEmpty(choices); len(choices) > 0 {
			g.answer = true
			t.Answers = append(t.Answers, Answer{Choices: choices, Time: annotationTime(a.UpdatedAt, a.CreatedAt), Line: line})
		}
	}
	return nil
}

// addMinRecord adds one record of the JSON-MIN export.
func (g *taskGroups) addMinRecord(raw map[string]json.RawMessage, k, line int, fromName string) error {
	id, ok := jsonID(raw["asvp_id"])
	if !ok {
		return &ParseError{File: g.name, Line: line, Err: reason(ErrSyntax, nil,
			"record %d of the list has no asvp_id (export tasks that asvp select wrote)", k)}
	}
	taskID, _ := jsonID(raw["id"])
	t, err := g.task(id, taskID, line, true)
	if err != nil {
		return err
	}
	for key, v := range raw {
		if key != fromName && looksLikeChoices(v) {
			g.others[key] = line
		}
	}
	v, ok := raw[fromName]
	if !ok || string(v) == "null" {
		return nil // a task without annotations
	}
	choices, err := minChoices(v)
	if err != nil {
		return &ParseError{File: g.name, Line: line, Err: reason(ErrSyntax, err, "%s: %s: %v", t, fromName, err)}
	}
	if len(choices) > 0 {
		g.answer = true
		t.Answers = append(t.Answers, Answer{Choices: choices, Line: line,
			Time: annotationTime(jsonString(raw["updated_at"]), jsonString(raw["created_at"]))})
	}
	return nil
}

// readLabelStudioCSV reads the CSV export. Its values are not quoted (a
// JSON answer keeps its quotes bare), so quotes are read lazily.
func readLabelStudioCSV(data []byte, name, fromName string) ([]Annotated, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.LazyQuotes, cr.FieldsPerRecord, cr.ReuseRecord = true, -1, false
	var recs []record
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, &ParseError{File: name, Line: max(line, 1), Err: reason(ErrSyntax, err, "%v", err)}
		}
		recs = append(recs, record{fields: fields, line: line})
	}
	head := recs[0]
	col := map[string]int{}
	for i, f := range head.fields {
		col[f] = i
	}
	idCol, ok := col["asvp_id"]
	if !ok {
		return nil, &ParseError{File: name, Line: head.line, Err: reason(ErrSyntax, nil,
			"header %q has no asvp_id column: want a Label Studio CSV export of tasks that asvp select wrote", strings.Join(head.fields, ","))}
	}
	ansCol, hasAns := col[fromName]
	g := newTaskGroups(name, fromName)
	for _, rec := range recs[1:] {
		if len(rec.fields) != len(head.fields) {
			return nil, &ParseError{File: name, Line: rec.line, Err: reason(ErrSyntax, nil,
				"%d fields, the header has %d: Label Studio writes CSV values unquoted, so a comma inside one (a multi-choice answer, an id) splits it; import the JSON or JSON-MIN export instead",
				len(rec.fields), len(head.fields))}
		}
		field := func(c string) string {
			if i, ok := col[c]; ok {
				return rec.fields[i]
			}
			return ""
		}
		id := rec.fields[idCol]
		if id == "" {
			return nil, &ParseError{File: name, Line: rec.line, Err: reason(ErrSyntax, nil, "empty asvp_id")}
		}
		t, err := g.task(id, field("id"), rec.line, true)
		if err != nil {
			return nil, err
		}
		if !hasAns || rec.fields[ansCol] == "" {
			continue
		}
		choices := []string{rec.fields[ansCol]}
		if v := rec.fields[ansCol]; strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
			if choices, err = minChoices(json.RawMessage(v)); err != nil {
				return nil, &ParseError{File: name, Line: rec.line, Err: reason(ErrSyntax, err, "%s: %s: %v", t, fromName, err)}
			}
		}
		g.answer = true
		t.Answers = append(t.Answers, Answer{Choices: choices, Line: rec.line, Time: annotationTime(field("updated_at"), field("created_at"))})
	}
	if !hasAns && len(recs) > 1 {
		// Label Studio takes the header from the first record: an export
		// whose first task has no annotation has no answer column at all.
		return nil, &ParseError{File: name, Line: head.line, Err: reason(ErrSyntax, nil,
			"header %q has no %q column (the choices control's name): pass the control's name, or, when the first task is unannotated, import the JSON export",
			strings.Join(head.fields, ","), fromName)}
	}
	return g.tasks, g.check(LabelStudioCSV)
}

// check refuses an export whose answers are all under another control's
// name than the one read: a renamed control, not an unlabelled export.
func (g *taskGroups) check(format string) error {
	if g.answer || len(g.others) == 0 {
		return nil
	}
	names := make([]string, 0, len(g.others))
	for n := range g.others {
		names = append(names, n)
	}
	sort.Strings(names)
	return &ParseError{File: g.name, Line: g.others[names[0]], Err: reason(ErrSyntax, nil,
		"the %s export has no answers under %q but has choices under %q: pass that control's name", format, g.from, names)}
}

// minChoices reads a JSON-MIN answer: "cat", {"choices": ["cat", "dog"]},
// or a list of such values (several results of one control).
func minChoices(v json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return nonEmpty([]string{s}), nil
	}
	var obj struct {
		Choices []string `json:"choices"`
	}
	if json.Unmarshal(v, &obj) == nil && obj.Choices != nil {
		return nonEmpty(obj.Choices), nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil {
		return nil, fmt.Errorf("want a choice, {\"choices\": [...]} or a list of them, not %.40s", v)
	}
	var out []string
	for _, item := range list {
		c, err := minChoices(item)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

// looksLikeChoices says whether a JSON-MIN value is a multi-choice answer
// ({"choices": [...]}), so that answers under another control are noticed.
func looksLikeChoices(v json.RawMessage) bool {
	var obj struct {
		Choices []string `json:"choices"`
	}
	return bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &obj) == nil && len(obj.Choices) > 0
}

// nonEmpty drops empty strings.
func nonEmpty(s []string) []string {
	return slices.DeleteFunc(s, func(c string) bool { return c == "" })
}

// jsonString reads a JSON string; "" for anything else.
func jsonString(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// Ways ResolveAnswers settles annotators who disagree.
const (
	ResolveRefuse   = "refuse"   // refuse the export, naming the task (the default)
	ResolveLatest   = "latest"   // take the latest annotation (updated_at, then created_at, then file order)
	ResolveMajority = "majority" // take the class most annotations chose; a tie is refused
)

// ResolveNames lists the resolution policies, the default first.
func ResolveNames() []string { return []string{ResolveRefuse, ResolveLatest, ResolveMajority} }

// ResolveAnswers returns one label per answered task, in the export's order.
// An annotation that chose several classes is refused whatever the policy
// (ErrMultipleChoices: a sample takes one class). Tasks whose annotations
// disagree are settled by policy; under ResolveRefuse (or "") they are an
// ErrConflict naming the first such task and counting the rest. conflicts
// is the number of disagreeing tasks that policy settled.
func ResolveAnswers(tasks []Annotated, policy, name string) (labels []Label, conflicts int, err error) {
	if policy == "" {
		policy = ResolveRefuse
	}
	if !slices.Contains(ResolveNames(), policy) {
		return nil, 0, fmt.Errorf("datasets: resolve %q: want one of %s", policy, strings.Join(ResolveNames(), ", "))
	}
	var first *ParseError
	refused := 0
	for _, t := range tasks {
		if len(t.Answers) == 0 {
			continue
		}
		votes := map[string]int{}
		latest := 0
		for i, a := range t.Answers {
			if len(a.Choices) > 1 {
				return nil, 0, &ParseError{File: name, Line: a.Line, Err: reason(ErrMultipleChoices, nil,
					"%s: one annotation chose %q; a sample takes one class: make the control single-choice and fix the annotation", t, a.Choices)}
			}
			votes[a.Choices[0]]++
			if !a.Time.Before(t.Answers[latest].Time) {
				latest = i
			}
		}
		label := t.Answers[latest].Choices[0]
		if len(votes) > 1 {
			var err *ParseError
			switch policy {
			case ResolveLatest:
			case ResolveMajority:
				top, tie := majority(votes)
				if tie {
					err = &ParseError{File: name, Line: t.Line, Err: reason(ErrConflict, nil,
						"%s: a tie, %s: there is no majority; fix it in Label Studio or pass --resolve latest", t, tally(votes))}
				}
				label = top
			default:
				err = &ParseError{File: name, Line: t.Line, Err: reason(ErrConflict, nil,
					"%s: %s; fix it in Label Studio, or pass --resolve latest or --resolve majority", t, tally(votes))}
			}
			if err != nil {
				if first == nil {
					first = err
				}
				refused++
				continue
			}
			conflicts++
		}
		labels = append(labels, Label{ID: t.ID, Label: label, Line: t.Line})
	}
	if first != nil {
		if refused > 1 {
			first.Err = fmt.Errorf("%w (and %d more tasks)", first.Err, refused-1)
		}
		return nil, 0, first
	}
	return labels, conflicts, nil
}

// majority returns the most chosen class and whether another ties with it.
func majority(votes map[string]int) (string, bool) {
	best, n, tie := "", -1, false
	for c, v := range votes {
		switch {
		case v > n:
			best, n, tie = c, v, false
		case v == n:
			tie = true
			if c < best {
				best = c
			}
		}
	}
	return best, tie
}

// tally says who chose what: `"cat" by 2 annotations, "dog" by 1`.
func tally(votes map[string]int) string {
	classes := make([]string, 0, len(votes))
	for c := range votes {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool {
		if votes[classes[i]] != votes[classes[j]] {
			return votes[classes[i]] > votes[classes[j]]
		}
		return classes[i] < classes[j]
	})
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%q by %d", c, votes[c])
		if votes[c] == 1 {
			parts[i] += " annotation"
		} else {
			parts[i] += " annotations"
		}
	}
	return strings.Join(parts, ", ")
}
