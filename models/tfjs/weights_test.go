package tfjs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func le32(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func TestDecodeWeights(t *testing.T) {
	neg := uint32(0xfffffffd) // int32 -3
	tests := []struct {
		name  string
		specs []WeightSpec
		data  []byte
		want  [][]float32
	}{
		{"uint8", []WeightSpec{{Name: "a", Shape: []int{3}, DType: "float32", Quantization: &Quantization{Min: -1, Scale: 0.5, DType: "uint8"}}},
			[]byte{0, 2, 4}, [][]float32{{-1, 0, 1}}},
		{"uint16", []WeightSpec{{Name: "a", Shape: []int{1, 2}, DType: "float32", Quantization: &Quantization{Min: 0.5, Scale: 0.25, DType: "uint16"}}},
			[]byte{0x00, 0x01, 0x02, 0x00}, [][]float32{{64.5, 1}}},
		{"float16", []WeightSpec{{Name: "a", Shape: []int{4}, DType: "float32", Quantization: &Quantization{DType: "float16"}}},
			[]byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x00, 0x38}, [][]float32{{1, -2, 65504, 0.5}}},
		{"float32 and int32 in order", []WeightSpec{{Name: "f", Shape: []int{2}, DType: "float32"}, {Name: "i", Shape: []int{1}, DType: "int32"}},
			le32(math.Float32bits(1.5), math.Float32bits(-0.25), neg), [][]float32{{1.5, -0.25}, {-3}}},
		{"scalar and empty", []WeightSpec{{Name: "s", Shape: nil, DType: "float32"}, {Name: "e", Shape: []int{0, 3}, DType: "float32"}},
			le32(math.Float32bits(7)), [][]float32{{7}, {}}},
	}
	for _, tt := range tests {
		got, err := DecodeWeights(tt.specs, tt.data)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%s: %d tensors, want %d", tt.name, len(got), len(tt.want))
		}
		for i, w := range tt.want {
			if !reflect.DeepEqual(got[i].Data, w) || got[i].Name != tt.specs[i].Name {
				t.Errorf("%s: tensor %d = %s %v, want %s %v", tt.name, i, got[i].Name, got[i].Data, tt.specs[i].Name, w)
			}
		}
	}
}

