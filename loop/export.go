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
	"github.com/asvp-dev/asvp/models"
	"github.com/asvp-dev/asvp/models/export"
	"github.com/asvp-dev/asvp/models/finetune"
	"github.com/asvp-dev/asvp/tuning"
)

// ExportOptions says what Export joins.
type ExportOptions struct {
	Net string // fine-tuned tail and head, written by Finetune's Save
	// Cache is the cache the network was fine-tuned on: its feature set (the
	// one whose generation Finetune wrote with the network, else Dataset
	// and Output) gives the pretrained tail the network loads onto.
	Cache           string
	Dataset, Output string
	// ModelFor returns the card and ONNX file of the set's backbone.
	ModelFor func(cache.SetInfo) (models.Card, string, error)
	Out      string // ONNX file to write
}

// ExportResult is what Export wrote.
type ExportResult struct {
	Out            string   `json:"out"`
	SHA256         string   `json:"sha256"`
	Bytes          int      `json:"bytes"`
	Backbone       string   `json:"backbone"`
	BackboneSHA256 string   `json:"backbone_sha256"`
	Output         string   `json:"backbone_output"`
	Cut            string   `json:"cut"`
	Dim            int      `json:"dim"`
	Classes        int      `json:"classes"`
	ClassNames     []string `json:"class_names,omitempty"`
	Net            string   `json:"net"`
	NetSHA256      string   `json:"net_sha256"`
	Outputs        []string `json:"outputs"`
}

// Export writes the whole fine-tuned network as one ONNX file: the frozen
// backbone below the cut, the tail with the tuned weights (the BatchNorms
// that fine-tuning inserted folded back into the convolutions) and the
// head, with outputs "features" and "probs".
func Export(opts ExportOptions) (res *ExportResult, err error) {
	netBytes, err := os.ReadFile(opts.Net)
	if err != nil {
		return nil, &OptionError{Option: "net", Err: err}
	}
	netSum := sha256.Sum256(netBytes)
	netSHA := hex.EncodeToString(netSum[:])
	db, err := openExisting(opts.Cache, true)
	if err != nil {
		return nil, err
	}
	defer closeInto(db, &err)
	set, classes, err := netOrigin(db, netSHA)
	if err != nil {
		return nil, err
	}
	if set == nil { // no generation written with it (LP, or --no-write): the named set
		if set, err = db.FindSet(opts.Dataset, opts.Output); err != nil {
			return nil, err
		}
	}
	card, backbonePath, err := opts.ModelFor(set.Info())
	if err != nil {
		return nil, err
	}
	src, err := tuning.Open(db, set, card, backbonePath, tuning.Options{})
	if err != nil {
		return nil, err
	}
	tuned, err := finetune.Load(bytes.NewReader(netBytes), src.Pre)
	if err != nil {
		return nil, &OptionError{Option: "net", Err: fmt.Errorf("%s: %w", opts.Net, err)}
	}
	backbone, err := os.ReadFile(backbonePath)
	if err != nil {
		return nil, err
	}
	bbSum := sha256.Sum256(backbone)
	info := set.Info()
	res = &ExportResult{Out: opts.Out, Backbone: backbonePath, BackboneSHA256: hex.EncodeToString(bbSum[:]), Output: info.Output,
		Cut: src.Cut, Dim: tuned.Dim(), Classes: tuned.Classes(), Net: opts.Net, NetSHA256: netSHA,
		Outputs: []string{export.FeaturesOutput, export.ProbsOutput}}
	if len(classes) == tuned.Classes() {
		res.ClassNames = classes
	}
	meta := map[string]string{"asvp.net_sha256": netSHA, "asvp.backbone_sha256": res.BackboneSHA256}
	if res.ClassNames != nil {
		cj, _ := json.Marshal(res.ClassNames)
		meta["asvp.classes"] = string(cj)
	}
	onnx, err := export.BuildTuned(backbone, tuned, export.Options{Output: info.Output, Metadata: meta})
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
// network of this sha256, and the class names it recorded; nil when none.
func netOrigin(db *cache.DB, netSHA string) (*cache.Set, []string, error) {
	infos, err := db.Sets()
	if err != nil {
		return nil, nil, err
	}
	for _, in := range infos {
		set, err := db.Set(in.Key)
		if err != nil {
			return nil, nil, err
		}
		gens, err := set.Generations()
		if err != nil {
			return nil, nil, err
		}
		for _, g := range gens {
			if g.Provenance["net_sha256"] == netSHA {
				var classes []string
				_ = json.Unmarshal([]byte(g.Provenance["classes"]), &classes) // optional
				return set, classes, nil
			}
		}
	}
	return nil, nil, nil
}
