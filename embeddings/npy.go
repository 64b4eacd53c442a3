package embeddings

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/zeebo/xxh3"

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
	// Hash is the content hash (see Hash) of the vector file's bytes.
	Hash string
	// IDsHash is the content hash of the IDs file's bytes, "" when the IDs
	// come from the vector file itself (a Parquet column).
	IDsHash string
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

// NPY is a checked, hashed 2-D .npy file (little-endian float32 or float16,
// C order) with its sample IDs, mapped into memory where the system allows
// (read whole otherwise). Its values are read in place, never converted
// as a whole: Matrix and Gather decode what is asked for.
type NPY struct {
	Path    string
	IDsPath string
	DType   string
	Rows    int
	Cols    int
	// IDs holds row i's sample ID in IDs[i].
	IDs []string
	// Hash and IDsHash are the content hashes (see Hash) of the .npy's
	// bytes and of the IDs file's.
	Hash    string
	IDsHash string

	data   []byte // the whole file
	values []byte // data's payload: Rows x Cols values
	unmap  func() error
}

// OpenNPY opens path, a 2-D little-endian float32 or float16 .npy in C
// order, with its sample IDs from idsPath, a text file of one ID per line
// in row order (as `asvp cache export` writes FILE.npy.ids.txt). It hashes
// both files and checks every value and ID on every core, reading each
// byte once; the IDs file is read meanwhile. Errors name the row: a NaN or
// infinite value, an empty or repeated ID, rows without an ID or IDs
// without a row. Close releases the file.
func OpenNPY(path, idsPath string) (n *NPY, err error) {
	type idsResult struct {
		ids  []string
		hash string
		err  error
	}
	idsDone := make(chan idsResult, 1)
	go func() {
		ids, hash, err := ReadIDs(idsPath)
		idsDone <- idsResult{ids, hash, err}
	}()
	n, bad, err := openValues(path)
	r := <-idsDone // the IDs file's problems come first
	if r.err != nil || err != nil {
		if n != nil {
			n.Close()
		}
		return nil, cmp.Or(r.err, err)
	}
	n.IDsPath, n.IDs, n.IDsHash = idsPath, r.ids, r.hash
	switch {
	case len(n.IDs) < n.Rows:
		err = rowErr(path, len(n.IDs)+1, "no ID: %s has %d IDs for %d rows", idsPath, len(n.IDs), n.Rows)
	case len(n.IDs) > n.Rows:
		err = rowErr(idsPath, n.Rows+1, "ID %q has no row: %s has %d rows", n.IDs[n.Rows], path, n.Rows)
	case bad >= 0:
		row, col := bad/n.Cols, bad%n.Cols
		err = rowErr(path, row+1, "id %q: value %d (0-based column) is %v", n.IDs[row], col, n.value(bad))
	}
	if err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// openValues maps (or reads) path, parses its header and hashes and
// checks its values, returning the index of the first non-finite value
// (-1 when there is none). It returns the NPY when only a value is bad, so
// that the caller can name its row.
func openValues(path string) (*NPY, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, -1, fmt.Errorf("embeddings: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, -1, fmt.Errorf("embeddings: %w", err)
	}
	if st.IsDir() {
		return nil, -1, formatErr(path, "is a directory, not a .npy file")
	}
	n := &NPY{Path: path}
	if n.data, n.unmap = mapFile(f, st.Size()); n.data == nil {
		if n.data, err = io.ReadAll(f); err != nil {
			return nil, -1, fmt.Errorf("embeddings: reading %s: %w", path, err)
		}
	}
	h, _, err := readNPYHeader(bytes.NewReader(n.data), path)
	if err != nil {
		n.Close()
		return nil, -1, err
	}
	n.DType, n.Rows, n.Cols = h.dtype, h.rows, h.cols
	want := h.dataOffset + int64(h.rows)*int64(h.cols)*int64(n.size())
	if have := int64(len(n.data)); have != want {
		n.Close()
		return nil, -1, formatErr(path, "shape (%d, %d) of %s needs %d bytes, the file has %d (truncated, or not written by NumPy)",
			h.rows, h.cols, h.dtype, want, have)
	}
	n.values = n.data[h.dataOffset:]
	var bad int
	var fault error
	if n.Hash, bad, fault = scan(n.data, int(h.dataOffset), n.size()); fault != nil {
		n.Close()
		return nil, -1, formatErr(path, "%v", fault)
	}
	return n, bad, nil
}

// scan hashes data (a whole file, see Hash) and finds the first
// non-finite value of its payload, the values of size bytes from offset
// on, chunk by chunk on every core: each chunk is hashed and checked while
// it is in the CPU's cache. It returns the hash and the index of the first
// non-finite value, -1 when there is none.
func scan(data []byte, offset, size int) (hash string, first int, fault error) {
	digests := make([]byte, 16*chunks(len(data)))
	var mu sync.Mutex
	first = -1
	eachChunk(len(data), func(i, lo, hi int) {
		if err := guard(func() { putDigest(digests, i, data[lo:hi]) }); err != nil {
			mu.Lock()
			fault = err
			mu.Unlock()
			return
		}
		// The chunk's values: those that start in it (a value split by a
		// chunk boundary belongs to the chunk it starts in).
		from := max(lo, offset)
		from += (size - (from-offset)%size) % size
		to := min(hi, len(data))
		if to < len(data) {
			to += (size - (to-offset)%size) % size
		}
		if from >= to {
			return
		}
		k := -1
		err := guard(func() { k = nonFinite(data[from:to], size) })
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fault = err
		} else if at := (from-offset)/size + k; k >= 0 && (first < 0 || at < first) {
			first = at
		}
	})
	return finishHash(digests, int64(len(data))), first, fault
}

