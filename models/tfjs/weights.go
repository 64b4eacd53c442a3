package tfjs

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// maxWeightElements bounds one weight's element count (1<<31), so that a
// hostile shape cannot request an absurd allocation.
const maxWeightElements = 1 << 31

// DecodeWeights decodes the weights of one manifest group from data, the
// concatenation of the group's shards, in spec order. Quantized weights are
// dequantized to float32; int32 weights are converted to float32. data must
// hold exactly the bytes the specs describe. Errors name the weight and its
// byte offset.
func DecodeWeights(specs []WeightSpec, data []byte) ([]*Tensor, error) {
	var out []*Tensor
	off := 0
	for _, s := range specs {
		n := 1
		for _, d := range s.Shape {
			if d < 0 || (d > 0 && n > maxWeightElements/d) {
				return nil, fmt.Errorf("weight %q at byte %d: bad shape %v: %w", s.Name, off, s.Shape, ErrFormat)
			}
			n *= d
		}
		if s.DType != "float32" && s.DType != "int32" {
			return nil, fmt.Errorf("weight %q at byte %d: dtype %q: %w", s.Name, off, s.DType, ErrUnsupported)
		}
		size := 4
		if q := s.Quantization; q != nil {
			switch q.DType {
			case "uint8":
				size = 1
			case "uint16", "float16":
				size = 2
			default:
				return nil, fmt.Errorf("weight %q at byte %d: quantization dtype %q: %w", s.Name, off, q.DType, ErrUnsupported)
			}
			if q.DType != "float16" && (math.IsNaN(q.Min) || math.IsInf(q.Min, 0) || math.IsNaN(q.Scale) || math.IsInf(q.Scale, 0)) {
				return nil, fmt.Errorf("weight %q at byte %d: quantization min %v scale %v not finite: %w", s.Name, off, q.Min, q.Scale, ErrFormat)
			}
		}
		if n > (len(data)-off)/size {
			return nil, fmt.Errorf("weight %q at byte %d: needs %d bytes, %d left: %w", s.Name, off, n*size, len(data)-off, ErrFormat)
		}
		b := data[off : off+n*size]
		t := &Tensor{Name: s.Name, Shape: append([]int(nil), s.Shape...), Data: make([]float32, n)}
		switch {
		case s.Quantization == nil && s.DType == "float32":
			for i := range t.Data {
				t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case s.Quantization == nil:
			for i := range t.Data {
				t.Data[i] = float32(int32(binary.LittleEndian.Uint32(b[4*i:])))
			}
		case s.Quantization.DType == "uint8":
			q := s.Quantization
			for i := range t.Data {
				t.Data[i] = float32(float64(b[i])*q.Scale + q.Min)
			}
		case s.Quantization.DType == "uint16":
			q := s.Quantization
			for i := range t.Data {
				t.Data[i] = float32(float64(binary.LittleEndian.Uint16(b[2*i:]))*q.Scale + q.Min)
			}
		default: // float16
			for i := range t.Data {
				t.Data[i] = halfToFloat(binary.LittleEndian.Uint16(b[2*i:]))
			}
		}
		if s.DType == "int32" && s.Quantization != nil {
			for i, v := range t.Data {
				t.Data[i] = float32(math.Round(float64(v)))
			}
		}
		out = append(out, t)
		off += n * size
	}
	if off != len(data) {
		return nil, fmt.Errorf("%d bytes of weight data after the last weight (byte %d): %w", len(data)-off, off, ErrFormat)
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value = frac * 2^-24.
	f := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}

// decodeBase64 decodes standard base64, with or without padding, ignoring
// white space (line-wrapped bundles).
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	s = strings.TrimRight(s, "=")
	return base64.RawStdEncoding.DecodeString(s)
}
