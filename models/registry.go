package models

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultModel is the registry name of the backbone asvp uses when none is given.
const DefaultModel = "mobilenet_v2-nsfwjs"

// MobileNetV2NSFWJSSHA256 is the sha256 of the ONNX file that `asvp models
// import-tfjs` writes from npm nsfwjs@4.4.0's mobilenet_v2; set-up checks it.
const MobileNetV2NSFWJSSHA256 = "656aab13da3a7fb4060e52b8e836c908d341c67d9b35951d609c24e8d3f7972b"

// BuiltinCards returns the cards of the backbones that set-up installs.
func BuiltinCards() []Card {
	return []Card{{
		Name:         DefaultModel,
		File:         DefaultModel + ".onnx",
		SHA256:       MobileNetV2NSFWJSSHA256,
		Input:        "input",
		Layout:       "NHWC",
		Height:       96,
		Width:        96,
		ChannelOrder: "RGB",
		Scale:        1.0 / 255,
		Mean:         [3]float32{0, 0, 0},
		Std:          [3]float32{1, 1, 1},
		Resize:       "stretch",
		Resample:     "linear",
		Outputs: []Output{
			{Name: "pool_blocks_10_13_16", Dim: 576, Description: "global-average-pooled outputs of blocks 10, 13 and 16, concatenated"},
			{Name: "pool_block_13", Dim: 160, Description: "global-average-pooled output of block 13"},
			{Name: "pool_block_16", Dim: 320, Description: "global-average-pooled output of block 16"},
			{Name: "pool_final", Dim: 1280, Description: "global-average-pooled final 1280-channel layer (out_relu)"},
			{Name: "probs", Dim: 5, Description: "softmax over nsfwjs' 5 classes (drawing, hentai, neutral, porn, sexy)"},
		},
		DefaultOutput: "pool_blocks_10_13_16",
		// Block 12's output (6x6x96 at 96x96): blocks 13-16 fine-tune (see models/README.md).
		TuneFrom: "block_12_add",
		Provenance: "Keras MobileNetV2 (alpha 1.0), ImageNet-initialised, fine-tuned by the nsfwjs project for a 5-class " +
			"task; TF.js layers model with uint8-quantized weights from npm nsfwjs@4.4.0 (dist/models/mobilenet_v2, " +
			"tgz sha256 585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382), converted to ONNX by " +
			"`asvp models import-tfjs`",
		Licence: "MIT (nsfwjs); MobileNetV2 architecture and ImageNet weights from Keras Applications (Apache-2.0)",
		Notes: "Not a plain ImageNet model: its top layers were fine-tuned for NSFW classification and its weights are " +
			"8-bit quantized. Mid-level pooled features transfer better than the final layer; see models/README.md.",
	}}
}

// Registry maps backbone names to cards and files in a directory.
type Registry struct {
	dir   string
	cards []Card
}

// NewRegistry returns a registry of the built-in cards plus extra, whose
// files live in dir.
func NewRegistry(dir string, extra ...Card) *Registry {
	return &Registry{dir: dir, cards: append(BuiltinCards(), extra...)}
}

// Dir returns the directory that holds the registry's model files.
func (r *Registry) Dir() string { return r.dir }

// Cards returns the registry's cards, sorted by name.
func (r *Registry) Cards() []Card {
	c := slices.Clone(r.cards)
	slices.SortFunc(c, func(a, b Card) int { return strings.Compare(a.Name, b.Name) })
	return c
}

// Lookup returns the card called name and the path of its file. The file is
// not opened; use Card.VerifyFile to check it.
func (r *Registry) Lookup(name string) (Card, string, error) {
	for _, c := range r.cards {
		if c.Name == name {
			p := c.File
			if !filepath.IsAbs(p) {
				p = filepath.Join(r.dir, p)
			}
			return c, p, nil
		}
	}
	names := make([]string, len(r.cards))
	for i, c := range r.cards {
		names[i] = c.Name
	}
	if _, err := os.Stat(name); err == nil {
		return Card{}, "", fmt.Errorf("models: %q is neither a registry name (known: %s) nor an ONNX model: model files must end in .onnx: %w",
			name, strings.Join(names, ", "), ErrUnknownModel)
	}
	return Card{}, "", fmt.Errorf("models: %q is not a known model (known: %s) nor an existing .onnx file: %w",
		name, strings.Join(names, ", "), ErrUnknownModel)
}
