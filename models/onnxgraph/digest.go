package onnxgraph

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"slices"
)

// Digest returns a hex SHA-256 of everything the tail computes with: its
// input, frozen inputs and outputs, every node with its decoded attributes,
// and every weight's dims and values. Two cuts of the same model at the same
// tensors for the same outputs have the same digest; a cut of a model with
// other weights or another structure above the cut has another, so a
// network built from a tail can later check that a model file is the one
// it came from.
func (t *Tail) Digest() string {
	h := sha256.New()
	str := func(s string) {
		writeInt(h, int64(len(s)))
		h.Write([]byte(s))
	}
	strs := func(ss []string) {
		writeInt(h, int64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	ints := func(v []int) {
		writeInt(h, int64(len(v)))
		for _, x := range v {
			writeInt(h, int64(x))
		}
	}
	flt := func(f float32) { writeInt(h, int64(math.Float32bits(f))) }
	boolean := func(b bool) {
		if b {
			writeInt(h, 1)
		} else {
			writeInt(h, 0)
		}
	}
	str("onnxgraph.Tail v1")
	str(t.Input)
	strs(t.Frozen)
	strs(t.Outputs)
	writeInt(h, int64(len(t.Nodes)))
	for _, n := range t.Nodes {
		str(n.Name)
		str(n.Op)
		strs(n.Inputs)
		str(n.Output)
		ints(n.Kernel[:])
		ints(n.Strides[:])
		ints(n.Pads[:])
		writeInt(h, int64(n.Group))
		flt(n.Epsilon)
		flt(n.Min)
		flt(n.Max)
		writeInt(h, int64(n.Axis))
		ints(n.Axes)
		boolean(n.KeepDims)
		flt(n.Alpha)
		flt(n.Beta)
		boolean(n.TransA)
		boolean(n.TransB)
		ints(n.Shape)
	}
	names := make([]string, 0, len(t.Weights))
	for name := range t.Weights {
		names = append(names, name)
	}
	slices.Sort(names)
	writeInt(h, int64(len(names)))
	buf := make([]byte, 0, 4096)
	for _, name := range names {
		w := t.Weights[name]
		str(name)
		ints(w.Dims)
		writeInt(h, int64(len(w.Data)))
		for _, v := range w.Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
		}
		h.Write(buf)
		buf = buf[:0]
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeInt writes v to h as 8 little-endian bytes.
func writeInt(h hash.Hash, v int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	h.Write(b[:])
}
