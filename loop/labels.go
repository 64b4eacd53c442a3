package loop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/internal/atomicfile"
)

// ImportOptions says what ImportLabels merges.
type ImportOptions struct {
	// From is the file to import: asvp's id,label CSV (with its header), or
	// a Label Studio export in any of its formats (JSON, JSON-MIN, CSV).
	From    string
	Labeled string // the labelled file (id,label CSV), created when missing
	// Cache, Dataset and Output name the pool the labels are of: every id
	// must be one of its samples ("" Dataset and Output for the only set).
	Cache, Dataset, Output string
	// FromName is the Label Studio choices control holding the answers
	// ("" for datasets.DefaultFromName, the one asvp's config names).
	FromName string
	// Resolve settles annotators who disagree: datasets.ResolveRefuse (the
	// default), ResolveLatest or ResolveMajority.
	Resolve string
	// Classes, when not nil, closes the class list: a label that is not
	// one of them is refused. Nil leaves it open: a new name is a new class.
	Classes  []string
	Datasets datasets.Options
	Log      io.Writer // new classes and settled disagreements; nil for none
}

// ImportResult is what ImportLabels did.
type ImportResult struct {
	Labeled string `json:"labeled"`
	From    string `json:"from"`
	// Format is what From was: "labels" (asvp's id,label CSV), or the
	// Label Studio export format (json, json-min, csv).
	Format   string `json:"format"`
	Added    int    `json:"added"`
	Same     int    `json:"already_present"`
	Total    int    `json:"total"`
	Resolved int    `json:"resolved_disagreements"`
	// Classes are the class names of the labelled file after the import,
	// and NewClasses those the import introduced.
	Classes    []string `json:"classes"`
	NewClasses []string `json:"new_classes,omitempty"`
}

// FormatLabels is ImportResult.Format for asvp's own id,label CSV.
const FormatLabels = "labels"

// ImportLabels adds the labels of From to the labelled file, keeping its
// rows and their order and appending the new ones. It refuses, naming the
// file and line and leaving the labelled file as it was: a CSV whose header
// is neither id,label nor a Label Studio export's, an id that is not in the
// pool, a label outside a closed class list, annotators who disagree (unless
// Resolve says how to settle it), an annotation with several choices, and a
// sample labelled one way in the file and another in From.
func ImportLabels(opts ImportOptions) (*ImportResult, error) {
	if opts.Cache == "" {
		return nil, optionErr("cache", "required: labels are checked against the pool's samples")
	}
	if opts.Resolve != "" && !slices.Contains(datasets.ResolveNames(), opts.Resolve) {
		return nil, optionErr("resolve", "%q: want %s", opts.Resolve, strings.Join(datasets.ResolveNames(), ", "))
	}
	raw, err := os.ReadFile(opts.From)
	if err != nil {
		return nil, &OptionError{Option: "from", Err: err}
	}
	res := &ImportResult{Labeled: opts.Labeled, From: opts.From}
	incoming, err := readImport(raw, opts, res)
	if err != nil {
		return nil, err
	}
	say := func(format string, a ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "labels import: "+format+"\n", a...)
		}
	}
	if res.Resolved > 0 {
		say("%d tasks had disagreeing annotations, settled by --resolve %s", res.Resolved, opts.Resolve)
	}
	base, err := checkPool(opts, incoming)
	if err != nil {
		return nil, err
	}
	if opts.Classes != nil {
		for _, l := range incoming {
			if !slices.Contains(opts.Classes, l.Label) {
				return nil, fmt.Errorf("loop: %s line %d: label %q (id %q) is not one of --classes %q",
					opts.From, l.Line, l.Label, l.ID, opts.Classes)
			}
		}
	}
	var have []datasets.Label
	if b, err := os.ReadFile(opts.Labeled); err == nil {
		if have, err = datasets.ReadLabels(bytes.NewReader(b), opts.Labeled); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, &OptionError{Option: "labeled", Err: err}
	}
	// The class list after the import, derived as ReadLabeled will read
	// the file: the dataset's, then new names in the order the file first
	// uses them. A label select and finetune would refuse is refused here,
	// naming the file it comes from.
	ci := newClassIndex(base)
	known := make(map[string]datasets.Label, len(have))
	for _, l := range have {
		known[l.ID] = l
		if _, err := ci.class(l, opts.Labeled); err != nil {
			return nil, err
		}
	}
	before := len(ci.classes)
	for _, l := range incoming {
		if old, ok := known[l.ID]; ok {
			if old.Label != l.Label {
				return nil, fmt.Errorf("loop: sample %q is labelled %q on line %d of %s but %q on line %d of %s: correct one of them first",
					l.ID, old.Label, old.Line, opts.Labeled, l.Label, l.Line, opts.From)
			}
			res.Same++
			continue
		}
		if _, err := ci.class(l, opts.From); err != nil {
			return nil, err
		}
		known[l.ID] = l
		have = append(have, l)
		res.Added++
	}
	res.Classes = ci.classes
	res.NewClasses = slices.Clone(ci.classes[before:])
	if len(res.NewClasses) > 0 {
		say("new classes: %q (pass --classes to close the list and refuse unknown names)", res.NewClasses)
	}
	if err := atomicfile.Write(opts.Labeled, func(w io.Writer) error { return datasets.WriteLabels(w, have) }); err != nil {
		return nil, err
	}
	res.Total = len(have)
	return res, nil
}

