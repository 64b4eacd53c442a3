package embeddings

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/asvp-dev/asvp/features"
)

// writeRows writes rows of T as a Parquet file in a temporary folder,
// in row groups of groupRows rows.
func writeRows[T any](t *testing.T, rows []T, groupRows int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.parquet")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f)
	for lo := 0; lo < len(rows); lo += groupRows {
		if _, err := w.Write(rows[lo:min(lo+groupRows, len(rows))]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil { // a row group per Flush
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

type listRow struct {
	ID    string    `parquet:"id"`
	Emb   []float32 `parquet:"emb,list"`
	Label string    `parquet:"label,optional"`
}

type dimRow struct {
	Key int64   `parquet:"key"`
	F0  float64 `parquet:"f0"`
	F1  float64 `parquet:"f1"`
	F2  float64 `parquet:"f2"`
}

func TestReadParquet(t *testing.T) {
	t.Run("list column, two row groups, labels", func(t *testing.T) {
		p := writeRows(t, []listRow{
			{"a", []float32{1, 2}, "cat"}, {"b", []float32{3, 4}, ""}, {"c", []float32{5, -6.5}, "dog"},
		}, 2)
		f, err := ReadParquet(p, ParquetOptions{LabelColumn: "label"})
		if err != nil {
			t.Fatal(err)
		}
		m := f.Matrix
		if m.Rows != 3 || m.Cols != 2 || strings.Join(m.IDs, ",") != "a,b,c" || f.DType != Float32 {
			t.Fatalf("got %d x %d ids %q", m.Rows, m.Cols, m.IDs)
		}
		if want := []float32{1, 2, 3, 4, 5, -6.5}; !slices.Equal(m.Data, want) {
			t.Fatalf("data %v, want %v", m.Data, want)
		}
		if strings.Join(f.Labels, ",") != "cat,,dog" {
			t.Fatalf("labels %q", f.Labels)
		}
	})
	t.Run("a column per dimension, integer IDs", func(t *testing.T) {
		p := writeRows(t, []dimRow{{7, 1, 2, 3}, {8, 4, 5, 6}, {9, 7, 8, 9.5}}, 2)
		f, err := ReadParquet(p, ParquetOptions{IDColumn: "key"})
		if err != nil {
			t.Fatal(err)
		}
		m := f.Matrix
		if m.Rows != 3 || m.Cols != 3 || strings.Join(m.IDs, ",") != "7,8,9" {
			t.Fatalf("got %d x %d ids %q", m.Rows, m.Cols, m.IDs)
		}
		if want := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9.5}; !slices.Equal(m.Data, want) {
			t.Fatalf("data %v, want %v", m.Data, want)
		}
	})
}

func TestReadParquetErrors(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		rows []listRow
		opts ParquetOptions
		row  int
		want string
	}{
		{"ragged", []listRow{{ID: "a", Emb: []float32{1, 2}}, {ID: "b", Emb: []float32{1, 2}}, {ID: "c", Emb: []float32{1, 2, 3}}}, ParquetOptions{}, 3, "vector of 3 values, row 1 has 2 (ragged list column)"},
		{"ragged in a later row group", []listRow{{ID: "a", Emb: []float32{1, 2}}, {ID: "b", Emb: []float32{1, 2}}, {ID: "c", Emb: []float32{1, 2}}, {ID: "d", Emb: []float32{1}}}, ParquetOptions{}, 4, "vector of 1 values"},
		{"empty vector", []listRow{{ID: "a", Emb: []float32{1, 2}}, {ID: "b", Emb: nil}}, ParquetOptions{}, 2, "null or empty vector"},
		{"duplicate id", []listRow{{ID: "a", Emb: []float32{1}}, {ID: "b", Emb: []float32{1}}, {ID: "a", Emb: []float32{1}}}, ParquetOptions{}, 3, `id "a" repeats row 1`},
		{"empty id", []listRow{{ID: "a", Emb: []float32{1}}, {ID: "", Emb: []float32{1}}}, ParquetOptions{}, 2, "empty ID"},
		{"nan", []listRow{{ID: "a", Emb: []float32{1, 2}}, {ID: "b", Emb: []float32{3, nan}}}, ParquetOptions{}, 2, "value 1 (0-based column) is NaN"},
		{"no id column", []listRow{{ID: "a", Emb: []float32{1}}}, ParquetOptions{IDColumn: "uid"}, 0, `no ID column "uid"`},
		{"no such vector column", []listRow{{ID: "a", Emb: []float32{1}}}, ParquetOptions{VectorColumn: "clip"}, 0, `no vector column "clip"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeRows(t, tc.rows, 3)
			_, err := ReadParquet(p, tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrFormat and %q", err, tc.want)
			}
			var re *RowError
			if got := errors.As(err, &re); got != (tc.row > 0) || got && re.Row != tc.row {
				t.Fatalf("error %q: want row %d", err, tc.row)
			}
		})
	}
}

// testMatrix is a small matrix with values that float32 cannot round
// trip through a careless decimal or float64 conversion.
func testMatrix() *features.Matrix {
	m := features.NewMatrix(5, 3)
	for i := range m.Rows {
		m.IDs[i] = []string{"a", "b/2", "c d", "é", "x,y"}[i]
		for j := range m.Cols {
			m.Data[i*m.Cols+j] = float32(math.Sin(float64(i*7+j))) * float32(math.Pow(10, float64(j*3-3)))
		}
	}
	m.Data[1] = math.SmallestNonzeroFloat32
	m.Data[2] = math.MaxFloat32
	return m
}

// writeParquetFile writes m with WriteParquet to path and returns path.
func writeParquetFile(t *testing.T, m *features.Matrix, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteParquet(m, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWriteParquetRoundTrip(t *testing.T) {
	m := testMatrix()
	p := writeParquetFile(t, m, filepath.Join(t.TempDir(), "x.parquet"))
	got, err := ReadParquet(p, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Matrix.IDs, "|") != strings.Join(m.IDs, "|") || !slices.Equal(got.Matrix.Data, m.Data) {
		t.Fatalf("read back %v, wrote %v", got.Matrix, m)
	}
}

// TestWriteParquetInterop reads WriteParquet's file with hyparquet, a
// JavaScript Parquet reader that shares no code with parquet-go
// (scripts/setup.sh --test fetches it, pinned by version and sha256), in
// node: the file's IDs, values, schema and metadata must come back exactly.
func TestWriteParquetInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run scripts/setup.sh --test")
	}
	tgz, _ := filepath.Abs("../third_party/npm/hyparquet-1.31.5.tgz")
	if _, err := os.Stat(tgz); err != nil {
		t.Fatalf("%v: run scripts/setup.sh --test", err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", tgz, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	m := testMatrix()
	p := writeParquetFile(t, m, filepath.Join(dir, "x.parquet"))
	out, err := exec.Command(node, "testdata/read_parquet.mjs", filepath.Join(dir, "package"), p).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Rows []struct {
			ID        string    `json:"id"`
			Embedding []float64 `json:"embedding"`
		} `json:"rows"`
		Metadata []struct{ Key, Value string } `json:"metadata"`
		Schema   []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"schema"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got.Rows) != m.Rows {
		t.Fatalf("hyparquet read %d rows, wrote %d", len(got.Rows), m.Rows)
	}
	for i, r := range got.Rows {
		if r.ID != m.IDs[i] || len(r.Embedding) != m.Cols {
			t.Fatalf("row %d: id %q with %d values, wrote %q with %d", i, r.ID, len(r.Embedding), m.IDs[i], m.Cols)
		}
		for j, v := range r.Embedding {
			if v != float64(m.Data[i*m.Cols+j]) { // float32 is exact in a JS number
				t.Errorf("row %d value %d: hyparquet %v, wrote %v", i, j, v, m.Data[i*m.Cols+j])
			}
		}
	}
	var types []string
	for _, s := range got.Schema {
		types = append(types, s.Name+":"+s.Type)
	}
	if !strings.Contains(strings.Join(types, " "), "element:FLOAT") || !strings.Contains(strings.Join(types, " "), "id:BYTE_ARRAY") {
		t.Errorf("schema %v: want id BYTE_ARRAY and a list of FLOAT", types)
	}
	if len(got.Metadata) != 1 || got.Metadata[0].Key != "asvp.dim" || got.Metadata[0].Value != "3" {
		t.Errorf("metadata %v: want asvp.dim 3", got.Metadata)
	}
}
