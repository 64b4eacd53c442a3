package finetune

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/asvp-dev/asvp/internal/frame"
	"github.com/asvp-dev/asvp/models/nn"
)

// File format of Save, version 1, little-endian:
//
//	magic   "asvp-ft\n" (8 bytes)
//	version uint32
//	hdrLen  uint32, then hdrLen bytes of JSON (fileHeader)
//	tail    float32 × (every tail parameter, then every BatchNorm buffer,
//	        in the order and shapes the header lists)
//	head    float64 × (2·Dim + Classes·Dim + Classes): Mean, Std, head W, head b
//	crc     uint32, CRC-32C (Castagnoli) of every byte before it
const (
	fileMagic   = "asvp-ft\n"
	fileVersion = 1
	maxHeader   = 16 << 20
)

// ErrFormat is returned by Load when the input is not a saved Tuned:
// wrong magic, truncated, inconsistent header or bad checksum.
var ErrFormat = errors.New("finetune: not a valid saved fine-tune")

// ErrVersion is returned by Load for a file written by a newer format.
var ErrVersion = errors.New("finetune: unsupported saved fine-tune version")

// ErrMismatch is returned by Load when the file's tail does not fit the
// Pretrained it is loaded onto (other parameters or shapes).
var ErrMismatch = errors.New("finetune: saved fine-tune does not fit the pretrained tail")

type tensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

type fileHeader struct {
	Recipe  Recipe       `json:"recipe"`
	Output  int          `json:"output"`
	Dim     int          `json:"dim"`
	Classes int          `json:"classes"`
	Params  []tensorInfo `json:"params"`
	Buffers []tensorInfo `json:"buffers"`
}

// Save writes the tuned tail and head to w in a versioned, checksummed
// binary format that Load reads back exactly.
func (t *Tuned) Save(w io.Writer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := fileHeader{Recipe: t.Recipe, Output: t.output, Dim: t.Dim(), Classes: t.classes}
	params, buffers := t.net.Params(), t.net.Buffers()
	for _, p := range params {
		h.Params = append(h.Params, tensorInfo{Name: p.Name, Shape: p.Shape})
	}
	for _, b := range buffers {
		h.Buffers = append(h.Buffers, tensorInfo{Name: b.Name, Shape: []int{len(b.Value)}})
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("finetune: encode header: %w", err)
	}
	buf := frame.Start(fileMagic, fileVersion, hdr)
	for _, p := range params {
		buf = appendFloat32s(buf, p.Value)
	}
	for _, b := range buffers {
		buf = appendFloat32s(buf, b.Value)
	}
	for _, v := range t.headTensors() {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(x))
		}
	}
	if _, err := w.Write(frame.Seal(buf)); err != nil {
		return fmt.Errorf("finetune: save: %w", err)
	}
	return nil
}

func appendFloat32s(buf []byte, v []float32) []byte {
	for _, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
	}
	return buf
}

// headTensors lists the float64 values in file order; the slices alias t.
func (t *Tuned) headTensors() [][]float64 {
	return [][]float64{t.Mean, t.Std, t.Head.W.Value, t.Head.B.Value}
}

// Load reads a Tuned written by Save onto the structure of pre (the same
// backbone, cut and BatchNorm insertion that it was trained from).
func Load(r io.Reader, pre *Pretrained) (*Tuned, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("finetune: load: %w", err)
	}
	hdr, p, err := frame.Open(data, fileMagic, fileVersion, maxHeader, ErrFormat, ErrVersion)
	if err != nil {
		return nil, err
	}
	var h fileHeader
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	pre.mu.Lock()
	net := pre.net.Clone()
	pre.mu.Unlock()
	params, buffers := net.Params(), net.Buffers()
	if h.Output != pre.output || h.Dim != pre.Dim() || h.Classes < 2 || h.Classes > 1<<20 ||
		len(h.Params) != len(params) || len(h.Buffers) != len(buffers) {
		return nil, fmt.Errorf("%w: output %d dim %d classes %d, %d params, %d buffers; the tail has output %d dim %d, %d params, %d buffers",
			ErrMismatch, h.Output, h.Dim, h.Classes, len(h.Params), len(h.Buffers), pre.output, pre.Dim(), len(params), len(buffers))
	}
	var dst [][]float32
	for i, q := range params {
		if h.Params[i].Name != q.Name || !slices.Equal(h.Params[i].Shape, q.Shape) {
			return nil, fmt.Errorf("%w: parameter %d is %s %v, the tail has %s %v", ErrMismatch, i, h.Params[i].Name, h.Params[i].Shape, q.Name, q.Shape)
		}
		dst = append(dst, q.Value)
	}
	for i, b := range buffers {
		if h.Buffers[i].Name != b.Name || !slices.Equal(h.Buffers[i].Shape, []int{len(b.Value)}) {
			return nil, fmt.Errorf("%w: buffer %d is %s %v, the tail has %s [%d]", ErrMismatch, i, h.Buffers[i].Name, h.Buffers[i].Shape, b.Name, len(b.Value))
		}
		dst = append(dst, b.Value)
	}
	n32 := 0
	for _, v := range dst {
		n32 += len(v)
	}
	n64 := 2*h.Dim + h.Classes*h.Dim + h.Classes
	if len(p) != 4*n32+8*n64 {
		return nil, fmt.Errorf("%w: %d value bytes, want %d", ErrFormat, len(p), 4*n32+8*n64)
	}
	for _, v := range dst {
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p))
			p = p[4:]
		}
	}
	t := &Tuned{net: net, output: h.Output, classes: h.Classes, Recipe: h.Recipe,
		Mean: make([]float64, h.Dim), Std: make([]float64, h.Dim), Head: nn.NewDense("head", h.Dim, h.Classes)}
	for _, v := range t.headTensors() {
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(p))
			p = p[8:]
		}
	}
	return t, nil
}
