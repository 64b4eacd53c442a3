package models

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBuiltinCardsValidate(t *testing.T) {
	for _, c := range BuiltinCards() {
		if err := c.Validate(); err != nil {
			t.Errorf("built-in card %s: %v", c.Name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	base := BuiltinCards()[0]
	tests := []struct {
		name    string
		breakIt func(*Card)
	}{
		{"no input", func(c *Card) { c.Input = "" }},
		{"layout", func(c *Card) { c.Layout = "NWHC" }},
		{"size", func(c *Card) { c.Height = 0 }},
		{"huge size", func(c *Card) { c.Width = 5000 }},
		{"channel order", func(c *Card) { c.ChannelOrder = "GBR" }},
		{"scale", func(c *Card) { c.Scale = 0 }},
		{"std", func(c *Card) { c.Std[1] = 0 }},
		{"resize", func(c *Card) { c.Resize = "squash" }},
		{"resample", func(c *Card) { c.Resample = "cubic" }},
		{"no outputs", func(c *Card) { c.Outputs = nil }},
		{"output dim", func(c *Card) { c.Outputs = []Output{{Name: "x", Dim: 0}} }},
		{"default output", func(c *Card) { c.DefaultOutput = "logits" }},
	}
	for _, tc := range tests {
		c := base
		c.Outputs = append([]Output(nil), base.Outputs...)
		tc.breakIt(&c)
		if err := c.Validate(); !errors.Is(err, ErrBadCard) {
			t.Errorf("%s: err = %v, want ErrBadCard", tc.name, err)
		}
	}
}

func TestPreprocessHash(t *testing.T) {
	a := BuiltinCards()[0]
	b := a
	b.Notes, b.Provenance, b.Outputs = "other notes", "other", nil // not part of what the model sees
	if a.PreprocessHash() != b.PreprocessHash() {
		t.Error("hash depends on fields that do not change the input tensor")
	}
	for name, f := range map[string]func(*Card){
		"size":   func(c *Card) { c.Height = 224 },
		"mean":   func(c *Card) { c.Mean[0] = 0.5 },
		"order":  func(c *Card) { c.ChannelOrder = "BGR" },
		"layout": func(c *Card) { c.Layout = "NCHW" },
		"resize": func(c *Card) { c.Resize = "center-crop" },
	} {
		c := a
		f(&c)
		if c.PreprocessHash() == a.PreprocessHash() {
			t.Errorf("changing %s keeps the preprocessing hash", name)
		}
	}
}

func TestRegistryAndVerifyFile(t *testing.T) {
	dir := t.TempDir()
	reg := NewRegistry(dir)
	card, path, err := reg.Lookup(DefaultModel)
	if err != nil || path != filepath.Join(dir, DefaultModel+".onnx") || card.Name != DefaultModel {
		t.Fatalf("Lookup: %v %q %q", err, path, card.Name)
	}
	if _, _, err := reg.Lookup("resnet9000"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown name: err = %v", err)
	}
	// A wrong file is caught by its checksum, naming both sums.
	if err := os.WriteFile(path, []byte("not the model"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := card.VerifyFile(path)
	if !errors.Is(err, ErrChecksum) || sum == "" {
		t.Errorf("wrong file: sum %q err %v, want ErrChecksum", sum, err)
	}
	// A card without a checksum accepts any file and returns its sum
	// (`printf 'not the model' | sha256sum`).
	card.SHA256 = ""
	const want = "9165d8b6a043825d90c9b4f1fbad9a82f757dea5a5b7b32f38e99d7aa2ff2eb9"
	if sum, err := card.VerifyFile(path); err != nil || sum != want {
		t.Errorf("unchecked card: sum %s err %v, want %s", sum, err, want)
	}
	if _, err := card.VerifyFile(filepath.Join(dir, "missing.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}
