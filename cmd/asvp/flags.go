package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/datasets"
	"github.com/asvp-dev/asvp/extractor"
	"github.com/asvp-dev/asvp/loop"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/realign"
	"github.com/asvp-dev/asvp/selector"
	"github.com/asvp-dev/asvp/simulate"
)

// explain turns a command's error into its exit code (2 for a usage error,
// 1 otherwise) and message, adding the flag or command a library error
// cannot name.
func explain(err error) (int, string) {
	code, msg := 1, err.Error()
	for strings.HasSuffix(msg, ": "+errUsage.Error()) { // the marker adds nothing to read
		msg = strings.TrimSuffix(msg, ": "+errUsage.Error())
	}
	var oe *loop.OptionError
	switch {
	case errors.As(err, &oe):
		msg = "--" + msg
		if errors.Is(err, loop.ErrInvalid) {
			code = 2
		}
	case errors.Is(err, loop.ErrNoCache):
		path := strings.TrimPrefix(msg, loop.ErrNoCache.Error()+": ")
		msg = fmt.Sprintf("cache %s does not exist: extract features into it first (asvp extract --data SPEC --cache %s)", path, path)
	case errors.Is(err, cache.ErrAmbiguous):
		code, msg = 2, msg+"\n(name the feature set with --data and --output, or --set)"
	case errors.Is(err, simulate.ErrConfig), errors.Is(err, selector.ErrUnknownStrategy),
		errors.Is(err, selector.ErrUnknownProxyKind), errors.Is(err, realign.ErrIndicatorConfig):
		code = 2
	}
	if errors.Is(err, errUsage) {
		code = 2
	}
	if de := (*cache.DamageError)(nil); errors.As(err, &de) {
		msg += "; run asvp cache verify --cache " + de.Path
	}
	return code, msg
}

// printJSON writes v to w as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // output names such as tail-input:CUT>OUTPUT stay readable
	return enc.Encode(v)
}

// noArgs is the validation of a command that takes no positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", args, errUsage)
	}
	return nil
}

// required returns a usage error naming the flags whose values are empty;
// flags alternate names and values.
func required(flags ...string) error {
	var missing []string
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i+1] == "" {
			missing = append(missing, "--"+flags[i])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	verb := "are"
	if len(missing) == 1 {
		verb = "is"
	}
	return fmt.Errorf("%s %s required: %w", strings.Join(missing, ", "), verb, errUsage)
}

// setFlags name a cache and one of its feature sets.
type setFlags struct {
	cache, data, output, key string
}

// dataset is what the loop's options take as Dataset: --data, or the set
// --set names (cache.SetSpec), which FindSet resolves.
func (s *setFlags) dataset() string {
	if s.key != "" {
		return cache.SetSpec(s.key)
	}
	return s.data
}

// check refuses --set given with --data or --output.
func (s *setFlags) check() error {
	if s.key != "" && (s.data != "" || s.output != "") {
		return fmt.Errorf("give either --set or --data/--output, not both: %w", errUsage)
	}
	return nil
}

func (s *setFlags) register(fs *flag.FlagSet, dataHelp string) {
	fs.StringVar(&s.cache, "cache", "", "cache `file` (required)")
	if dataHelp == "" {
		dataHelp = "dataset `spec` of the feature set, as given to extract (default: the cache's only dataset)"
	}
	fs.StringVar(&s.data, "data", "", dataHelp)
	fs.StringVar(&s.output, "output", "", "backbone `output` of the feature set (needed when the dataset has several)")
	fs.StringVar(&s.key, "set", "", "feature set `key` or unique prefix of at least 8 hex digits (asvp cache ls), in place of --data and --output")
}

// runFlags are the worker and progress flags of long commands.
type runFlags struct {
	workers int
	quiet   bool
}

func (r *runFlags) register(fs *flag.FlagSet, workersHelp string) {
	fs.IntVar(&r.workers, "workers", runtime.GOMAXPROCS(0), workersHelp)
	fs.BoolVar(&r.quiet, "quiet", false, "no progress on stderr")
}

// log returns stderr, or nil (no progress) with --quiet.
func (r *runFlags) log(stderr io.Writer) io.Writer {
	if r.quiet {
		return nil
	}
	return stderr
}

// indicatorFlags are the re-alignment rule's flags, shared by select and simulate.
func indicatorFlags(fs *flag.FlagSet, ic *realign.IndicatorConfig) {
	*ic = realign.DefaultIndicatorConfig()
	fs.StringVar(&ic.Rule, "indicator", ic.Rule, "re-alignment rule on the labeled set's LogME: plateau, threshold, every or never")
	fs.IntVar(&ic.Patience, "patience", ic.Patience, "plateau: rounds without a LogME gain of --min-gain before re-aligning")
	fs.Float64Var(&ic.MinGain, "min-gain", ic.MinGain, "plateau: smallest LogME rise per sample that counts as a gain")
	fs.Float64Var(&ic.Threshold, "threshold", ic.Threshold, "threshold: re-align when LogME per sample is below this")
	fs.IntVar(&ic.Every, "every", ic.Every, "every: re-align after this many rounds on the same features")
	fs.IntVar(&ic.MaxUpdates, "max-updates", ic.MaxUpdates, "most re-alignments (0: no cap)")
	fs.IntVar(&ic.MinLabels, "min-labels", ic.MinLabels, "no re-alignment below this many labels")
}

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

// openRuntime loads ONNX Runtime from --ort-lib, $ASVP_ORT_LIB or set-up's path.
func openRuntime(ortLib string) (*extractor.Runtime, error) {
	lib, err := extractor.FindLibrary(ortLib)
	if err != nil {
		if ortLib != "" {
			return nil, fmt.Errorf("--ort-lib: %w", err)
		}
		return nil, fmt.Errorf("%w (or pass --ort-lib FILE)", err)
	}
	return extractor.NewRuntime(lib)
}

// modelFlags are the flags that pick a backbone and, for a user's ONNX file, describe its card.
type modelFlags struct {
	model, ortLib                      string
	input, size, layout, order, resize string
	scale                              float64
	mean, std                          string
}

// cardFlags are the modelFlags that describe preprocessing.
var cardFlags = []string{"input-name", "input-size", "layout", "channel-order", "resize", "scale", "mean", "std"}

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

// backboneOf returns the card and ONNX file of the registry backbone a
// feature set was extracted with, checked against its sha256.
func backboneOf(info cache.SetInfo) (models.Card, string, error) {
	card, path, err := registry().Lookup(info.Model)
	if err != nil {
		return card, "", fmt.Errorf("the backbone %q of %s is not a registry model (asvp models ls), so its tail cannot be fine-tuned here: %w", info.Model, info.Dataset, err)
	}
	sum, err := card.VerifyFile(path)
	if err != nil {
		return card, "", err
	}
	if sum != info.ModelSHA256 {
		return card, "", fmt.Errorf("backbone %s has sha256 %s, the features of %s came from sha256 %s: %w", path, cache.ShortKey(sum), info.Dataset, cache.ShortKey(info.ModelSHA256), cache.ErrMismatch)
	}
	return card, path, nil
}
