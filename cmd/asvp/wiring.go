package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/asvp-dev/asvp/cache"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/models"
)

// modelsRelDir is where set-up puts converted backbones, under an asvp root.
const modelsRelDir = "third_party/models"

// registry returns the model registry rooted at the installed models folder.
func registry() *models.Registry {
	dir, _, ok := extractor.FindUnderRoots(modelsRelDir)
	if !ok {
		dir = modelsRelDir
	}
	return models.NewRegistry(dir)
}

// datasetOptions are the dataset options the CLI uses, honouring $ASVP_FASHION_MNIST_DIR.
func datasetOptions() datasets.Options {
	return datasets.Options{FashionMNISTDir: os.Getenv("ASVP_FASHION_MNIST_DIR")}
}

// modelFlags are the flags that pick a backbone and, for a user's ONNX file, describe its card.
type modelFlags struct {
	model, ortLib                      string
	input, size, layout, order, resize string
	scale                              float64
	mean, std                          string
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.model, "model", models.DefaultModel, "backbone: a registry name (asvp models ls) or an .onnx file")
	fs.StringVar(&m.ortLib, "ort-lib", "", "ONNX Runtime shared library (default $ASVP_ORT_LIB, then the set-up path)")
	fs.StringVar(&m.size, "input-size", "", "input HxW or N (registry models: override the card's size; files: default 224)")
	fs.StringVar(&m.input, "input-name", "", "input tensor name of an .onnx file (default: its only input)")
	fs.StringVar(&m.layout, "layout", "NCHW", "input layout of an .onnx file: NCHW or NHWC")
	fs.StringVar(&m.order, "channel-order", "RGB", "channel order of an .onnx file: RGB or BGR")
	fs.StringVar(&m.resize, "resize", "center-crop", "resize rule of an .onnx file: stretch or center-crop")
	fs.Float64Var(&m.scale, "scale", 1.0/255, "pixel scale of an .onnx file (pixels are 0..255)")
	fs.StringVar(&m.mean, "mean", "0.485,0.456,0.406", "per-channel mean of an .onnx file, after scaling")
	fs.StringVar(&m.std, "std", "0.229,0.224,0.225", "per-channel std of an .onnx file, after scaling")
}

// parseSize reads "HxW" or "N".
func parseSize(s string) (h, w int, err error) {
	a, b, found := strings.Cut(strings.ToLower(s), "x")
	if !found {
		b = a
	}
	h, err1 := strconv.Atoi(a)
	w, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || h <= 0 || w <= 0 {
		return 0, 0, fmt.Errorf("--input-size %q: want HxW or N, positive integers: %w", s, errUsage)
	}
	return h, w, nil
}

func parseTriple(flagName, s string) ([3]float32, error) {
	var out [3]float32
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, fmt.Errorf("--%s %q: want three comma-separated numbers: %w", flagName, s, errUsage)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return out, fmt.Errorf("--%s %q: %v: %w", flagName, s, err, errUsage)
		}
		out[i] = float32(v)
	}
	return out, nil
}

