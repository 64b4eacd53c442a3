package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// IDX element types (the third byte of an IDX file's magic number).
const (
	IDXUint8   byte = 0x08
	IDXInt8    byte = 0x09
	IDXInt16   byte = 0x0B
	IDXInt32   byte = 0x0C
	IDXFloat32 byte = 0x0D
	IDXFloat64 byte = 0x0E
)

// MaxIDXBytes is the largest IDX payload ReadIDX accepts when no limit is given: 4 GiB.
const MaxIDXBytes int64 = 4 << 30

// IDX is the content of one IDX file (the format of the MNIST family): an n-dimensional array of one
// element type, stored big-endian, first dimension slowest.
type IDX struct {
	Type byte   // element type, one of the IDX* constants
	Dims []int  // dimensions; Dims[0] is the number of items
	Data []byte // raw elements, len = product(Dims) x element size
}

// idxElemSize returns the size in bytes of one element of IDX type t, or 0 for an unknown type.
func idxElemSize(t byte) int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// ReadIDX reads one IDX file from r, gunzipping it first when it starts with the gzip magic. It checks
// the magic number, the element type and the dimensions, and that the data is exactly as long as the
// dimensions say: a short or over-long file is an error wrapping ErrBadIDX (ErrTruncated too for a
// short one). Payloads over maxBytes (MaxIDXBytes when maxBytes <= 0) are refused without being read;
// memory grows with the bytes actually present, never with what the header declares.
func ReadIDX(r io.Reader, maxBytes int64) (*IDX, error) {
	x, err := readIDX(r, maxBytes)
	return x, public(err)
}

// readIDX is ReadIDX with errors meant to be wrapped again.
func readIDX(r io.Reader, maxBytes int64) (*IDX, error) {
	if maxBytes <= 0 {
		maxBytes = MaxIDXBytes
	}
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, reason(ErrBadIDX, err, "gzip header: %v", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, reason(ErrBadIDX, err, "reading magic number: %v", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, reason(ErrBadIDX, nil, "magic number % x does not start with 00 00", hdr)
	}
	size := idxElemSize(hdr[2])
	if size == 0 {
		return nil, reason(ErrBadIDX, nil, "unknown element type 0x%02x", hdr[2])
	}
	nd := int(hdr[3])
	if nd == 0 {
		return nil, reason(ErrBadIDX, nil, "zero dimensions")
	}
	dimBytes := make([]byte, 4*nd)
	if _, err := io.ReadFull(br, dimBytes); err != nil {
		return nil, reason(ErrBadIDX, err, "reading %d dimensions: %v", nd, err)
	}
	dims := make([]int, nd)
	total := int64(size)
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d > math.MaxInt32 {
			return nil, reason(ErrBadIDX, nil, "dimension %d is %d", i, d)
		}
		dims[i] = int(d)
		if d != 0 && total > maxBytes/int64(d) {
			return nil, reason(ErrBadIDX, nil, "dimensions %v exceed the %d-byte limit", dims[:i+1], maxBytes)
		}
		total *= int64(d)
	}
	if total > maxBytes {
		return nil, reason(ErrBadIDX, nil, "dimensions %v need %d bytes, over the %d-byte limit", dims, total, maxBytes)
	}
	// Read one byte more than needed to detect trailing data; ReadAll grows with what is there.
	data, err := io.ReadAll(io.LimitReader(br, total+1))
	if err != nil {
		return nil, reason(ErrBadIDX, err, "reading data: %v", err)
	}
	switch {
	case int64(len(data)) < total:
		return nil, &detailError{sentinel: ErrBadIDX, cause: ErrTruncated,
			msg: fmt.Sprintf("%s: dimensions %v need %d data bytes, file has %d", bare(ErrBadIDX), dims, total, len(data))}
	case int64(len(data)) > total:
		return nil, reason(ErrBadIDX, nil, "dimensions %v need %d data bytes, file has more", dims, total)
	}
	return &IDX{Type: hdr[2], Dims: dims, Data: data}, nil
}

// WriteIDX writes x as an uncompressed IDX file. It checks that x.Data matches x.Dims.
func WriteIDX(w io.Writer, x *IDX) error { return public(writeIDX(w, x)) }

func writeIDX(w io.Writer, x *IDX) error {
	size := idxElemSize(x.Type)
	if size == 0 {
		return reason(ErrBadIDX, nil, "unknown element type 0x%02x", x.Type)
	}
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return reason(ErrBadIDX, nil, "%d dimensions", len(x.Dims))
	}
	var b bytes.Buffer
	b.Write([]byte{0, 0, x.Type, byte(len(x.Dims))})
	total := size
	for _, d := range x.Dims {
		if d < 0 || int64(d) > math.MaxInt32 {
			return reason(ErrBadIDX, nil, "dimension %d", d)
		}
		_ = binary.Write(&b, binary.BigEndian, uint32(d))
		total *= d
	}
	if total != len(x.Data) {
		return reason(ErrBadIDX, nil, "dimensions %v need %d bytes, data has %d", x.Dims, total, len(x.Data))
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write IDX: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("write IDX: %w", err)
	}
	return nil
}
