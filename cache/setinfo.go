package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SetInfo describes a feature set: what produced its vectors and their shape.
// It is stored as JSON in the set's "info" key.
type SetInfo struct {
	// Key is Fingerprint(ModelSHA256, Output, CardHash, DatasetID).
	Key string `json:"key"`
	// Model is the model's human-readable name (not part of the key).
	Model string `json:"model"`
	// ModelSHA256 is the hex SHA-256 of the ONNX model bytes.
	ModelSHA256 string `json:"model_sha256"`
	// Output is the name of the model output the features come from.
	Output string `json:"output"`
	// CardHash identifies the preprocessing (backbone card) used.
	CardHash string `json:"card_hash"`
	// Dataset is the dataset spec as the user gave it (not part of the key).
	Dataset string `json:"dataset"`
	// DatasetID identifies the dataset's content (for example a hash of its sample IDs).
	DatasetID string `json:"dataset_id"`
	// DType is the storage type of the vectors: "float32" (default) or "float16".
	// Vectors are always read back as float32.
	DType string `json:"dtype"`
	// Shard is "" for a whole extraction, "i/n" for shard i of n, or a
	// comma-separated list of such after a partial Merge.
	Shard string `json:"shard,omitempty"`
	// Dim is the dimension of generation 0.
	Dim int `json:"dim"`
	// Created is when the set was first created.
	Created time.Time `json:"created"`
	// Import, for a set imported from an embedding file (ImportSet), says
	// which file; nil for a set extracted by asvp. An imported set has no
	// ONNX model: ModelSHA256 is empty and CardHash is "import:" and the
	// model name the user gave.
	Import *ImportInfo `json:"import,omitempty"`
}

// ImportInfo is where an imported feature set came from.
type ImportInfo struct {
	// File is the embedding file as the user named it.
	File string `json:"file"`
	// Format is "npy" or "parquet".
	Format string `json:"format"`
	// Hash is the content hash of File's bytes (embeddings.Hash).
	Hash string `json:"hash"`
	// IDs is the file of sample IDs ("" when File holds them).
	IDs string `json:"ids,omitempty"`
	// IDsHash is the content hash of IDs' bytes.
	IDsHash string `json:"ids_hash,omitempty"`
	// Rows is the number of samples in File.
	Rows int `json:"rows"`
	// Ref, for a set imported by reference (ImportReference), says where
	// its vectors are; nil when the cache holds them (ImportSet).
	Ref *ImportRef `json:"reference,omitempty"`
}

// Fingerprint returns the key of the feature set of a model's output, under
// one preprocessing, over one dataset: the hex SHA-256 of the four values,
// each length-prefixed so that no two different tuples collide by concatenation.
func Fingerprint(modelSHA256, output, cardHash, datasetID string) string {
	h := sha256.New()
	h.Write([]byte("asvp feature set v1\x00"))
	for _, s := range []string{modelSHA256, output, cardHash, datasetID} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// validate checks the invariants of a stored SetInfo.
func (si SetInfo) validate() error {
	if want := Fingerprint(si.ModelSHA256, si.Output, si.CardHash, si.DatasetID); si.Key != want {
		return fmt.Errorf("cache: set key %q is not the fingerprint %s of its model, output, card and dataset", si.Key, want)
	}
	if si.Dim < 1 || si.Dim > maxDim {
		return fmt.Errorf("cache: set %s: dimension %d out of range 1..%d", short(si.Key), si.Dim, maxDim)
	}
	if si.DType != DTypeFloat32 && si.DType != DTypeFloat16 {
		return fmt.Errorf("cache: set %s: unknown dtype %q", short(si.Key), si.DType)
	}
	if _, _, err := parseShards(si.Shard); err != nil {
		return fmt.Errorf("cache: set %s: %w", short(si.Key), err)
	}
	return nil
}

// parseShards parses "", "i/n" or "i/n,j/n,..." and returns n and the shard
// indices (nil for a whole extraction).
func parseShards(s string) (int, []int, error) {
	if s == "" {
		return 0, nil, nil
	}
	total := 0
	var idx []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(part, "/")
		i, err1 := strconv.Atoi(a)
		n, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n || strconv.Itoa(i) != a || strconv.Itoa(n) != b {
			return 0, nil, fmt.Errorf("bad shard %q (want i/n with 0 <= i < n)", part)
		}
		if total != 0 && n != total {
			return 0, nil, fmt.Errorf("shards %q mix counts %d and %d", s, total, n)
		}
		if seen[i] {
			return 0, nil, fmt.Errorf("shards %q repeat %d", s, i)
		}
		seen[i] = true
		total = n
		idx = append(idx, i)
	}
	return total, idx, nil
}

// encodeSetInfo returns the stored form of si.
func encodeSetInfo(si SetInfo) []byte {
	b, err := json.Marshal(si)
	if err != nil {
		panic("cache: encoding set info: " + err.Error()) // plain struct: cannot fail
	}
	return b
}

// decodeSetInfo parses and validates a stored SetInfo.
func decodeSetInfo(b []byte) (SetInfo, error) {
	var si SetInfo
	if err := json.Unmarshal(b, &si); err != nil {
		return SetInfo{}, fmt.Errorf("%w: set info: %w", ErrCorrupt, err)
	}
	if err := si.validate(); err != nil {
		return SetInfo{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return si, nil
}

// GenInfo describes one generation of a feature set.
type GenInfo struct {
	// N is the generation number: 0 for pre-trained features, then 1, 2, ...
	N int `json:"n"`
	// Dim is the dimension of this generation's vectors.
	Dim int `json:"dim"`
	// Source says what produced the vectors: "pretrained" for generation 0
	// ("import" for an imported set's), "adapter" or "onnx" for re-aligned
	// ones.
	Source string `json:"source"`
	// Provenance is free-form: model sha, labeled-set hash, method, seed,
	// round, parent generation, and so on.
	Provenance map[string]string `json:"provenance,omitempty"`
	// Created is when the generation was added.
	Created time.Time `json:"created"`
}

// SourcePretrained is the Source of generation 0 of an extracted set.
const SourcePretrained = "pretrained"

// SourceImport is the Source of generation 0 of an imported set.
const SourceImport = "import"

// ProvenanceSimulation is the provenance key that marks a generation written
// by a simulation (asvp simulate); its value is the simulation's name. Such
// generations are a simulation's working state, re-aligned on its oracle
// labels, not features for selecting or exporting.
const ProvenanceSimulation = "sim"

// Simulation returns the name of the simulation that wrote g, or "" when no
// simulation did.
func (g GenInfo) Simulation() string { return g.Provenance[ProvenanceSimulation] }

func (g GenInfo) validate() error {
	if g.N < 0 {
		return fmt.Errorf("cache: generation %d: negative number", g.N)
	}
	if g.Dim < 1 || g.Dim > maxDim {
		return fmt.Errorf("cache: generation %d: dimension %d out of range 1..%d", g.N, g.Dim, maxDim)
	}
	if g.Source == "" {
		return fmt.Errorf("cache: generation %d: empty source", g.N)
	}
	return nil
}

func encodeGenInfo(g GenInfo) []byte {
	b, err := json.Marshal(g)
	if err != nil {
		panic("cache: encoding generation info: " + err.Error())
	}
	return b
}

func decodeGenInfo(b []byte) (GenInfo, error) {
	var g GenInfo
	if err := json.Unmarshal(b, &g); err != nil {
		return GenInfo{}, fmt.Errorf("%w: generation info: %w", ErrCorrupt, err)
	}
	if err := g.validate(); err != nil {
		return GenInfo{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return g, nil
}

// short abbreviates a set key for messages.
func short(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
