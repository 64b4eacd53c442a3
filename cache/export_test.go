package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/features"
)

// parseNPY is a minimal reader of NumPy 1.0 '<f4' C-order 2-D files,
// written from the format description, independent of the writer.
func parseNPY(t *testing.T, b []byte) (rows, cols int, data []float32) {
	t.Helper()
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 || b[7] != 0 {
		t.Fatalf("bad npy magic/version % x", b[:min(10, len(b))])
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if (10+hl)%64 != 0 {
		t.Fatalf("header end %d not 64-aligned", 10+hl)
	}
	hdr := string(b[10 : 10+hl])
	if !strings.HasSuffix(hdr, "\n") {
		t.Fatal("header does not end in newline")
	}
	if !strings.Contains(hdr, "'descr': '<f4'") || !strings.Contains(hdr, "'fortran_order': False") {
		t.Fatalf("header %q", hdr)
	}
	m := regexp.MustCompile(`'shape': \((\d+), (\d+)\)`).FindStringSubmatch(hdr)
	if m == nil {
		t.Fatalf("no shape in %q", hdr)
	}
	rows, _ = strconv.Atoi(m[1])
	cols, _ = strconv.Atoi(m[2])
	body := b[10+hl:]
	if len(body) != 4*rows*cols {
		t.Fatalf("body %d bytes, want %d", len(body), 4*rows*cols)
	}
	data = make([]float32, rows*cols)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return rows, cols, data
}

func exportFixture(t *testing.T) (*Set, []sample) {
	db := openTest(t, true)
	s, err := db.EnsureSet(testInfo("m", 7, ""))
	if err != nil {
		t.Fatal(err)
	}
	ss := makeSamples(31, 25, 7)
	ss[0].vec[0] = 1e-40 // subnormal
	ss[1].id = `quoted,"id"`
	putAll(t, s, 0, ss, 10)
	return s, sortedByID(ss)
}

func TestExportNPY(t *testing.T) {
	s, want := exportFixture(t)
	var buf bytes.Buffer
	if err := Export(s, 0, FormatNPY, &buf); err != nil {
		t.Fatal(err)
	}
	rows, cols, data := parseNPY(t, buf.Bytes())
	if rows != len(want) || cols != 7 {
		t.Fatalf("shape (%d, %d)", rows, cols)
	}
	for i, x := range want {
		for j, v := range x.vec {
			if data[i*cols+j] != v {
				t.Fatalf("[%d,%d] = %v, want %v", i, j, data[i*cols+j], v)
			}
		}
	}
	m, _ := s.ReadMatrix(0)
	var ids bytes.Buffer
	if err := WriteIDs(m, &ids); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(ids.String(), "\n"), "\n")
	for i, x := range want {
		if lines[i] != x.id {
			t.Fatalf("ids line %d = %q, want %q", i, lines[i], x.id)
		}
	}

	// numpy, when present, must read the file and see the same values.
	// pyenv may shadow Debian's python3 (which has python3-numpy): try both.
	py := ""
	for _, cand := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(cand, "-c", "import numpy").Run() == nil {
			py = cand
			break
		}
	}
	if py == "" {
		t.Log("numpy check not run: no python3 with numpy")
		return
	}
	t.Logf("checking with numpy via %s", py)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "f.npy"), filepath.Join(dir, "raw.bin")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`import numpy as np
a = np.load(%q)
assert a.dtype == np.dtype('<f4'), a.dtype
assert a.shape == (%d, 7), a.shape
open(%q, 'wb').write(np.ascontiguousarray(a).astype('<f4').tobytes())`, in, len(want), out)
	if b, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, b)
	}
	raw, _ := os.ReadFile(out)
	if len(raw) != 4*len(data) {
		t.Fatalf("numpy read %d bytes", len(raw))
	}
	for i, v := range data {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != v {
			t.Fatalf("numpy value %d = %v, want %v", i, got, v)
		}
	}
}

func TestExportCSV(t *testing.T) {
	s, want := exportFixture(t)
	var buf bytes.Buffer
	if err := Export(s, 0, FormatCSV, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want)+1 || strings.Join(recs[0], ",") != "id,f0,f1,f2,f3,f4,f5,f6" {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	for i, x := range want {
		r := recs[i+1]
		if r[0] != x.id {
			t.Fatalf("row %d id %q, want %q", i, r[0], x.id)
		}
		for j, v := range x.vec {
			f, err := strconv.ParseFloat(r[j+1], 32)
			if err != nil || float32(f) != v {
				t.Fatalf("row %d col %d: %q, want %v", i, j, r[j+1], v)
			}
		}
	}
	if err := Export(s, 0, "parquet", &buf); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestNPYHeaderEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := ExportMatrix(features.NewMatrix(0, 3), FormatNPY, &buf); err != nil {
		t.Fatal(err)
	}
	rows, cols, _ := parseNPY(t, buf.Bytes())
	if rows != 0 || cols != 3 {
		t.Fatalf("shape (%d, %d)", rows, cols)
	}
}
