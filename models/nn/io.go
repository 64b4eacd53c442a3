package nn

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/asvp-dev/asvp/internal/frame"
)

// File format of Save, version 1, little-endian:
//
//	magic   "asvp-nn\n" (8 bytes)
//	version uint32
//	hdrLen  uint32, then hdrLen bytes of JSON (fileHeader)
//	values  float64 × (2·Dim + Hidden·Dim + Hidden + Dim·Hidden + Dim + Classes·Dim + Classes):
//	        Mean, Std, W1, b1, W2, b2, head W, head b, each row-major
//	crc     uint32, CRC-32C (Castagnoli) of every byte before it
const (
	fileMagic   = "asvp-nn\n"
	fileVersion = 1
	maxHeader   = 1 << 20
)

// ErrFormat is returned by Load when the input is not a saved Net: wrong
// magic, truncated, inconsistent header or bad checksum.
var ErrFormat = errors.New("nn: not a valid saved network")

// ErrVersion is returned by Load for a file written by a newer format.
var ErrVersion = errors.New("nn: unsupported saved network version")

type fileHeader struct {
	Dim        int    `json:"dim"`
	Hidden     int    `json:"hidden"`
	Classes    int    `json:"classes"`
	Activation string `json:"activation"`
	Recipe     Recipe `json:"recipe"`
}

// Save writes the net's configuration and weights to w in a versioned,
// checksummed binary format that Load reads back exactly.
func (n *Net) Save(w io.Writer) error {
	hdr, err := json.Marshal(fileHeader{Dim: n.Dim, Hidden: n.Hidden, Classes: n.Classes, Activation: "relu", Recipe: n.Recipe})
	if err != nil {
		return fmt.Errorf("nn: encode header: %w", err)
	}
	buf := frame.Start(fileMagic, fileVersion, hdr)
	for _, v := range n.tensors() {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		}
	}
	if _, err := w.Write(frame.Seal(buf)); err != nil {
		return fmt.Errorf("nn: save: %w", err)
	}
	return nil
}

// tensors lists the saved values in file order; the slices alias the net.
func (n *Net) tensors() [][]float64 {
	a := n.Adapter
	return [][]float64{n.Mean, n.Std, a.FC1.W.Value, a.FC1.B.Value, a.FC2.W.Value, a.FC2.B.Value, n.Head.W.Value, n.Head.B.Value}
}

// Load reads a Net written by Save.
func Load(r io.Reader) (*Net, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("nn: load: %w", err)
	}
	hdr, p, err := frame.Open(data, fileMagic, fileVersion, maxHeader, ErrFormat, ErrVersion)
	if err != nil {
		return nil, err
	}
	var h fileHeader
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	if h.Activation != "relu" {
		return nil, fmt.Errorf("%w: unknown activation %q", ErrFormat, h.Activation)
	}
	const maxDim = 1 << 24
	if h.Dim <= 0 || h.Hidden <= 0 || h.Classes <= 0 || h.Dim > maxDim || h.Hidden > maxDim || h.Classes > maxDim {
		return nil, fmt.Errorf("%w: shape dim=%d hidden=%d classes=%d", ErrFormat, h.Dim, h.Hidden, h.Classes)
	}
	// Sizes are bounded by maxDim, so the count fits in an int64.
	d, hd, c := int64(h.Dim), int64(h.Hidden), int64(h.Classes)
	count := 2*d + 2*hd*d + hd + d + c*d + c
	if int64(len(p)) != 8*count {
		return nil, fmt.Errorf("%w: %d weight bytes, want %d", ErrFormat, len(p), 8*count)
	}
	n := NewNet(h.Dim, h.Hidden, h.Classes, 0)
	n.Recipe = h.Recipe
	for _, v := range n.tensors() {
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(p))
			p = p[8:]
		}
	}
	return n, nil
}