// resolve returns the card and file of the chosen backbone. The runtime must
// be open: a user's file is inspected to learn its outputs.
func (m *modelFlags) resolve() (models.Card, string, error) {
	reg := registry()
	if !strings.HasSuffix(strings.ToLower(m.model), ".onnx") {
		card, path, err := reg.Lookup(m.model)
		if err != nil {
			return card, "", err
		}
		if m.size != "" {
			if card.Height, card.Width, err = parseSize(m.size); err != nil {
				return card, "", err
			}
		}
		if _, err := os.Stat(path); err != nil {
			_, tried, _ := extractor.FindUnderRoots(modelsRelDir)
			return card, "", fmt.Errorf("backbone %q: %s is missing (looked for %s in: %s): run `make setup` in the asvp checkout, or set $%s to a checkout where it ran",
				card.Name, path, modelsRelDir, strings.Join(tried, ", "), extractor.HomeEnv)
		}
		return card, path, nil
	}
	path := m.model
	if _, err := os.Stat(path); err != nil {
		return models.Card{}, "", fmt.Errorf("--model %s: %w", path, err)
	}
	mi, err := extractor.Inspect(path)
	if err != nil {
		return models.Card{}, "", err
	}
	card := models.Card{
		Name: filepath.Base(path), File: path, Input: m.input, Layout: strings.ToUpper(m.layout),
		ChannelOrder: strings.ToUpper(m.order), Scale: float32(m.scale), Resize: m.resize, Resample: "linear",
		Height: 224, Width: 224, Provenance: "user file " + path,
	}
	if card.Input == "" {
		if len(mi.Inputs) != 1 {
			return card, "", fmt.Errorf("--model %s has %d inputs: name one with --input-name: %w", path, len(mi.Inputs), errUsage)
		}
		card.Input = mi.Inputs[0].Name
	}
	if m.size != "" {
		if card.Height, card.Width, err = parseSize(m.size); err != nil {
			return card, "", err
		}
	}
	if card.Mean, err = parseTriple("mean", m.mean); err != nil {
		return card, "", err
	}
	if card.Std, err = parseTriple("std", m.std); err != nil {
		return card, "", err
	}
	card.Outputs = mi.CardOutputs()
	if len(card.Outputs) == 0 {
		return card, "", fmt.Errorf("--model %s: no output has a fixed per-sample size", path)
	}
	card.DefaultOutput = card.Outputs[0].Name
	if err := card.Validate(); err != nil {
		return card, "", fmt.Errorf("--model %s: %w", path, err)
	}
	return card, path, nil
}

// newFlagSet returns the flag set of subcommand name ("extract", "cache
// ls"), writing errors and its usage to stderr: a usage line, the command's
// summary, then the flags.
// parseFlags parses args into fs. A flag that does not exist or a value
// that does not parse is a usage error (exit code 2); -h stays flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", err, errUsage)
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: asvp %s [flags]\n", name)
		if sum := subcommandSummary(name); sum != "" {
			fmt.Fprintf(stderr, "\n%s\n", sum)
		} else {
			top, _, _ := strings.Cut(name, " ")
			for _, c := range commands() {
				if c.name == top {
					fmt.Fprintf(stderr, "\n%s\n", c.summary)
				}
			}
		}
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	return fs
}

// openExistingCache opens a cache that an extraction must already have
// written. A mistyped path gets an error saying so, instead of a new empty
// cache file left behind.
func openExistingCache(path string, readOnly bool) (*cache.DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cache %s does not exist: extract features into it first (asvp extract --data SPEC --cache %s): %w", path, path, err)
		}
		return nil, fmt.Errorf("cache %s: %w", path, err)
	}
	return cache.Open(path, &cache.Options{ReadOnly: readOnly})
}

// shellQuote returns s as one POSIX shell word: unchanged when it holds only
// characters no shell treats specially, single-quoted otherwise.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// subcommandSummary describes a two-word command ("models ls") for its -h;
// "" for commands whose top-level summary says it all.
func subcommandSummary(name string) string {
	switch name {
	case "models ls":
		return "list the backbones of the registry: name, input size and layout, default output, every output with its dimension"
	case "models import-tfjs":
		return "convert a TF.js layers model (model.json or nsfwjs model.min.js, with its weight shards) to one ONNX file with pooled outputs; prints its sha256"
	}
	return ""
}

// resolveSet finds the feature set of dataset data (default: the cache's
// only dataset) and backbone output (needed when it has several), and
// returns it with the dataset spec used.
func resolveSet(db *cache.DB, data, output string) (*cache.Set, string, error) {
	spec := data
	if spec == "" {
		var err error
		if spec, err = onlyDataset(db); err != nil {
			return nil, "", err
		}
	}
	set, err := findSet(db, spec, output)
	return set, spec, err
}
