package datasets

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Label is one labeled sample from a label file.
type Label struct {
	ID    string // the sample's ID
	Label string // the class name
	Line  int    // 1-based line of the file where it was read (0 when not read from a file)
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
