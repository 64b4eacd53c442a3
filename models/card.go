package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Errors returned by this package; test for them with errors.Is.
var (
	// ErrUnknownModel means a name is neither in the registry nor an existing file.
	ErrUnknownModel = errors.New("unknown model")
	// ErrChecksum means a model file's bytes differ from its card's SHA256.
	ErrChecksum = errors.New("model checksum mismatch")
	// ErrBadCard means a card's fields are inconsistent or missing.
	ErrBadCard = errors.New("invalid model card")
)

// Output describes one output tensor of a backbone: a [N, Dim] float32 matrix.
type Output struct {
	Name        string `json:"name"`
	Dim         int    `json:"dim"`
	Description string `json:"description,omitempty"`
}

// Card says how to feed a backbone and what it returns. Pixel values v in
// [0,255] of channel c become (v*Scale - Mean[c]) / Std[c], in ChannelOrder,
// laid out as Layout, after the image is resized to Height x Width with
// Resample by the Resize rule. Alpha is dropped, grayscale is replicated to
// three channels.
type Card struct {
	Name          string     `json:"name"`
	File          string     `json:"file"`             // file name in the models directory, or a path
	SHA256        string     `json:"sha256,omitempty"` // expected hex sha256 of the file; empty skips the check
	Input         string     `json:"input"`            // input tensor name
	Layout        string     `json:"layout"`           // "NHWC" or "NCHW"
	Height        int        `json:"height"`
	Width         int        `json:"width"`
	ChannelOrder  string     `json:"channel_order"` // "RGB" or "BGR"
	Scale         float32    `json:"scale"`
	Mean          [3]float32 `json:"mean"`
	Std           [3]float32 `json:"std"`
	Resize        string     `json:"resize"`   // "stretch" or "center-crop" (shorter side to size, then crop)
	Resample      string     `json:"resample"` // "linear", "lanczos" or "nearest"
	Outputs       []Output   `json:"outputs"`
	DefaultOutput string     `json:"default_output"`
	// TuneFrom is the default cut of the built-in fine-tuning: the graph
	// tensor (or node) above which the backbone's tail is fine-tuned in Go
	// from cached activations; "" when the card names none.
	TuneFrom   string `json:"tune_from,omitempty"`
	Provenance string `json:"provenance,omitempty"`
	Licence    string `json:"licence,omitempty"`
	Notes      string `json:"notes,omitempty"`
}

// Validate reports the first inconsistency in c, wrapped in ErrBadCard.
func (c Card) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("models: card %q: %s: %w", c.Name, fmt.Sprintf(format, a...), ErrBadCard)
	}
	switch {
	case c.Input == "":
		return bad("no input name")
	case c.Layout != "NHWC" && c.Layout != "NCHW":
		return bad("layout %q is not NHWC or NCHW", c.Layout)
	case c.Height <= 0 || c.Width <= 0 || c.Height > 4096 || c.Width > 4096:
		return bad("input size %dx%d out of range 1..4096", c.Height, c.Width)
	case c.ChannelOrder != "RGB" && c.ChannelOrder != "BGR":
		return bad("channel order %q is not RGB or BGR", c.ChannelOrder)
	case c.Scale <= 0:
		return bad("scale %g must be positive", c.Scale)
	case c.Resize != "stretch" && c.Resize != "center-crop":
		return bad("resize %q is not stretch or center-crop", c.Resize)
	case c.Resample != "linear" && c.Resample != "lanczos" && c.Resample != "nearest":
		return bad("resample %q is not linear, lanczos or nearest", c.Resample)
	case len(c.Outputs) == 0:
		return bad("no outputs")
	}
	for i, s := range c.Std {
		if s <= 0 {
			return bad("std[%d] = %g must be positive", i, s)
		}
	}
	for _, o := range c.Outputs {
		if o.Name == "" || o.Dim <= 0 {
			return bad("output %q has dim %d", o.Name, o.Dim)
		}
	}
	if _, ok := c.Output(c.DefaultOutput); !ok {
		return bad("default output %q is not among its outputs", c.DefaultOutput)
	}
	return nil
}

// Output returns the output called name.
func (c Card) Output(name string) (Output, bool) {
	i := slices.IndexFunc(c.Outputs, func(o Output) bool { return o.Name == name })
	if i < 0 {
		return Output{}, false
	}
	return c.Outputs[i], true
}

// OutputNames lists the names of c's outputs in card order.
func (c Card) OutputNames() []string {
	names := make([]string, len(c.Outputs))
	for i, o := range c.Outputs {
		names[i] = o.Name
	}
	return names
}

// PreprocessHash is the hex sha256 of the fields that decide what the
// backbone sees: input name, layout, size, channel order, scale, mean, std,
// resize and resample. Two cards with the same hash feed a model the same
// tensor for the same image.
func (c Card) PreprocessHash() string {
	b, err := json.Marshal(struct {
		Input, Layout    string
		Height, Width    int
		ChannelOrder     string
		Scale            float32
		Mean, Std        [3]float32
		Resize, Resample string
	}{c.Input, c.Layout, c.Height, c.Width, c.ChannelOrder, c.Scale, c.Mean, c.Std, c.Resize, c.Resample})
	if err != nil {
		panic("models: marshal card: " + err.Error()) // plain struct of numbers and strings: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// FileSHA256 returns the hex sha256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("models: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("models: read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyFile checks that the file at path has the card's SHA256 (when the
// card names one) and returns the file's actual sha256.
func (c Card) VerifyFile(path string) (string, error) {
	sum, err := FileSHA256(path)
	if err != nil {
		return "", err
	}
	if c.SHA256 != "" && sum != c.SHA256 {
		return sum, fmt.Errorf("models: %s has sha256 %s, card %q expects %s (re-run `make setup`, or use the model the card describes): %w",
			path, sum, c.Name, c.SHA256, ErrChecksum)
	}
	return sum, nil
}
