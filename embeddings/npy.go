package embeddings

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unsafe"

	"github.com/asvp-dev/asvp/features"
	"github.com/asvp-dev/asvp/internal/half"
)

// DType names of the stored values.
const (
	Float32 = "float32"
	Float16 = "float16"
)

// File is an embedding file read whole.
type File struct {
	// Matrix holds the vectors, row i for Matrix.IDs[i], in the file's row
	// order (float16 values widened to float32).
	Matrix *features.Matrix
	// DType is the type the file stores its values in: Float32 or Float16
	// (Parquet float64 columns are read as Float32).
	DType string
	// SHA256 is the hex SHA-256 of the vector file's bytes, as sha256sum
	// prints it.
	SHA256 string
	// IDsSHA256 is the hex SHA-256 of the IDs file's bytes, "" when the IDs
	// come from the vector file itself (a Parquet column).
	IDsSHA256 string
	// Labels holds row i's label in Labels[i] when a label column was
	// read, else nil. An empty string is an unlabeled row.
	Labels []string

	unmap func() error // set when Matrix.Data maps the file
}

// npyDescr maps the accepted NumPy dtype descriptors to a DType.
var npyDescr = map[string]string{"<f4": Float32, "<f2": Float16}

var (
	reDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	reFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	reShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// npyHeader is what the header of a 2-D .npy file says.
type npyHeader struct {
	dtype      string
	rows, cols int
	dataOffset int64
}

// readNPYHeader parses the header of an .npy file (format 1.0, 2.0 or 3.0).
func readNPYHeader(r io.Reader, name string) (npyHeader, []byte, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return npyHeader{}, nil, formatErr(name, "not a NumPy .npy file (%v)", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return npyHeader{}, nil, formatErr(name, "not a NumPy .npy file (no \\x93NUMPY magic)")
	}
	raw := append([]byte(nil), pre[:8]...)
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyHeader{}, nil, formatErr(name, "truncated .npy header")
		}
		raw = append(raw, b[:]...)
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return npyHeader{}, nil, formatErr(name, "truncated .npy header")
		}
		raw = append(raw, b[:]...)
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > 1<<20 {
			return npyHeader{}, nil, formatErr(name, ".npy header of %d bytes", hlen)
		}
	default:
		return npyHeader{}, nil, formatErr(name, ".npy format version %d.%d (want 1, 2 or 3)", pre[6], pre[7])
	}
	dict := make([]byte, hlen)
	if _, err := io.ReadFull(r, dict); err != nil {
		return npyHeader{}, nil, formatErr(name, "truncated .npy header")
	}
	raw = append(raw, dict...)
	h := npyHeader{dataOffset: int64(len(raw))}
	m := reDescr.FindSubmatch(dict)
	if m == nil {
		return h, nil, formatErr(name, ".npy header without a dtype ('descr'): %q", dict)
	}
	descr := string(m[1])
	if h.dtype = npyDescr[descr]; h.dtype == "" {
		return h, nil, formatErr(name, "dtype %q: want little-endian float32 ('<f4') or float16 ('<f2'); convert with x.astype('<f4')", descr)
	}
	if m := reFortran.FindSubmatch(dict); m == nil || string(m[1]) != "False" {
		return h, nil, formatErr(name, "the array is in Fortran (column-major) order or does not say: save np.ascontiguousarray(x)")
	}
	m = reShape.FindSubmatch(dict)
	if m == nil {
		return h, nil, formatErr(name, ".npy header without a shape: %q", dict)
	}
	var dims []int
	for _, f := range strings.Split(string(m[1]), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return h, nil, formatErr(name, "bad shape (%s)", m[1])
		}
		dims = append(dims, d)
	}
	if len(dims) != 2 {
		return h, nil, formatErr(name, "shape (%s) is %d-D: want a 2-D matrix, one row per sample", m[1], len(dims))
	}
	h.rows, h.cols = dims[0], dims[1]
	if h.rows < 1 || h.cols < 1 {
		return h, nil, formatErr(name, "shape (%d, %d) is empty", h.rows, h.cols)
	}
	if uint64(h.rows)*uint64(h.cols) > math.MaxInt/8 {
		return h, nil, formatErr(name, "shape (%d, %d) is too large", h.rows, h.cols)
	}
	return h, raw, nil
}

