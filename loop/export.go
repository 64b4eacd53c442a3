package loop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/asvp-dev/asvp/cache"
	"github.com/asvp-dev/asvp/internal/atomicfile"
	"github.com/asvp-dev/asvp/models/export"
	"github.com/asvp-dev/asvp/models/nn"
)

// ExportOptions says what Export joins.
type ExportOptions struct {
	Net      string // network file written by Finetune's Save
	Backbone string // the backbone's ONNX file
	// Cache, when given, is the cache Finetune wrote the network's
	// generation to: it tells the backbone output the network was trained
	// on and its class names, and proves Backbone is the model it was.
	Cache  string
	Output string // backbone output that feeds the network ("" to take it from Cache)
	Out    string // ONNX file to write
}

// ExportResult is what Export wrote.
type ExportResult struct {
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

// Export writes one ONNX file: the backbone followed by a network trained
// by Finetune, with outputs "probs" and "features".
func Export(opts ExportOptions) (*ExportResult, error) {
	netBytes, err := os.ReadFile(opts.Net)
	if err != nil {
		return nil, &OptionError{Option: "net", Err: err}
	}
	net, err := nn.Load(bytes.NewReader(netBytes))
	if err != nil {
		return nil, &OptionError{Option: "net", Err: fmt.Errorf("%s: %w", opts.Net, err)}
	}
	netSum := sha256.Sum256(netBytes)
	netSHA := hex.EncodeToString(netSum[:])
	backbone, err := os.ReadFile(opts.Backbone)
	if err != nil {
		return nil, &OptionError{Option: "model", Err: err}
	}
	bbSum := sha256.Sum256(backbone)
	res := &ExportResult{Out: opts.Out, Backbone: opts.Backbone, BackboneSHA256: hex.EncodeToString(bbSum[:]), Output: opts.Output,
		Dim: net.Dim, Classes: net.Classes, Net: opts.Net, NetSHA256: netSHA,
		Outputs: []string{export.FeaturesOutput, export.ProbsOutput}}
	if opts.Cache != "" {
		info, classes, err := netOrigin(opts.Cache, netSHA)
		if err != nil {
			return nil, err
		}
		if info.ModelSHA256 != res.BackboneSHA256 {
			return nil, &OptionError{Option: "model", Err: fmt.Errorf("the network was trained on features of model %s (sha256 %s), but %s has sha256 %s",
				info.Model, cache.ShortKey(info.ModelSHA256), opts.Backbone, cache.ShortKey(res.BackboneSHA256))}
		}
		if opts.Output == "" {
			res.Output = info.Output
		} else if opts.Output != info.Output {
			return nil, optionErr("output", "%s, but the network was trained on output %s", opts.Output, info.Output)
		}
		if len(classes) == net.Classes {
			res.ClassNames = classes
		}
	}
	if res.Output == "" {
		return nil, optionErr("output", "name the backbone output that feeds the network, or give the cache its generation was written to")
	}
	meta := map[string]string{"asvp.net_sha256": netSHA, "asvp.backbone_sha256": res.BackboneSHA256}
	if res.ClassNames != nil {
		cj, _ := json.Marshal(res.ClassNames)
		meta["asvp.classes"] = string(cj)
	}
	onnx, err := export.Build(backbone, net.Weights(), export.Options{Output: res.Output, Metadata: meta})
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(opts.Out, onnx); err != nil {
		return nil, &OptionError{Option: "out", Err: err}
	}
	sum := sha256.Sum256(onnx)
	res.SHA256, res.Bytes = hex.EncodeToString(sum[:]), len(onnx)
	return res, nil
}

// netOrigin finds the feature set whose generation Finetune wrote with the
// network of this sha256, and the class names it recorded.
func netOrigin(path, netSHA string) (info cache.SetInfo, classes []string, err error) {
	db, err := cache.Open(path, &cache.Options{ReadOnly: true})
	if err != nil {
		return info, nil, err
	}
	defer closeInto(db, &err)
	infos, err := db.Sets()
	if err != nil {
		return info, nil, err
	}
	for _, in := range infos {
		set, err := db.Set(in.Key)
		if err != nil {
			return info, nil, err
		}
		gens, err := set.Generations()
		if err != nil {
			return info, nil, err
		}
		for _, g := range gens {
			if g.Provenance["net_sha256"] == netSHA {
				_ = json.Unmarshal([]byte(g.Provenance["classes"]), &classes) // optional
				return in, classes, nil
			}
		}
	}
	return info, nil, optionErr("cache", "%s has no generation written with network sha256 %s (was it trained without writing one?): name the backbone output instead",
		path, cache.ShortKey(netSHA))
}
