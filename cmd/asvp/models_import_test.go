package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/models/tfjs"
)

func nsfwjsModelDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ASVP_NSFWJS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "third_party", "nsfwjs", "package", "dist", "models", "mobilenet_v2")
	}
	if _, err := os.Stat(filepath.Join(dir, "model.min.js")); err != nil {
		t.Fatalf("nsfwjs model missing (run make setup, or set ASVP_NSFWJS_DIR): %v", err)
	}
	return dir
}

func TestModelsImportTFJS(t *testing.T) {
	dir := nsfwjsModelDir(t)
	tests := []struct {
		name    string
		outputs string
		want    []tfjs.OutputInfo
		pinned  bool
	}{
		{"default outputs", "", nil, true},
		{"custom outputs", "feat=out_relu,mix=block_13_project_BN+block_16_project_BN", []tfjs.OutputInfo{
			{Name: "feat", Layers: []string{"out_relu"}, Dim: 1280},
			{Name: "mix", Layers: []string{"block_13_project_BN", "block_16_project_BN"}, Dim: 480},
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.onnx")
			args := []string{"--dir", dir, "--out", out}
			if tt.outputs != "" {
				args = append(args, "--outputs", tt.outputs)
			}
			var stdout, stderr bytes.Buffer
			if err := runModelsImportTFJS(args, &stdout, &stderr); err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr.String())
			}
			var res importResult
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != res.SHA256 || len(b) != res.Bytes {
				t.Errorf("printed sha256 %s / %d bytes, file has %s / %d", res.SHA256, res.Bytes, got, len(b))
			}
			if tt.pinned && res.SHA256 != tfjs.NSFWJSMobileNetV2ONNXSHA256 {
				t.Errorf("sha256 %s, want pinned %s", res.SHA256, tfjs.NSFWJSMobileNetV2ONNXSHA256)
			}
			if tt.want != nil {
				gotJSON, _ := json.Marshal(res.Outputs)
				wantJSON, _ := json.Marshal(tt.want)
				if !bytes.Equal(gotJSON, wantJSON) {
					t.Errorf("outputs %s, want %s", gotJSON, wantJSON)
				}
			}
			// No temporary file is left beside the output.
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 1 {
				t.Errorf("output folder holds %d entries, want 1", len(entries))
			}
		})
	}
}

func TestModelsImportTFJSErrors(t *testing.T) {
	dir := nsfwjsModelDir(t)
	tmp := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dir", []string{"--out", filepath.Join(tmp, "a.onnx")}, "want --dir"},
		{"missing dir", []string{"--dir", filepath.Join(tmp, "nope"), "--out", filepath.Join(tmp, "a.onnx")}, "neither model.json nor model.min.js"},
		{"bad outputs", []string{"--dir", dir, "--out", filepath.Join(tmp, "a.onnx"), "--outputs", "x"}, "NAME=LAYER"},
		{"unknown layer", []string{"--dir", dir, "--out", filepath.Join(tmp, "a.onnx"), "--outputs", "x=nope"}, `no layer "nope"`},
		{"bad out folder", []string{"--dir", dir, "--out", filepath.Join(tmp, "no", "a.onnx")}, "no such file"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := runModelsImportTFJS(tt.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q, want empty", tt.name, stdout.String())
		}
	}
}
