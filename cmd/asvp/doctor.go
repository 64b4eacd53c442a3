package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
)

// check is one line of the doctor's report.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// doctorCmd is `asvp doctor`.
type doctorCmd struct {
	ortLib string
	asJSON bool
}

func (c *doctorCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.ortLib, "ort-lib", "", "ONNX Runtime shared library (default $ASVP_ORT_LIB, then the set-up path)")
	fs.BoolVar(&c.asJSON, "json", false, "print the checks as JSON")
}

func (c *doctorCmd) validate(fs *flag.FlagSet) error { return noArgs(fs.Args()) }

func (c *doctorCmd) run(_ context.Context, stdout, _ io.Writer) error {
	var checks []check
	add := func(c check) { checks = append(checks, c) }

	rt, err := openRuntime(c.ortLib)
	if err != nil {
		add(check{Name: "onnx runtime", Detail: err.Error(), Fix: "run `make setup` (or pass --ort-lib / set $ASVP_ORT_LIB)"})
	} else {
		defer rt.Close()
		add(check{Name: "onnx runtime", OK: true, Detail: fmt.Sprintf("%s, version %s", rt.Library(), rt.Version())})
	}

	for _, card := range registry().Cards() {
		_, path, _ := registry().Lookup(card.Name)
		name := "backbone " + card.Name
		sum, err := card.VerifyFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			add(check{Name: name, Detail: path + " is missing", Fix: "run `make setup`"})
			continue
		case err != nil:
			add(check{Name: name, Detail: err.Error(), Fix: "delete it and run `make setup`"})
			continue
		}
		detail := fmt.Sprintf("%s, sha256 %s, input %dx%d %s", path, sum[:16], card.Height, card.Width, card.Layout)
		if rt != nil {
			mi, err := extractor.Inspect(path)
			if err == nil {
				_, err = mi.CheckCard(path, card, card.OutputNames())
			}
			if err != nil {
				add(check{Name: name, Detail: err.Error(), Fix: "delete it and run `make setup`"})
				continue
			}
			detail += fmt.Sprintf(", %d outputs load in ONNX Runtime", len(card.Outputs))
		}
		add(check{Name: name, OK: true, Detail: detail})
	}

	for _, spec := range []string{"fashion-mnist:train", "fashion-mnist:test"} {
		ds, err := datasets.Open(spec, datasetOptions())
		if err != nil {
			add(check{Name: "dataset " + spec, Detail: err.Error(), Fix: "run `make setup` (it installs Debian's dataset-fashion-mnist)"})
			continue
		}
		add(check{Name: "dataset " + spec, OK: true, Detail: fmt.Sprintf("%d samples, %d classes", ds.Len(), len(ds.Classes()))})
	}

	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if c.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checks); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := "ok  "
			if !c.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(stdout, "%s %-28s %s\n", mark, c.Name, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(stdout, "     %-28s fix: %s\n", "", c.Fix)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(checks))
	}
	return nil
}
