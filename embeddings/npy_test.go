package embeddings

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asvp-dev/asvp/internal/half"
)

// npyBytes builds an .npy file by hand (not with the code under test): a
// header with descr and shape, then the values in dtype.
func npyBytes(descr, shape string, vals []float32) []byte {
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	pad := (64 - (10+len(dict)+1)%64) % 64
	b := []byte("\x93NUMPY\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)+pad+1))
	b = append(b, dict+strings.Repeat(" ", pad)+"\n"...)
	for _, v := range vals {
		if descr == "<f2" {
			b = binary.LittleEndian.AppendUint16(b, half.FromFloat32(v))
		} else {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

func writeFiles(t *testing.T, npy []byte, ids string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	if err := os.WriteFile(p, npy, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".ids.txt", []byte(ids), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, p + ".ids.txt"
}

func TestReadNPY(t *testing.T) {
	vals := []float32{1, -2.5, 0, 3, 0.125, 65504, 7, 8, -0.25} // exact in float16 too
	for _, tc := range []struct{ descr, dtype, ids string }{
		{"<f4", Float32, "a\nb\nc\n"},
		{"<f4", Float32, "a\r\nb\r\nc"}, // CRLF, no final line break
		{"<f2", Float16, "a\nb\nc\n"},
	} {
		t.Run(tc.descr, func(t *testing.T) {
			raw := npyBytes(tc.descr, "(3, 3)", vals)
			p, idp := writeFiles(t, raw, tc.ids)
			f, err := ReadNPY(p, idp)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m := f.Matrix
			if m.Rows != 3 || m.Cols != 3 || strings.Join(m.IDs, ",") != "a,b,c" || f.DType != tc.dtype {
				t.Fatalf("got %d x %d %s ids %q", m.Rows, m.Cols, f.DType, m.IDs)
			}
			for i, v := range vals {
				if m.Data[i] != v {
					t.Errorf("value %d = %v, want %v", i, m.Data[i], v)
				}
			}
			if want := Hash(raw); f.Hash != want {
				t.Errorf("hash %s, want the file's %s", f.Hash, want)
			}
			if want := Hash([]byte(tc.ids)); f.IDsHash != want {
				t.Errorf("ids hash %s, want %s", f.IDsHash, want)
			}
		})
	}
}

func TestReadNPYErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	good := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	with := func(i int, v float32) []float32 {
		c := append([]float32(nil), good...)
		c[i] = v
		return c
	}
	for _, tc := range []struct {
		name  string
		npy   []byte
		ids   string
		row   int    // the RowError's row, 0 for a file-level error
		inIDs bool   // the row is a line of the IDs file
		want  string // in the message
	}{
		{"nan", npyBytes("<f4", "(4, 2)", with(5, nan)), "a\nb\nc\nd\n", 3, false, "value 1 (0-based column) is NaN"},
		{"inf", npyBytes("<f4", "(4, 2)", with(0, inf)), "a\nb\nc\nd\n", 1, false, "+Inf"},
		{"neg inf float16", npyBytes("<f2", "(4, 2)", with(7, float32(math.Inf(-1)))), "a\nb\nc\nd\n", 4, false, "-Inf"},
		{"duplicate id", npyBytes("<f4", "(4, 2)", good), "a\nb\nc\nb\n", 4, true, `id "b" repeats line 2`},
		{"empty id", npyBytes("<f4", "(4, 2)", good), "a\n\nc\nd\n", 2, true, "empty ID"},
		{"too few ids", npyBytes("<f4", "(4, 2)", good), "a\nb\nc\n", 4, false, "has 3 IDs for 4 rows"},
		{"too many ids", npyBytes("<f4", "(4, 2)", good), "a\nb\nc\nd\ne\n", 5, true, `ID "e" has no row`},
		{"float64", npyBytes("<f8", "(4, 2)", good), "a\nb\nc\nd\n", 0, false, `dtype "<f8"`},
		{"3-D", npyBytes("<f4", "(2, 2, 2)", good), "a\nb\n", 0, false, "is 3-D"},
		{"truncated", npyBytes("<f4", "(5, 2)", good), "a\nb\nc\nd\ne\n", 0, false, "needs 168 bytes, the file has 160"},
		{"not npy", []byte("id,f0\na,1\n"), "a\n", 0, false, "not a NumPy .npy file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, idp := writeFiles(t, tc.npy, tc.ids)
			f, err := ReadNPY(p, idp)
			if err == nil {
				f.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrFormat and %q", err, tc.want)
			}
			var re *RowError
			if tc.row == 0 {
				if errors.As(err, &re) {
					t.Fatalf("error %q names row %d, want a file-level error", err, re.Row)
				}
				return
			}
			if !errors.As(err, &re) || re.Row != tc.row {
				t.Fatalf("error %q: want row %d", err, tc.row)
			}
			wantFile := p
			if tc.inIDs {
				wantFile = idp
			}
			if re.File != wantFile || !strings.Contains(err.Error(), fmt.Sprintf("row %d (1-based)", tc.row)) {
				t.Fatalf("error %q: want file %s row %d (1-based)", err, wantFile, tc.row)
			}
		})
	}
}

// TestShrunkWhileMapped: a mapped .npy cut short by another process (a job
// rewriting it in place) gives an error from the scan and from Gather,
// where reading the lost pages would otherwise kill the process (SIGBUS).
func TestShrunkWhileMapped(t *testing.T) {
	vals := make([]float32, 64*1024) // 256 KiB of values: pages past the first
	for i := range vals {
		vals[i] = float32(i)
	}
	p, idp := writeFiles(t, npyBytes("<f4", "(1024, 64)", vals), "")
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i)
	}
	if err := os.WriteFile(idp, []byte(strings.Join(ids, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := OpenNPY(p, idp)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	dst := make([]float32, 64)
	if err := n.Gather([]int32{1023}, dst); err != nil || dst[0] != 1023*64 {
		t.Fatalf("Gather before: %v, %v", dst[0], err)
	}
	if err := os.Truncate(p, 4096); err != nil {
		t.Fatal(err)
	}
	if err := n.Gather([]int32{1023}, dst); err == nil || !strings.Contains(err.Error(), "shrank") {
		t.Fatalf("Gather after the file shrank: %v, want an error", err)
	}
	if _, _, fault := scan(n.data, 128, 4); fault == nil || !strings.Contains(fault.Error(), "faulted") {
		t.Fatalf("scan after the file shrank: %v, want an error", fault)
	}
}