// guard runs fn, which reads a mapped file, and returns an error where the
// read faulted: the file shrank under the mapping (another process
// rewrote it) or its disk failed. Without it the process would die of
// SIGBUS.
func guard(fn func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading the mapped file faulted (it shrank while it was read, or its disk failed): %v", r)
		}
	}()
	fn()
	return nil
}

// Exponent bits of float32 and float16 values: all ones means NaN or
// infinite.
const (
	exp32 = 0x7f800000
	exp16 = 0x7c00
)

// nonFinite returns the index of the first NaN or infinite value in b,
// values of size 4 (float32) or 2 (float16) bytes, -1 when all are finite.
func nonFinite(b []byte, size int) int {
	const block = 4096 // a multiple of both sizes
	for lo := 0; lo < len(b); lo += block {
		blk := b[lo:min(lo+block, len(b))]
		if allFinite(blk, size) {
			continue
		}
		for i := 0; i+size <= len(blk); i += size {
			if size == 4 && binary.LittleEndian.Uint32(blk[i:])&exp32 == exp32 ||
				size == 2 && binary.LittleEndian.Uint16(blk[i:])&exp16 == exp16 {
				return (lo + i) / size
			}
		}
	}
	return -1
}

// allFinite reports whether every value of b is finite. Where the values
// sit at addresses their size divides (always, for a NumPy file), it tests
// 8-byte words, four at a time and without a branch per value: masking a
// value's exponent and adding one to its lowest bit carries into the
// value's sign bit exactly when the exponent is all ones (NaN or
// infinite), and never into the next value. That runs at 17 GB/s on
// one core here, which is what lets an import keep up with a plain read of
// the file.
func allFinite(b []byte, size int) bool {
	if len(b) == 0 {
		return true
	}
	addr := uintptr(unsafe.Pointer(&b[0]))
	if addr%uintptr(size) != 0 {
		return allFiniteBytes(b, size)
	}
	head := int((8 - addr%8) % 8)
	if head >= len(b) {
		return allFiniteBytes(b, size)
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&b[head])), (len(b)-head)/8)
	tail := b[head+8*len(words):]
	mask, inc, sign := uint64(exp32<<32|exp32), uint64(1<<55|1<<23), uint64(1<<63|1<<31)
	if size == 2 {
		mask, inc, sign = exp16<<48|exp16<<32|exp16<<16|exp16, 1<<58|1<<42|1<<26|1<<10, 1<<63|1<<47|1<<31|1<<15
	}
	var carry uint64
	for ; len(words) >= 4; words = words[4:] {
		carry |= (words[0] & mask) + inc
		carry |= (words[1] & mask) + inc
		carry |= (words[2] & mask) + inc
		carry |= (words[3] & mask) + inc
	}
	for _, x := range words {
		carry |= (x & mask) + inc
	}
	return carry&sign == 0 && allFiniteBytes(b[:head], size) && allFiniteBytes(tail, size)
}

