// Package frame is the container of asvp's saved networks (models/nn's
// Net, models/finetune's Tuned): a magic string, a little-endian uint32
// format version, the length and bytes of a JSON header, the payload, and
// a CRC-32C of everything before it.
package frame

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Start returns the start of a file: magic, version, header length and
// header. Append the payload, then Seal it.
func Start(magic string, version uint32, header []byte) []byte {
	buf := []byte(magic)
	buf = binary.LittleEndian.AppendUint32(buf, version)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(header)))
	return append(buf, header...)
}

// Seal appends the checksum of buf to it.
func Seal(buf []byte) []byte {
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// Open checks a file's magic, checksum and version and returns its header
// and payload (aliasing data). A damaged or foreign file is an error
// wrapping errFormat; another version one wrapping errVersion: the
// caller's sentinels.
func Open(data []byte, magic string, version, maxHeader uint32, errFormat, errVersion error) (header, payload []byte, err error) {
	if len(data) < len(magic)+12 || string(data[:len(magic)]) != magic {
		return nil, nil, fmt.Errorf("%w: missing magic", errFormat)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, nil, fmt.Errorf("%w: checksum mismatch", errFormat)
	}
	p := body[len(magic):]
	if v := binary.LittleEndian.Uint32(p); v != version {
		return nil, nil, fmt.Errorf("%w: version %d, this build reads %d", errVersion, v, version)
	}
	hlen := binary.LittleEndian.Uint32(p[4:])
	p = p[8:]
	if hlen > maxHeader || int(hlen) > len(p) {
		return nil, nil, fmt.Errorf("%w: header length %d", errFormat, hlen)
	}
	return p[:hlen], p[hlen:], nil
}
