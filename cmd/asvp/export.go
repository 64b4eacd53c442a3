package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/export"
	"github.com/asvp-dev/asvp/models/nn"
)

// exportResult is what `asvp export` prints.
type exportResult struct {
	Out            string   `json:"out"`
	SHA256         string   `json:"sha256"`
	Bytes          int      `json:"bytes"`
	Backbone       string   `json:"backbone"`
	BackboneSHA256 string   `json:"backbone_sha256"`
	Output         string   `json:"backbone_output"`
	Dim            int      `json:"dim"`
	Classes        int      `json:"classes"`
	ClassNames     []string `json:"class_names,omitempty"`
	Net            string   `json:"net"`
	NetSHA256      string   `json:"net_sha256"`
	Outputs        []string `json:"outputs"`
}

// runExport writes one ONNX file: the backbone followed by a net trained by
// `asvp finetune`, with outputs "probs" and "features".
func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	cachePath := fs.String("cache", "", "cache that finetune wrote to: finds the backbone output the net was trained on")
	netPath := fs.String("net", "", "`FILE` written by asvp finetune --save (required)")
	model := fs.String("model", models.DefaultModel, "backbone: a registry name or an .onnx file")
	output := fs.String("output", "", "backbone output that feeds the net (default: the one recorded in --cache)")
	out := fs.String("out", "", "ONNX file to write (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *netPath == "" || *out == "" {
		return fmt.Errorf("--net and --out are required: %w", errUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	netBytes, err := os.ReadFile(*netPath)
	if err != nil {
		return fmt.Errorf("--net: %w", err)
	}
	net, err := nn.Load(bytes.NewReader(netBytes))
	if err != nil {
		return fmt.Errorf("--net %s: %w", *netPath, err)
	}
	netSum := sha256.Sum256(netBytes)
	netSHA := hex.EncodeToString(netSum[:])

	backbonePath := *model
	if !strings.HasSuffix(strings.ToLower(*model), ".onnx") {
		card, path, err := registry().Lookup(*model)
		if err != nil {
			return err
		}
		if _, err := card.VerifyFile(path); err != nil {
			return err
		}
		backbonePath = path
	}
	backbone, err := os.ReadFile(backbonePath)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	bbSum := sha256.Sum256(backbone)
	res := exportResult{Out: *out, Backbone: backbonePath, BackboneSHA256: hex.EncodeToString(bbSum[:]), Output: *output,
		Dim: net.Dim, Classes: net.Classes, Net: *netPath, NetSHA256: netSHA,
		Outputs: []string{export.FeaturesOutput, export.ProbsOutput}}

	if *cachePath != "" {
		info, classes, err := netOrigin(*cachePath, netSHA)
		if err != nil {
			return err
		}
		if info.ModelSHA256 != res.BackboneSHA256 {
			return fmt.Errorf("the net was trained on features of model %s (sha256 %s), but --model %s has sha256 %s",
				info.Model, info.ModelSHA256[:12], backbonePath, res.BackboneSHA256[:12])
		}
		if *output == "" {
			res.Output = info.Output
		} else if *output != info.Output {
			return fmt.Errorf("--output %s, but the net was trained on output %s: %w", *output, info.Output, errUsage)
		}
		if len(classes) == net.Classes {
			res.ClassNames = classes
		}
	}
	if res.Output == "" {
		return fmt.Errorf("name the backbone output with --output, or give the --cache that finetune wrote the net's generation to: %w", errUsage)
	}
	meta := map[string]string{"asvp.net_sha256": netSHA, "asvp.backbone_sha256": res.BackboneSHA256}
	if res.ClassNames != nil {
		cj, _ := json.Marshal(res.ClassNames)
		meta["asvp.classes"] = string(cj)
	}
	onnx, err := export.Build(backbone, net.Weights(), export.Options{Output: res.Output, Metadata: meta})
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(*out, onnx); err != nil {
		return fmt.Errorf("--out %s: %w", *out, err)
	}
	sum := sha256.Sum256(onnx)
	res.SHA256, res.Bytes = hex.EncodeToString(sum[:]), len(onnx)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// netOrigin finds the feature set whose generation `asvp finetune` wrote
// with the net of this sha256, and the class names it recorded.
func netOrigin(cachePath, netSHA string) (cache.SetInfo, []string, error) {
	db, err := cache.Open(cachePath, &cache.Options{ReadOnly: true})
	if err != nil {
		return cache.SetInfo{}, nil, err
	}
	defer db.Close()
	infos, err := db.Sets()
	if err != nil {
		return cache.SetInfo{}, nil, err
	}
	for _, in := range infos {
		set, err := db.Set(in.Key)
		if err != nil {
			return cache.SetInfo{}, nil, err
		}
		gens, err := set.Generations()
		if err != nil {
			return cache.SetInfo{}, nil, err
		}
		for _, g := range gens {
			if g.Provenance["net_sha256"] == netSHA {
				var classes []string
				_ = json.Unmarshal([]byte(g.Provenance["classes"]), &classes) // optional
				return in, classes, nil
			}
		}
	}
	return cache.SetInfo{}, nil, fmt.Errorf("cache %s has no generation written with net sha256 %s (was it trained with --no-write?): pass --output instead of --cache: %w",
		cachePath, netSHA[:12], errUsage)
}