// allFiniteBytes is allFinite one value at a time.
func allFiniteBytes(b []byte, size int) bool {
	for ; len(b) >= 4 && size == 4; b = b[4:] {
		if binary.LittleEndian.Uint32(b)&exp32 == exp32 {
			return false
		}
	}
	for ; len(b) >= 2 && size == 2; b = b[2:] {
		if binary.LittleEndian.Uint16(b)&exp16 == exp16 {
			return false
		}
	}
	return true
}

func (n *NPY) size() int {
	if n.DType == Float16 {
		return 2
	}
	return 4
}

// aliasable reports whether the values can be read as float32 memory in
// place: float32, in this machine's byte order, at an address float32
// may have.
func (n *NPY) aliasable() bool {
	return n.DType == Float32 && hostLittleEndian && len(n.values) > 0 && uintptr(unsafe.Pointer(&n.values[0]))%4 == 0
}

// value returns value k of the matrix (row-major) as float32.
func (n *NPY) value(k int) float32 {
	if n.DType == Float16 {
		return half.ToFloat32(binary.LittleEndian.Uint16(n.values[2*k:]))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(n.values[4*k:]))
}

// row decodes row i into dst, which must hold Cols values. It reads the
// mapped file unguarded: callers go through Gather.
func (n *NPY) row(i int, dst []float32) {
	if n.aliasable() {
		copy(dst[:n.Cols], unsafe.Slice((*float32)(unsafe.Pointer(&n.values[4*i*n.Cols])), n.Cols))
		return
	}
	for j := range dst[:n.Cols] {
		dst[j] = n.value(i*n.Cols + j)
	}
}

// Gather decodes row rows[k] into dst[k*Cols:(k+1)*Cols] for every k. A
// file that shrank since it was opened is an error, not a crash.
func (n *NPY) Gather(rows []int32, dst []float32) error {
	if len(dst) < len(rows)*n.Cols {
		return fmt.Errorf("embeddings: Gather: room for %d values, %d rows of %d asked for", len(dst), len(rows), n.Cols)
	}
	err := guard(func() {
		for k, r := range rows {
			n.row(int(r), dst[k*n.Cols:(k+1)*n.Cols])
		}
	})
	if err != nil {
		return formatErr(n.Path, "%v", err)
	}
	return nil
}

// Matrix returns the vectors in the file's row order. For float32 values
// on a little-endian machine its data is the file's own memory, valid
// until Close; float16 values are widened into new memory.
func (n *NPY) Matrix() *features.Matrix {
	m := &features.Matrix{Rows: n.Rows, Cols: n.Cols, IDs: n.IDs}
	if n.aliasable() {
		m.Data = unsafe.Slice((*float32)(unsafe.Pointer(&n.values[0])), n.Rows*n.Cols)
		return m
	}
	m.Data = make([]float32, n.Rows*n.Cols)
	eachChunk(len(m.Data), func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			m.Data[k] = n.value(k)
		}
	})
	return m
}

// Close releases the file's memory; neither the NPY nor a Matrix that
// aliases it may be used afterwards.
func (n *NPY) Close() error {
	n.data, n.values = nil, nil
	if n.unmap == nil {
		return nil
	}
	unmap := n.unmap
	n.unmap = nil
	if err := unmap(); err != nil {
		return fmt.Errorf("embeddings: unmapping %s: %w", n.Path, err)
	}
	return nil
}

