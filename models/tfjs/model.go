package tfjs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrFormat is wrapped by errors about a model that is readable but not a
// well-formed TF.js layers model (missing fields, bad shapes, short shards).
var ErrFormat = errors.New("tfjs: malformed model")

// ErrUnsupported is wrapped by errors about a layer type or option that the
// converter does not implement.
var ErrUnsupported = errors.New("tfjs: unsupported")

// Model is a TF.js layers model: its Keras topology and dequantized weights.
type Model struct {
	// Name is the Keras model name (model_config.config.name).
	Name string
	// KerasVersion is the keras_version recorded by the exporter.
	KerasVersion string
	// Layers are the model's layers in topology order.
	Layers []Layer
	// InputLayers and OutputLayers name the model's inputs and outputs.
	InputLayers, OutputLayers []string
	// Weights maps a weight name (e.g. "Conv1/kernel") to its values.
	Weights map[string]*Tensor
	// WeightOrder lists weight names in manifest order.
	WeightOrder []string
	// Files are the source files read, topology first, then shards in order.
	Files []string
	// SourceSHA256 is the hex sha256 of the concatenated bytes of Files.
	SourceSHA256 string
}

// Layer is one Keras layer of the topology.
type Layer struct {
	Name      string
	ClassName string
	// Config is the layer's Keras config as JSON.
	Config json.RawMessage
	// Inbound names the layers whose outputs feed this layer, in order.
	Inbound []string
}

// Tensor is a dense float32 weight in Keras layout, row-major.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// artifact mirrors the JSON of a TF.js model artifact.
type artifact struct {
	ModelTopology   *topology       `json:"modelTopology"`
	WeightsManifest []manifestGroup `json:"weightsManifest"`
}

type topology struct {
	KerasVersion string `json:"keras_version"`
	ModelConfig  struct {
		ClassName string `json:"class_name"`
		Config    struct {
			Name       string          `json:"name"`
			Layers     []rawLayer      `json:"layers"`
			RawInputs  json.RawMessage `json:"input_layers"`
			RawOutputs json.RawMessage `json:"output_layers"`
		} `json:"config"`
	} `json:"model_config"`
}

type rawLayer struct {
	Name         string          `json:"name"`
	ClassName    string          `json:"class_name"`
	Config       json.RawMessage `json:"config"`
	InboundNodes [][][]any       `json:"inbound_nodes"`
}

type manifestGroup struct {
	Paths   []string     `json:"paths"`
	Weights []WeightSpec `json:"weights"`
}

// WeightSpec describes one weight of a TF.js weights manifest.
type WeightSpec struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// DType is the weight's type once decoded: float32 or int32.
	DType string `json:"dtype"`
	// Quantization, when set, says how the stored bytes encode the values.
	Quantization *Quantization `json:"quantization"`
}

// Quantization is a TF.js weight quantization: stored integers q of DType
// (uint8 or uint16) stand for min + scale*q; DType float16 stores halves.
type Quantization struct {
	Min   float64 `json:"min"`
	Scale float64 `json:"scale"`
	DType string  `json:"dtype"`
}

// ReadDir reads a TF.js layers model from dir: model.json with binary
// shards if present, else the nsfwjs bundled form model.min.js with
// PATH.min.js shards.
func ReadDir(dir string) (*Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "model.json")); err == nil {
		return readModel(dir, "model.json", false)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.min.js")); err == nil {
		return readModel(dir, "model.min.js", true)
	}
	return nil, fmt.Errorf("tfjs: %s: neither model.json nor model.min.js found: %w", dir, os.ErrNotExist)
}

func readModel(dir, topoName string, bundled bool) (*Model, error) {
	topoPath := filepath.Join(dir, topoName)
	topoBytes, err := os.ReadFile(topoPath)
	if err != nil {
		return nil, fmt.Errorf("tfjs: %w", err)
	}
	art, err := parseArtifact(topoPath, topoBytes, bundled)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(topoBytes)
	files := []string{topoName}
	var groups [][]byte
	for _, g := range art.WeightsManifest {
		var data []byte
		for _, p := range g.Paths {
			if filepath.IsAbs(p) || !filepath.IsLocal(p) {
				return nil, fmt.Errorf("tfjs: %s: shard path %q leaves the model directory: %w", topoPath, p, ErrFormat)
			}
			name := p
			if bundled {
				name += ".min.js"
			}
			full := filepath.Join(dir, name)
			b, err := os.ReadFile(full)
			if err != nil {
				return nil, fmt.Errorf("tfjs: %w", err)
			}
			h.Write(b)
			files = append(files, name)
			if bundled {
				b, err = DecodeBundledShard(full, b)
				if err != nil {
					return nil, err
				}
			}
			data = append(data, b...)
		}
		groups = append(groups, data)
	}
	m, err := buildModel(topoPath, art, groups)
	if err != nil {
		return nil, err
	}
	m.Files = files
	m.SourceSHA256 = hex.EncodeToString(h.Sum(nil))
	return m, nil
}

// parseArtifact decodes the topology file (JSON, or a UMD bundle exporting
// a literal) into an artifact.
func parseArtifact(name string, b []byte, bundled bool) (*artifact, error) {
	raw := b
	if bundled {
		v, err := ExtractExports(name, b)
		if err != nil {
			return nil, err
		}
		raw, err = json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("tfjs: %s: %w: %v", name, ErrFormat, err)
		}
	}
	var art artifact
	if err := json.Unmarshal(raw, &art); err != nil {
		return nil, fmt.Errorf("tfjs: %s: %w: %v", name, ErrFormat, err)
	}
	if art.ModelTopology == nil {
		return nil, fmt.Errorf("tfjs: %s: no modelTopology: %w", name, ErrFormat)
	}
	return &art, nil
}

