package loop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/internal/atomicfile"
)

// ImportOptions says what ImportLabels merges.
type ImportOptions struct {
	From    string    // a Label Studio JSON export (.json) or an id,label CSV
	Labeled string    // the labelled file (id,label CSV), created when missing
	Log     io.Writer // notes on disagreeing annotations; nil for none
}

// ImportResult is what ImportLabels did.
type ImportResult struct {
	Labeled     string `json:"labeled"`
	Added       int    `json:"added"`
	Same        int    `json:"already_present"`
	Total       int    `json:"total"`
	Disagreeing int    `json:"disagreeing"`
}

// ImportLabels adds the labels of From to the labelled file, keeping its
// rows and their order and appending the new ones. A sample labelled one
// way there and another way in From is an error naming both places; the
// file is then left as it was.
func ImportLabels(opts ImportOptions) (*ImportResult, error) {
	f, err := os.Open(opts.From)
	if err != nil {
		return nil, &OptionError{Option: "from", Err: err}
	}
	defer f.Close()
	var incoming []datasets.Label
	if strings.HasSuffix(strings.ToLower(opts.From), ".json") {
		incoming, err = datasets.ReadLabelStudio(f, opts.From)
	} else {
		incoming, err = datasets.ReadLabels(f, opts.From)
	}
	if err != nil {
		return nil, err
	}
	res := &ImportResult{Labeled: opts.Labeled}
	// Annotators who disagreed: the latest annotation was taken; say so.
	for _, l := range incoming {
		if len(l.Others) > 0 {
			if res.Disagreeing == 0 && opts.Log != nil {
				fmt.Fprintf(opts.Log, "labels import: annotations disagree on %s (line %d): took the latest, %q, over %q\n",
					l.ID, l.Line, l.Label, l.Others)
			}
			res.Disagreeing++
		}
	}
	if res.Disagreeing > 1 && opts.Log != nil {
		fmt.Fprintf(opts.Log, "labels import: %d tasks in all have disagreeing annotations; the latest annotation of each was taken\n", res.Disagreeing)
	}
	var have []datasets.Label
	if b, err := os.ReadFile(opts.Labeled); err == nil {
		if have, err = datasets.ReadLabels(strings.NewReader(string(b)), opts.Labeled); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	known := make(map[string]datasets.Label, len(have))
	for _, l := range have {
		known[l.ID] = l
	}
	for _, l := range incoming {
		if old, ok := known[l.ID]; ok {
			if old.Label != l.Label {
				return nil, fmt.Errorf("loop: %s: sample %q is labeled %q there but %q in %s line %d: resolve the conflict first",
					opts.From, l.ID, l.Label, old.Label, opts.Labeled, old.Line)
			}
			res.Same++
			continue
		}
		known[l.ID] = l
		have = append(have, l)
		res.Added++
	}
	if err := atomicfile.Write(opts.Labeled, func(w io.Writer) error { return datasets.WriteLabels(w, have) }); err != nil {
		return nil, err
	}
	res.Total = len(have)
	return res, nil
}