func TestDecodeWeightsErrors(t *testing.T) {
	u8 := &Quantization{Min: 0, Scale: 1, DType: "uint8"}
	tests := []struct {
		name  string
		specs []WeightSpec
		data  []byte
		want  error
	}{
		{"short", []WeightSpec{{Name: "a", Shape: []int{2}, DType: "float32"}}, make([]byte, 7), ErrFormat},
		{"extra", []WeightSpec{{Name: "a", Shape: []int{1}, DType: "float32", Quantization: u8}}, make([]byte, 2), ErrFormat},
		{"negative shape", []WeightSpec{{Name: "a", Shape: []int{-1}, DType: "float32"}}, nil, ErrFormat},
		{"huge shape", []WeightSpec{{Name: "a", Shape: []int{1 << 20, 1 << 20}, DType: "float32"}}, nil, ErrFormat},
		{"bad dtype", []WeightSpec{{Name: "a", Shape: []int{1}, DType: "string"}}, make([]byte, 4), ErrUnsupported},
		{"bad quantization", []WeightSpec{{Name: "a", Shape: []int{1}, DType: "float32", Quantization: &Quantization{DType: "int4"}}}, make([]byte, 1), ErrUnsupported},
		{"nan scale", []WeightSpec{{Name: "a", Shape: []int{1}, DType: "float32", Quantization: &Quantization{Scale: math.NaN(), DType: "uint8"}}}, make([]byte, 1), ErrFormat},
	}
	for _, tt := range tests {
		_, err := DecodeWeights(tt.specs, tt.data)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestHalfToFloat checks every binary16 value against the textbook formula.
func TestHalfToFloat(t *testing.T) {
	for h := range 1 << 16 {
		s, e, f := h>>15, (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case e == 0x1f && f != 0:
			if got := halfToFloat(uint16(h)); !math.IsNaN(float64(got)) {
				t.Fatalf("half %#04x = %v, want NaN", h, got)
			}
			continue
		case e == 0x1f:
			want = math.Inf(1)
		case e == 0:
			want = math.Ldexp(float64(f), -24)
		default:
			want = math.Ldexp(1+float64(f)/1024, e-15)
		}
		if s == 1 {
			want = -want
		}
		if got := halfToFloat(uint16(h)); math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("half %#04x = %v, want %v", h, got, want)
		}
	}
}

// FuzzDecodeWeights checks that the weights reader never panics on any
// manifest and data, and that what it accepts has the sizes the specs say.
func FuzzDecodeWeights(f *testing.F) {
	f.Add([]byte(`[{"name":"a","shape":[3],"dtype":"float32","quantization":{"min":-1,"scale":0.5,"dtype":"uint8"}}]`), []byte{0, 2, 4})
	f.Add([]byte(`[{"name":"a","shape":[2],"dtype":"float32"},{"name":"b","shape":[1],"dtype":"int32"}]`), make([]byte, 12))
	f.Add([]byte(`[{"name":"h","shape":[2],"dtype":"float32","quantization":{"dtype":"float16"}}]`), []byte{0, 0x3c, 0, 0xc0})
	f.Add([]byte(`[{"name":"u","shape":[1,1],"dtype":"float32","quantization":{"min":0,"scale":1,"dtype":"uint16"}}]`), []byte{1, 2})
	f.Fuzz(func(t *testing.T, manifest, data []byte) {
		var specs []WeightSpec
		if json.Unmarshal(manifest, &specs) != nil {
			return
		}
		ts, err := DecodeWeights(specs, data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrFormat nor ErrUnsupported", err)
			}
			return
		}
		if len(ts) != len(specs) {
			t.Fatalf("%d tensors for %d specs", len(ts), len(specs))
		}
		for i, tt := range ts {
			n := 1
			for _, d := range specs[i].Shape {
				n *= d
			}
			if len(tt.Data) != n {
				t.Fatalf("tensor %q has %d values, shape %v", tt.Name, len(tt.Data), specs[i].Shape)
			}
		}
	})
}

// TestReadDirStandardForm writes the nsfwjs model in the standard TF.js
// form (model.json plus binary shards, here split into two files) and checks
// that it reads back to the same layers and weights as the bundled form.
func TestReadDirStandardForm(t *testing.T) {
	bundled, _ := convertedNSFWJS(t)
	dir := nsfwjsDir()
	src, err := os.ReadFile(filepath.Join(dir, "model.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	art, err := ExtractExports("model.min.js", src)
	if err != nil {
		t.Fatal(err)
	}
	shardSrc, err := os.ReadFile(filepath.Join(dir, "group1-shard1of1.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := DecodeBundledShard("group1-shard1of1.min.js", shardSrc)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	half := len(data) / 2
	if err := os.WriteFile(filepath.Join(out, "group1-shard1of2.bin"), data[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "group1-shard2of2.bin"), data[half:], 0o644); err != nil {
		t.Fatal(err)
	}
	a := art.(map[string]any)
	a["weightsManifest"].([]any)[0].(map[string]any)["paths"] = []any{"group1-shard1of2.bin", "group1-shard2of2.bin"}
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "model.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Layers, bundled.Layers) || !reflect.DeepEqual(m.OutputLayers, bundled.OutputLayers) {
		t.Error("standard form layers differ from the bundled form")
	}
	if !reflect.DeepEqual(m.Weights, bundled.Weights) || !reflect.DeepEqual(m.WeightOrder, bundled.WeightOrder) {
		t.Error("standard form weights differ from the bundled form")
	}
	want := []string{"model.json", "group1-shard1of2.bin", "group1-shard2of2.bin"}
	if !reflect.DeepEqual(m.Files, want) {
		t.Errorf("Files = %v, want %v", m.Files, want)
	}

	// A truncated shard is an error naming the weight and byte offset.
	if err := os.WriteFile(filepath.Join(out, "group1-shard2of2.bin"), data[half:len(data)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDir(out); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated shard: error %v, want ErrFormat", err)
	} else {
		t.Logf("truncated shard: %v", err)
	}
}
