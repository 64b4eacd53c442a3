package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Label is one labeled sample from a label file.
type Label struct {
	ID    string // the sample's ID
	Label string // the class name
	Line  int    // 1-based line of the file where it was read (0 when not read from a file)
	// Others lists, sorted, the other classes that annotations of the same
	// Label Studio task chose when annotators disagreed; nil when they agree.
	Others []string
}

// ReadLabels reads a CSV label file of id,label rows. A first row "id,label" is a header and is
// skipped. A byte-order mark, CRLF line ends and blank lines are accepted; lines over MaxLineBytes
// are refused. Errors are *ParseError values naming the line: a row without exactly two fields,
// an empty id or label (ErrSyntax), an id seen before (ErrDuplicate, naming both lines).
func ReadLabels(r io.Reader, name string) ([]Label, error) {
	recs, err := readCSV(r, name)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 && isHeader(recs[0].fields, "id", "label") && len(recs[0].fields) == 2 {
		recs = recs[1:]
	}
	out := make([]Label, 0, len(recs))
	seen := make(map[string]int, len(recs))
	for _, rec := range recs {
		fail := func(err error) ([]Label, error) { return nil, &ParseError{File: name, Line: rec.line, Err: err} }
		switch {
		case len(rec.fields) > 2:
			return fail(reason(ErrSyntax, nil, "too many fields (%d); want id,label", len(rec.fields)))
		case len(rec.fields) < 2:
			return fail(reason(ErrSyntax, nil, "missing label; want id,label"))
		case rec.fields[0] == "":
			return fail(reason(ErrSyntax, nil, "empty id"))
		case rec.fields[1] == "":
			return fail(reason(ErrSyntax, nil, "empty label for id %q", rec.fields[0]))
		}
		if prev, dup := seen[rec.fields[0]]; dup {
			return fail(reason(ErrDuplicate, nil, "id %q already labeled on line %d", rec.fields[0], prev))
		}
		seen[rec.fields[0]] = rec.line
		out = append(out, Label{ID: rec.fields[0], Label: rec.fields[1], Line: rec.line})
	}
	return out, nil
}

// WriteLabels writes labels as a CSV file with an "id,label" header, readable by ReadLabels.
// Empty fields and fields holding line breaks are refused.
func WriteLabels(w io.Writer, labels []Label) error { return public(writeLabels(w, labels)) }