// readChunk is the number of bytes read (and hashed, and checked) at a
// time: large enough for one read call to cost nothing, small enough to
// stay in the CPU cache between the read and the check.
const readChunk = 1 << 20

// ReadNPY reads a 2-D little-endian float32 or float16 .npy file in C
// order, with its sample IDs from idsPath, a text file of one ID per line
// in row order (as `asvp cache export` writes FILE.npy.ids.txt). The
// matrix is read straight into its final memory, hashed and checked as it
// comes. Errors name the row: a NaN or infinite value, an empty or
// repeated ID, rows without an ID or IDs without a row.
func ReadNPY(path, idsPath string) (*File, error) {
	ids, idsSum, err := ReadIDs(idsPath)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	hsh := sha256.New()
	h, raw, err := readNPYHeader(f, path)
	if err != nil {
		return nil, err
	}
	hsh.Write(raw)
	size := 4
	if h.dtype == Float16 {
		size = 2
	}
	want := h.dataOffset + int64(h.rows)*int64(h.cols)*int64(size)
	if st.Size() != want {
		return nil, formatErr(path, "shape (%d, %d) of %s needs %d bytes, the file has %d (truncated, or not written by NumPy)",
			h.rows, h.cols, h.dtype, want, st.Size())
	}
	if len(ids) != h.rows {
		if len(ids) < h.rows {
			return nil, rowErr(path, len(ids)+1, "no ID: %s has %d IDs for %d rows", idsPath, len(ids), h.rows)
		}
		return nil, rowErr(idsPath, h.rows+1, "ID %q has no row: %s has %d rows", ids[h.rows], path, h.rows)
	}
	m := &features.Matrix{Rows: h.rows, Cols: h.cols, IDs: ids}
	out := &File{Matrix: m, DType: h.dtype, IDsSHA256: idsSum}
	if h.dtype == Float32 && hostLittleEndian {
		if data, unmap := mapFile(f, st.Size()); data != nil {
			// The matrix is the file's own pages: no copy, and memory the
			// kernel can drop and read back instead of swapping.
			payload := data[h.dataOffset:]
			m.Data = unsafe.Slice((*float32)(unsafe.Pointer(&payload[0])), h.rows*h.cols)
			out.unmap = unmap
			if err := hashAndCheck(payload, path, hsh, m); err != nil {
				out.Close()
				return nil, err
			}
			out.SHA256 = hex.EncodeToString(hsh.Sum(nil))
			return out, nil
		}
	}
	m.Data = make([]float32, h.rows*h.cols)
	if err := readValues(f, path, hsh, h.dtype, m); err != nil {
		return nil, err
	}
	out.SHA256 = hex.EncodeToString(hsh.Sum(nil))
	return out, nil
}

// Close releases the file's memory when its matrix maps the file (a
// float32 .npy on Unix); the matrix must not be used afterwards. It is a
// no-op otherwise.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	unmap := f.unmap
	f.unmap, f.Matrix.Data = nil, nil
	if err := unmap(); err != nil {
		return fmt.Errorf("embeddings: unmapping: %w", err)
	}
	return nil
}

// hashAndCheck hashes payload (m's values, mapped from the file) into hsh
// on one goroutine while checking m's rows on the calling one: the two
// passes share the file's pages and the machine's cores.
func hashAndCheck(payload []byte, name string, hsh hash.Hash, m *features.Matrix) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		hsh.Write(payload)
	}()
	var err error
	for i := range m.Rows {
		if e := checkRow(m.Data[i*m.Cols : (i+1)*m.Cols]); e != nil {
			err = rowErr(name, i+1, "id %q: %v", m.IDs[i], e)
			break
		}
	}
	<-done
	return err
}

