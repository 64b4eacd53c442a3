package cache

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/asvp-dev/asvp/features"
)

// Export formats.
const (
	FormatNPY = "npy"
	FormatCSV = "csv"
)

// Export writes every vector of generation gen of s to w in format "npy" or
// "csv" (see ExportMatrix). The npy format carries no IDs: write them with
// WriteIDs (the asvp CLI puts them in FILE.ids.txt), or use ExportMatrix and
// WriteIDs on one ReadMatrix result to read the cache once.
func Export(s *Set, gen int, format string, w io.Writer) error {
	if format != FormatNPY && format != FormatCSV {
		return fmt.Errorf("cache: unknown export format %q (want %q or %q)", format, FormatNPY, FormatCSV)
	}
	m, err := s.ReadMatrix(gen)
	if err != nil {
		return err
	}
	return ExportMatrix(m, format, w)
}

// ExportMatrix writes m to w as:
//
//   - "npy": NumPy format 1.0, dtype '<f4', C order, shape (Rows, Cols);
//     row i is the sample m.IDs[i].
//   - "csv": a header "id,f0,f1,..." then one row per sample, values in the
//     shortest decimal form that reads back as the same float32.
func ExportMatrix(m *features.Matrix, format string, w io.Writer) error {
	switch format {
	case FormatNPY:
		return writeNPY(m, w)
	case FormatCSV:
		return writeCSV(m, w)
	}
	return fmt.Errorf("cache: unknown export format %q (want %q or %q)", format, FormatNPY, FormatCSV)
}

// WriteIDs writes m's IDs to w, one per line in row order. IDs never
// contain line breaks (PutBatch rejects them).
func WriteIDs(m *features.Matrix, w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, id := range m.IDs {
		bw.WriteString(id)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cache: writing IDs: %w", err)
	}
	return nil
}

// NPYHeader returns the magic, version and padded header of a .npy file
// holding a (rows, cols) little-endian float32 array, as Export writes it:
// the row-major values follow it.
func NPYHeader(rows, cols int) []byte {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	// magic(6) + version(2) + length(2) + dict + padding + '\n' is a multiple of 64.
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := make([]byte, 0, total+pad)
	hdr = append(hdr, "\x93NUMPY\x01\x00"...)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(dict)+pad+1))
	hdr = append(hdr, dict...)
	hdr = append(hdr, strings.Repeat(" ", pad)...)
	return append(hdr, '\n')
}

func writeNPY(m *features.Matrix, w io.Writer) error {
	if _, err := w.Write(NPYHeader(m.Rows, m.Cols)); err != nil {
		return fmt.Errorf("cache: writing npy header: %w", err)
	}
	data := m.Data[:m.Rows*m.Cols]
	if len(data) == 0 {
		return nil
	}
	if hostLittleEndian {
		if _, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))); err != nil {
			return fmt.Errorf("cache: writing npy data: %w", err)
		}
		return nil
	}
	bw := bufio.NewWriter(w)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cache: writing npy data: %w", err)
	}
	return nil
}

func writeCSV(m *features.Matrix, w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, m.Cols+1)
	rec[0] = "id"
	for j := range m.Cols {
		rec[j+1] = "f" + strconv.Itoa(j)
	}
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("cache: writing csv: %w", err)
	}
	for i := range m.Rows {
		rec[0] = m.IDs[i]
		for j, v := range m.Row(i) {
			rec[j+1] = strconv.FormatFloat(float64(v), 'g', -1, 32)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("cache: writing csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("cache: writing csv: %w", err)
	}
	return nil
}