// ReadNPY reads an .npy file and its IDs as OpenNPY does, with the matrix
// in the file's row order. Close the File when done with its matrix.
func ReadNPY(path, idsPath string) (*File, error) {
	n, err := OpenNPY(path, idsPath)
	if err != nil {
		return nil, err
	}
	f := &File{Matrix: n.Matrix(), DType: n.DType, Hash: n.Hash, IDsHash: n.IDsHash}
	if n.aliasable() {
		f.unmap = n.Close // the matrix is the file's memory
	} else if err := n.Close(); err != nil {
		return nil, err
	}
	return f, nil
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
	return unmap()
}

// hostLittleEndian reports whether float32 memory is laid out as a
// little-endian .npy payload (true on amd64 and arm64).
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

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

// ReadIDs reads a text file of sample IDs, one per line, and returns them
// with the file's content hash (see Hash). CRLF line ends and a final
// line break are accepted; an empty line, a repeated ID or an ID longer
// than MaxIDLen bytes is an error naming its line. The IDs share one copy
// of the file's text, so a million IDs cost a few allocations, not a
// million.
func ReadIDs(path string) ([]string, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("embeddings: IDs: %w", err)
	}
	sum := Hash(raw)
	text := string(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))
	ids := make([]string, 0, strings.Count(text, "\n")+1)
	for line := 1; text != ""; line++ {
		id, rest, _ := strings.Cut(text, "\n")
		text = rest
		id = strings.TrimSuffix(id, "\r")
		if err := CheckID(id); err != nil {
			return nil, "", rowErr(path, line, "%v", err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, "", formatErr(path, "no IDs")
	}
	if later, earlier := firstRepeat(ids); later >= 0 {
		return nil, "", rowErr(path, later+1, "id %q repeats line %d", ids[later], earlier+1)
	}
	return ids, sum, nil
}

// firstRepeat returns the index of the first ID of ids that equals an
// earlier one, and the index of that earlier one; -1, -1 when all differ.
//
// A map of a million strings takes longer than reading a 2 GB matrix, most
// of it waiting for memory. Here the IDs' 64-bit hashes are split by their
// top bits into parts small enough for a core's cache, in ID order, and
// each part goes through an open-addressing table of its own.
func firstRepeat(ids []string) (later, earlier int) {
	type entry struct {
		h   uint64
		row int32
	}
	const bits = 10
	var start [1<<bits + 1]int
	hashes := make([]uint64, len(ids))
	for i, id := range ids {
		hashes[i] = xxh3.HashString(id)
		start[hashes[i]>>(64-bits)+1]++
	}
	for p := 1; p < len(start); p++ {
		start[p] += start[p-1]
	}
	parts := make([]entry, len(ids))
	next := start
	for i, h := range hashes {
		p := h >> (64 - bits)
		parts[next[p]] = entry{h, int32(i)}
		next[p]++
	}
	later, earlier = -1, -1
	var table []int32 // index in the part + 1; 0 is an empty slot
	for p := range 1 << bits {
		part := parts[start[p]:start[p+1]]
		size := 8
		for size < 2*len(part) {
			size *= 2
		}
		if cap(table) < size {
			table = make([]int32, size)
		}
		table = table[:size]
		clear(table)
		mask := uint64(size - 1)
	entries:
		for k, e := range part {
			if later >= 0 && int(e.row) >= later {
				break // rows rise within a part: none here comes first
			}
			for i := e.h & mask; ; i = (i + 1) & mask {
				if table[i] == 0 {
					table[i] = int32(k + 1)
					continue entries
				}
				if o := part[table[i]-1]; o.h == e.h && ids[o.row] == ids[e.row] {
					later, earlier = int(e.row), int(o.row)
					break entries
				}
			}
		}
	}
	return later, earlier
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
	case strings.IndexByte(id, '\n') >= 0 || strings.IndexByte(id, '\r') >= 0:
		return fmt.Errorf("ID %q holds a line break", id)
	}
	return nil
}