// readImport reads From as asvp's id,label CSV or a Label Studio export,
// told apart by content, and settles disagreeing annotations.
func readImport(raw []byte, opts ImportOptions, res *ImportResult) ([]datasets.Label, error) {
	head := bytes.TrimLeft(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(head) > 0 && head[0] != '[' && head[0] != '{' {
		first, _, _ := bytes.Cut(head, []byte("\n"))
		fields := strings.Split(strings.TrimSpace(string(first)), ",")
		for i := range fields {
			fields[i] = strings.ToLower(strings.Trim(strings.TrimSpace(fields[i]), `"`))
		}
		if slices.Equal(fields, []string{"id", "label"}) {
			res.Format = FormatLabels
			return datasets.ReadLabels(bytes.NewReader(raw), opts.From)
		}
		if !slices.Contains(fields, "asvp_id") {
			return nil, fmt.Errorf("loop: %s line 1: header %q: want \"id,label\" (labels written by hand or by asvp) or a Label Studio CSV export with an asvp_id column",
				opts.From, strings.TrimSpace(string(first)))
		}
	}
	format, tasks, err := datasets.ReadLabelStudio(bytes.NewReader(raw), opts.From, opts.FromName)
	if err != nil {
		return nil, err
	}
	res.Format = format
	labels, resolved, err := datasets.ResolveAnswers(tasks, opts.Resolve, opts.From)
	if err != nil {
		return nil, err
	}
	res.Resolved = resolved
	return labels, nil
}

// checkPool refuses labels of samples the pool does not hold and returns
// the dataset's own classes.
func checkPool(opts ImportOptions, labels []datasets.Label) (classes []string, err error) {
	db, err := openExisting(opts.Cache, true)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	set, err := db.FindSet(opts.Dataset, opts.Output)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(labels))
	for i, l := range labels {
		ids[i] = l.ID
	}
	missing, err := set.Missing(0, ids)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		gone := map[string]bool{}
		for _, id := range missing {
			gone[id] = true
		}
		for _, l := range labels {
			if gone[l.ID] {
				more := ""
				if len(missing) > 1 {
					more = fmt.Sprintf(" (and %d more ids)", len(missing)-1)
				}
				return nil, fmt.Errorf("loop: %s line %d: id %q is not a sample of the pool %s (feature set %s of %s)%s",
					opts.From, l.Line, l.ID, set.Info().Dataset, set.ShortKey(), opts.Cache, more)
			}
		}
	}
	return datasetClasses(db, set.Info().Dataset, opts.Datasets)
}
