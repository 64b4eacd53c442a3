package cache

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"unsafe"

	"github.com/asvp-dev/asvp/internal/half"
)

// A stored vector is one record:
//
//	byte 0     format (recordFormat)
//	byte 1     dtype (dtypeFloat32 or dtypeFloat16)
//	uvarint    dim, 1..maxDim
//	4 bytes    CRC-32C (Castagnoli) of the payload, little-endian
//	payload    dim little-endian float32 (4 bytes each) or IEEE 754 binary16 (2 bytes each)
//
// The checksum covers the payload only: the header is validated field by field.
const (
	recordFormat byte = 1

	dtypeFloat32 byte = 1
	dtypeFloat16 byte = 2

	// maxDim bounds the dimension so a corrupt header cannot ask for a huge allocation.
	maxDim = 1 << 24
)

// DType names accepted in SetInfo.DType.
const (
	DTypeFloat32 = "float32"
	DTypeFloat16 = "float16"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hostLittleEndian reports whether float32 memory can be copied as-is into a
// little-endian payload (true on amd64 and arm64).
var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func dtypeCode(name string) (byte, error) {
	switch name {
	case DTypeFloat32, "":
		return dtypeFloat32, nil
	case DTypeFloat16:
		return dtypeFloat16, nil
	}
	return 0, fmt.Errorf("cache: unknown dtype %q (want %q or %q)", name, DTypeFloat32, DTypeFloat16)
}

func dtypeSize(code byte) int {
	if code == dtypeFloat16 {
		return 2
	}
	return 4
}

// recordLen returns the encoded length of a record of the given dtype and dim.
func recordLen(dtype byte, dim int) int {
	var tmp [binary.MaxVarintLen64]byte
	return 2 + binary.PutUvarint(tmp[:], uint64(dim)) + 4 + dim*dtypeSize(dtype)
}

// encodeRecord appends the record of vec, stored as dtype, to dst.
func encodeRecord(dst []byte, dtype byte, vec []float32) []byte {
	if len(vec) == 0 || len(vec) > maxDim {
		panic(fmt.Sprintf("cache: encodeRecord: bad dimension %d", len(vec)))
	}
	dst = append(dst, recordFormat, dtype)
	dst = binary.AppendUvarint(dst, uint64(len(vec)))
	crcAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	start := len(dst)
	switch dtype {
	case dtypeFloat32:
		if hostLittleEndian {
			dst = append(dst, unsafe.Slice((*byte)(unsafe.Pointer(&vec[0])), 4*len(vec))...)
		} else {
			for _, v := range vec {
				dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
			}
		}
	case dtypeFloat16:
		for _, v := range vec {
			dst = binary.LittleEndian.AppendUint16(dst, half.FromFloat32(v))
		}
	default:
		panic(fmt.Sprintf("cache: encodeRecord: bad dtype %d", dtype))
	}
	binary.LittleEndian.PutUint32(dst[crcAt:], crc32.Checksum(dst[start:], castagnoli))
	return dst
}

// record is a parsed, checksum-verified record. payload aliases the input.
type record struct {
	dtype   byte
	dim     int
	payload []byte
}

// parseRecord validates b as a record and returns its parts. The payload
// aliases b, so it is valid only as long as b is.
func parseRecord(b []byte) (record, error) {
	r, sum, err := parseHeader(b)
	if err != nil {
		return record{}, err
	}
	if got := crc32.Checksum(r.payload, castagnoli); got != sum {
		return record{}, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	return r, nil
}

// decodeChecked validates b as a record and, when its dimension is
// len(dst), decodes it into dst; a valid record of another dimension is
// returned undecoded for the caller to report. For float32 on a
// little-endian host it copies first and checksums the copy, which is then
// hot in the CPU cache, so the record's bytes cross the memory bus once. On a
// checksum mismatch dst holds the bad values and the error says so.
func decodeChecked(b []byte, dst []float32) (record, error) {
	r, sum, err := parseHeader(b)
	if err != nil {
		return record{}, err
	}
	if r.dim != len(dst) {
		// A damaged record is reported as such before its dimension is.
		if got := crc32.Checksum(r.payload, castagnoli); got != sum {
			return record{}, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
		}
		return r, nil
	}
	payload := r.payload
	if r.dtype == dtypeFloat32 && hostLittleEndian {
		payload = unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst))
		copy(payload, r.payload)
	}
	if got := crc32.Checksum(payload, castagnoli); got != sum {
		return record{}, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	if r.dtype != dtypeFloat32 || !hostLittleEndian {
		r.decodeInto(dst)
	}
	return r, nil
}

// parseHeader validates b's header and length and returns the record and
// its stored checksum, not yet compared with the payload.
func parseHeader(b []byte) (record, uint32, error) {
	if len(b) < 2 {
		return record{}, 0, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(b))
	}
	if b[0] != recordFormat {
		return record{}, 0, fmt.Errorf("%w: unknown record format %d", ErrCorrupt, b[0])
	}
	dtype := b[1]
	if dtype != dtypeFloat32 && dtype != dtypeFloat16 {
		return record{}, 0, fmt.Errorf("%w: unknown dtype code %d", ErrCorrupt, dtype)
	}
	dim, n := binary.Uvarint(b[2:])
	if n <= 0 {
		return record{}, 0, fmt.Errorf("%w: bad dimension varint", ErrCorrupt)
	}
	if dim == 0 || dim > maxDim {
		return record{}, 0, fmt.Errorf("%w: dimension %d out of range", ErrCorrupt, dim)
	}
	rest := b[2+n:]
	if len(rest) < 4 {
		return record{}, 0, fmt.Errorf("%w: missing checksum", ErrCorrupt)
	}
	sum := binary.LittleEndian.Uint32(rest)
	payload := rest[4:]
	if want := int(dim) * dtypeSize(dtype); len(payload) != want {
		return record{}, 0, fmt.Errorf("%w: payload is %d bytes, want %d for dimension %d", ErrCorrupt, len(payload), want, dim)
	}
	return record{dtype: dtype, dim: int(dim), payload: payload}, sum, nil
}

// decodeInto writes the record's values into dst, which must have length r.dim.
func (r record) decodeInto(dst []float32) {
	if len(dst) != r.dim {
		panic(fmt.Sprintf("cache: decodeInto: dst has %d values, record %d", len(dst), r.dim))
	}
	switch r.dtype {
	case dtypeFloat32:
		if hostLittleEndian {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), r.payload)
			return
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.payload[4*i:]))
		}
	case dtypeFloat16:
		for i := range dst {
			dst[i] = half.ToFloat32(binary.LittleEndian.Uint16(r.payload[2*i:]))
		}
	}
}

// decodeRecord parses b and returns its dtype code and a newly allocated vector.
func decodeRecord(b []byte) (byte, []float32, error) {
	r, err := parseRecord(b)
	if err != nil {
		return 0, nil, err
	}
	v := make([]float32, r.dim)
	r.decodeInto(v)
	return r.dtype, v, nil
}