func writeLabels(w io.Writer, labels []Label) error {
	var b strings.Builder
	b.WriteString("id,label\n")
	for i, l := range labels {
		if l.ID == "" || l.Label == "" {
			return reason(ErrSyntax, nil, "label %d: empty id or label (%q, %q)", i, l.ID, l.Label)
		}
		if err := writeCSVField(&b, l.ID); err != nil {
			return err
		}
		b.WriteByte(',')
		if err := writeCSVField(&b, l.Label); err != nil {
			return err
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write labels: %w", err)
	}
	return nil
}

// ResolveLabels maps each label to its class index in classes: the label is a class name or, when it
// names no class, the index itself ("0" to len(classes)-1). Any other label is a *ParseError (file
// name, line) wrapping ErrUnknownLabel, which lists the known classes.
func ResolveLabels(labels []Label, classes []string, name string) (map[string]int, error) {
	index := make(map[string]int, len(classes))
	for i, c := range classes {
		index[c] = i
	}
	out := make(map[string]int, len(labels))
	for _, l := range labels {
		c, ok := index[l.Label]
		if !ok {
			k, err := strconv.Atoi(l.Label)
			if err != nil || k < 0 || k >= len(classes) {
				return nil, &ParseError{File: name, Line: l.Line, Err: reason(ErrUnknownLabel, nil,
					"%q (id %q) is neither a class name nor an index 0..%d (classes: %q)", l.Label, l.ID, len(classes)-1, classes)}
			}
			c = k
		}
		out[l.ID] = c
	}
	return out, nil
}

// labelStudioTask is the part of a Label Studio export task that ReadLabelStudio uses.
type labelStudioTask struct {
	ID          json.RawMessage            `json:"id"`
	Data        map[string]json.RawMessage `json:"data"`
	Annotations []struct {
		ID           json.RawMessage `json:"id"`
		WasCancelled bool            `json:"was_cancelled"`
		CreatedAt    string          `json:"created_at"`
		UpdatedAt    string          `json:"updated_at"`
		Result       []struct {
			Type  string `json:"type"`
			Value struct {
				Choices []string `json:"choices"`
			} `json:"value"`
		} `json:"result"`
	} `json:"annotations"`
}

// ReadLabelStudio reads a Label Studio JSON export (a list of tasks) and returns one label per task
// that has a choice. The sample ID is the task's data.asvp_id (asvp writes it when exporting tasks),
// or data.id when asvp_id is absent. The label is choices[0] of the first choices result of the latest
// annotation that was not cancelled: latest by updated_at, then created_at, then position in the
// list; the classes of disagreeing annotations go to Label.Others. Tasks without such an annotation
// are left out (not yet labeled). Errors are *ParseError
// values naming the line where the task starts: bad JSON, a task with no ID (ErrSyntax), an ID on
// two tasks (ErrDuplicate).
func ReadLabelStudio(r io.Reader, name string) ([]Label, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &ParseError{File: name, Err: fmt.Errorf("datasets: read: %w", err)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lineAt := func(off int64) int {
		if off > int64(len(data)) {
			off = int64(len(data))
		}
		return 1 + bytes.Count(data[:off], []byte("\n"))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(off int64, err error) error {
		return &ParseError{File: name, Line: lineAt(off), Err: reason(ErrSyntax, err, "%v", err)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(dec.InputOffset(), err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, &ParseError{File: name, Line: lineAt(dec.InputOffset()),
			Err: reason(ErrSyntax, nil, "want a JSON list of tasks (Label Studio JSON export)")}
	}
	var out []Label
	seen := map[string]int{}
	for k := 1; dec.More(); k++ {
		start := dec.InputOffset()
		// InputOffset points before the separating comma and spaces; move to the task's first byte.
		for start < int64(len(data)) && strings.IndexByte(", \t\r\n", data[start]) >= 0 {
			start++
		}
		line := lineAt(start)
		var task labelStudioTask
		if err := dec.Decode(&task); err != nil {
			return nil, syntax(start, err)
		}
		id, ok := jsonID(task.Data["asvp_id"])
		if !ok {
			id, ok = jsonID(task.Data["id"])
		}
		if !ok {
			which := fmt.Sprintf("task %d of the list", k)
			if len(task.ID) > 0 {
				which += fmt.Sprintf(" (Label Studio id %s)", task.ID)
			}
			return nil, &ParseError{File: name, Line: line, Err: reason(ErrSyntax, nil,
				"%s has no data.asvp_id (nor data.id)", which)}
		}
		if prev, dup := seen[id]; dup {
			return nil, &ParseError{File: name, Line: line, Err: reason(ErrDuplicate, nil,
				"id %q already on the task at line %d", id, prev)}
		}
		seen[id] = line
		best, bestTime, label := -1, time.Time{}, ""
		chosen := map[string]bool{}
		for i, a := range task.Annotations {
			if a.WasCancelled {
				continue
			}
			choice := ""
			for _, res := range a.Result {
				if len(res.Value.Choices) > 0 && res.Value.Choices[0] != "" {
					choice = res.Value.Choices[0]
					break
				}
			}
			if choice == "" {
				continue
			}
			chosen[choice] = true
			t := annotationTime(a.UpdatedAt, a.CreatedAt)
			if best < 0 || !t.Before(bestTime) {
				best, bestTime, label = i, t, choice
			}
		}
		if best >= 0 {
			l := Label{ID: id, Label: label, Line: line}
			for c := range chosen {
				if c != label {
					l.Others = append(l.Others, c)
				}
			}
			slices.Sort(l.Others)
			out = append(out, l)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ParseError{File: name, Line: lineAt(dec.InputOffset()), Err: reason(ErrSyntax, nil, "data after the list of tasks")}
	}
	return out, nil
}

// jsonID reads a JSON string or number as an ID.
func jsonID(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, s != ""
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if _, err := strconv.ParseFloat(n.String(), 64); err == nil {
			return n.String(), true
		}
	}
	return "", false
}

// annotationTime parses the first parsable RFC 3339 time among ts; the zero time when none is.
func annotationTime(ts ...string) time.Time {
	for _, s := range ts {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
		// Label Studio sometimes writes times without a zone.
		if t, err := time.Parse("2006-01-02T15:04:05.999999", s); err == nil {
			return t
		}
	}
	return time.Time{}
}
