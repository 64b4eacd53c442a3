package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models/tfjs"
)

// importResult is what `asvp models import-tfjs` prints to stdout.
type importResult struct {
	Out          string            `json:"out"`
	SHA256       string            `json:"sha256"`
	Bytes        int               `json:"bytes"`
	Source       string            `json:"source"`
	SourceSHA256 string            `json:"source_sha256"`
	Input        string            `json:"input"`
	Outputs      []tfjs.OutputInfo `json:"outputs"`
}

// runModelsImportTFJS implements `asvp models import-tfjs --dir DIR --out
// FILE.onnx [--outputs NAME=LAYER[+LAYER],...] [--source TEXT]`: it converts
// a TF.js layers model to ONNX, writes it atomically and prints its sha256
// and outputs as JSON.
func runModelsImportTFJS(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models import-tfjs", stderr)
	dir := fs.String("dir", "", "folder of the TF.js model (model.json or nsfwjs model.min.js)")
	out := fs.String("out", "", "ONNX file to write")
	outputs := fs.String("outputs", "", "outputs as NAME=LAYER[+LAYER...],... (default: probs, pool_final, pool_block_13, pool_block_16, pool_blocks_10_13_16)")
	source := fs.String("source", "", "source description recorded in the model (default: known package name, else the folder)")
	if err := parseFlags(fs, args); err != nil {
		return fmt.Errorf("models import-tfjs: %w", err)
	}
	if *dir == "" || *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("models import-tfjs: want --dir DIR --out FILE.onnx and no other arguments: %w", errUsage)
	}
	var specs []tfjs.OutputSpec
	if *outputs != "" {
		var err error
		if specs, err = tfjs.ParseOutputSpecs(*outputs); err != nil {
			return fmt.Errorf("models import-tfjs: %w: %w", err, errUsage)
		}
	}
	m, err := tfjs.ReadDir(*dir)
	if err != nil {
		return fmt.Errorf("models import-tfjs: %w", err)
	}
	src := *source
	if src == "" {
		src = m.KnownSource()
	}
	if src == "" {
		src = filepath.Base(filepath.Clean(*dir))
	}
	conv, err := m.Convert(tfjs.Options{Outputs: specs, Source: src})
	if err != nil {
		return fmt.Errorf("models import-tfjs: %w", err)
	}
	if err := atomicfile.WriteBytes(*out, conv.ONNX); err != nil {
		return fmt.Errorf("models import-tfjs: %w", err)
	}
	sum := sha256.Sum256(conv.ONNX)
	res := importResult{
		Out: *out, SHA256: hex.EncodeToString(sum[:]), Bytes: len(conv.ONNX),
		Source: src, SourceSHA256: m.SourceSHA256, Input: tfjs.InputName, Outputs: conv.Outputs,
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("models import-tfjs: %w", err)
	}
	return nil
}