// DecodeBundledShard returns the weight bytes of an nsfwjs shard bundle: a
// UMD script exporting the bytes as one base64 string. name is used in
// error messages.
func DecodeBundledShard(name string, src []byte) ([]byte, error) {
	v, err := ExtractExports(name, src)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("tfjs: %s: shard bundle exports %T, want a base64 string: %w", name, v, ErrFormat)
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("tfjs: %s: shard: %w: %v", name, ErrFormat, err)
	}
	return b, nil
}

func buildModel(name string, art *artifact, groups [][]byte) (*Model, error) {
	cfg := art.ModelTopology.ModelConfig
	if cfg.ClassName != "Model" && cfg.ClassName != "Functional" && cfg.ClassName != "Sequential" {
		return nil, fmt.Errorf("tfjs: %s: model class %q: %w", name, cfg.ClassName, ErrUnsupported)
	}
	m := &Model{
		Name:         cfg.Config.Name,
		KerasVersion: art.ModelTopology.KerasVersion,
		Weights:      map[string]*Tensor{},
	}
	if cfg.ClassName == "Sequential" {
		return nil, fmt.Errorf("tfjs: %s: Sequential models: %w", name, ErrUnsupported)
	}
	seen := map[string]bool{}
	for i, rl := range cfg.Config.Layers {
		if rl.Name == "" || rl.ClassName == "" {
			return nil, fmt.Errorf("tfjs: %s: layer %d has no name or class_name: %w", name, i, ErrFormat)
		}
		if seen[rl.Name] {
			return nil, fmt.Errorf("tfjs: %s: layer name %q repeated: %w", name, rl.Name, ErrFormat)
		}
		seen[rl.Name] = true
		l := Layer{Name: rl.Name, ClassName: rl.ClassName, Config: rl.Config}
		if len(rl.InboundNodes) > 1 {
			return nil, fmt.Errorf("tfjs: %s: layer %q is shared (%d inbound nodes): %w", name, rl.Name, len(rl.InboundNodes), ErrUnsupported)
		}
		for _, node := range rl.InboundNodes {
			for _, in := range node {
				if len(in) < 3 {
					return nil, fmt.Errorf("tfjs: %s: layer %q: bad inbound node: %w", name, rl.Name, ErrFormat)
				}
				src, ok := in[0].(string)
				if !ok || !seen[src] {
					return nil, fmt.Errorf("tfjs: %s: layer %q: inbound %v is not an earlier layer: %w", name, rl.Name, in[0], ErrFormat)
				}
				if a, b := toInt(in[1]), toInt(in[2]); a != 0 || b != 0 {
					return nil, fmt.Errorf("tfjs: %s: layer %q: inbound node index %v/%v: %w", name, rl.Name, in[1], in[2], ErrUnsupported)
				}
				l.Inbound = append(l.Inbound, src)
			}
		}
		m.Layers = append(m.Layers, l)
	}
	var err error
	if m.InputLayers, err = layerRefs(name, "input_layers", cfg.Config.RawInputs, seen); err != nil {
		return nil, err
	}
	if m.OutputLayers, err = layerRefs(name, "output_layers", cfg.Config.RawOutputs, seen); err != nil {
		return nil, err
	}
	if len(groups) != len(art.WeightsManifest) {
		panic("tfjs: weight groups and manifest differ in length")
	}
	for gi, g := range art.WeightsManifest {
		ts, err := DecodeWeights(g.Weights, groups[gi])
		if err != nil {
			return nil, fmt.Errorf("tfjs: %s: weight group %d: %w", name, gi, err)
		}
		for _, t := range ts {
			if _, dup := m.Weights[t.Name]; dup {
				return nil, fmt.Errorf("tfjs: %s: weight %q repeated: %w", name, t.Name, ErrFormat)
			}
			m.Weights[t.Name] = t
			m.WeightOrder = append(m.WeightOrder, t.Name)
		}
	}
	return m, nil
}

func toInt(v any) int {
	f, ok := v.(float64)
	if !ok {
		return -1
	}
	return int(f)
}

func layerRefs(name, field string, raw json.RawMessage, known map[string]bool) ([]string, error) {
	var refs [][]any
	if len(raw) == 0 {
		return nil, fmt.Errorf("tfjs: %s: no %s: %w", name, field, ErrFormat)
	}
	if err := json.Unmarshal(raw, &refs); err != nil {
		return nil, fmt.Errorf("tfjs: %s: %s: %w: %v", name, field, ErrFormat, err)
	}
	var out []string
	for _, r := range refs {
		if len(r) == 0 {
			return nil, fmt.Errorf("tfjs: %s: %s: empty reference: %w", name, field, ErrFormat)
		}
		s, ok := r[0].(string)
		if !ok || !known[s] {
			return nil, fmt.Errorf("tfjs: %s: %s: %v is not a layer: %w", name, field, r[0], ErrFormat)
		}
		out = append(out, s)
	}
	return out, nil
}

// Layer returns the layer with the given name, or nil.
func (m *Model) Layer(name string) *Layer {
	for i := range m.Layers {
		if m.Layers[i].Name == name {
			return &m.Layers[i]
		}
	}
	return nil
}