// readValues reads m's values from r, stored as dtype, hashing the bytes
// and checking each row as it arrives.
func readValues(r io.Reader, name string, hsh hash.Hash, dtype string, m *features.Matrix) error {
	checked := 0 // rows checked so far
	check := func(upto int) error {
		for ; checked < upto; checked++ {
			if err := checkRow(m.Data[checked*m.Cols : (checked+1)*m.Cols]); err != nil {
				return rowErr(name, checked+1, "id %q: %v", m.IDs[checked], err)
			}
		}
		return nil
	}
	if dtype == Float32 && hostLittleEndian {
		buf := unsafe.Slice((*byte)(unsafe.Pointer(&m.Data[0])), 4*len(m.Data))
		for off := 0; off < len(buf); {
			n, err := io.ReadFull(r, buf[off:min(off+readChunk, len(buf))])
			hsh.Write(buf[off : off+n])
			off += n
			if err != nil {
				return formatErr(name, "reading values: %v", err)
			}
			if err := check(off / (4 * m.Cols)); err != nil {
				return err
			}
		}
		return nil
	}
	size := 4
	if dtype == Float16 {
		size = 2
	}
	buf := make([]byte, readChunk-readChunk%size)
	for at := 0; at < len(m.Data); {
		n, err := io.ReadFull(r, buf[:min(len(buf), size*(len(m.Data)-at))])
		hsh.Write(buf[:n])
		for k := 0; k+size <= n; k += size {
			if size == 2 {
				m.Data[at] = half.ToFloat32(binary.LittleEndian.Uint16(buf[k:]))
			} else {
				m.Data[at] = math.Float32frombits(binary.LittleEndian.Uint32(buf[k:]))
			}
			at++
		}
		if err != nil {
			return formatErr(name, "reading values: %v", err)
		}
		if err := check(at / m.Cols); err != nil {
			return err
		}
	}
	return nil
}

// checkRow returns an error naming the first non-finite value of row.
func checkRow(row []float32) error {
	for j, v := range row {
		// Exponent all ones: NaN or infinite.
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return fmt.Errorf("value %d (0-based column) is %v", j, v)
		}
	}
	return nil
}

// hostLittleEndian reports whether float32 memory is laid out as a
// little-endian .npy payload (true on amd64 and arm64).
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// ReadIDs reads a text file of sample IDs, one per line, and returns them
// with the hex SHA-256 of the file's bytes. CRLF line ends and a final
// line break are accepted; an empty line, a repeated ID or a tab-free ID
// longer than 4,096 bytes is an error naming its line.
func ReadIDs(path string) ([]string, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("embeddings: IDs: %w", err)
	}
	sum := sha256.Sum256(raw)
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	n := bytes.Count(raw, []byte{'\n'}) + 1
	ids := make([]string, 0, n)
	seen := make(map[string]int, n)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		id := strings.TrimSuffix(sc.Text(), "\r")
		if err := CheckID(id); err != nil {
			return nil, "", rowErr(path, line, "%v", err)
		}
		if prev, dup := seen[id]; dup {
			return nil, "", rowErr(path, line, "id %q repeats line %d", id, prev)
		}
		seen[id] = line
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, "", rowErr(path, line+1, "line longer than 64 KiB")
		}
		return nil, "", fmt.Errorf("embeddings: IDs: %s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, "", formatErr(path, "no IDs")
	}
	return ids, hex.EncodeToString(sum[:]), nil
}

// MaxIDLen is the longest sample ID accepted, in bytes (the cache's limit).
const MaxIDLen = 4096

// CheckID returns an error for an ID that a cache cannot store: empty,
// longer than MaxIDLen, or holding a line break.
func CheckID(id string) error {
	switch {
	case id == "":
		return errors.New("empty ID")
	case len(id) > MaxIDLen:
		return fmt.Errorf("ID %.40q... is %d bytes, longer than %d", id, len(id), MaxIDLen)
	case strings.ContainsAny(id, "\r\n"):
		return fmt.Errorf("ID %q holds a line break", id)
	}
	return nil
}
