package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/asvp-dev/asvp/internal/half"
)

func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randVec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 3)
		}
		return v
	}
	cases := []struct {
		name  string
		dtype byte
		vec   []float32
	}{
		{"f32 dim1", dtypeFloat32, []float32{1.5}},
		{"f32 specials", dtypeFloat32, []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, math.SmallestNonzeroFloat32, -7}},
		{"f32 dim200 varint 2 bytes", dtypeFloat32, randVec(200)},
		{"f32 dim1280", dtypeFloat32, randVec(1280)},
		{"f16 dim3", dtypeFloat16, []float32{1, -2.5, 0.1}},
		{"f16 dim576", dtypeFloat16, randVec(576)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.vec)
			b := encodeRecord(nil, c.dtype, c.vec)
			if !slices.Equal(in, c.vec) {
				t.Fatal("encodeRecord modified its input")
			}
			if len(b) != recordLen(c.dtype, len(c.vec)) {
				t.Fatalf("len %d, recordLen %d", len(b), recordLen(c.dtype, len(c.vec)))
			}
			// Check the layout by hand: format, dtype, uvarint dim, crc, payload.
			if b[0] != recordFormat || b[1] != c.dtype {
				t.Fatalf("header % x", b[:2])
			}
			dim, n := binary.Uvarint(b[2:])
			if int(dim) != len(c.vec) {
				t.Fatalf("dim %d", dim)
			}
			payload := b[2+n+4:]
			if crc := binary.LittleEndian.Uint32(b[2+n:]); crc != crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)) {
				t.Fatal("bad crc")
			}
			if c.dtype == dtypeFloat32 {
				for i, v := range c.vec {
					if got := math.Float32frombits(binary.LittleEndian.Uint32(payload[4*i:])); math.Float32bits(got) != math.Float32bits(v) {
						t.Fatalf("payload[%d] = %v, want %v", i, got, v)
					}
				}
			}
			dt, out, err := decodeRecord(b)
			if err != nil || dt != c.dtype {
				t.Fatalf("decode: %v, dtype %d", err, dt)
			}
			for i, v := range c.vec {
				want := v
				if c.dtype == dtypeFloat16 {
					want = half.ToFloat32(half.FromFloat32(v)) // internal/half is checked against an independent reference
				}
				if math.Float32bits(out[i]) != math.Float32bits(want) {
					t.Fatalf("value %d: got %v, want %v", i, out[i], want)
				}
			}
		})
	}
}

func TestParseRecordRejects(t *testing.T) {
	good := encodeRecord(nil, dtypeFloat32, []float32{1, 2, 3})
	mod := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"bad format", mod(func(b []byte) []byte { b[0] = 9; return b })},
		{"bad dtype", mod(func(b []byte) []byte { b[1] = 7; return b })},
		{"zero dim", mod(func(b []byte) []byte { b[2] = 0; return b })},
		{"unterminated varint", []byte{1, 1, 0x80}},
		{"huge dim", append([]byte{1, 1}, binary.AppendUvarint(nil, 1<<40)...)},
		{"no crc", []byte{1, 1, 3, 0}},
		{"short payload", good[:len(good)-1]},
		{"long payload", append(slices.Clone(good), 0)},
		{"flipped payload bit", mod(func(b []byte) []byte { b[len(b)-1] ^= 0x10; return b })},
		{"flipped crc bit", mod(func(b []byte) []byte { b[3] ^= 1; return b })},
		{"dtype changed f32->f16", mod(func(b []byte) []byte { b[1] = dtypeFloat16; return b })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := decodeRecord(c.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeRecord: got %v, want ErrCorrupt", err)
			}
			if _, err := decodeChecked(c.b, make([]float32, 3)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeChecked: got %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, dtypeFloat32, []float32{1, 2, 3}))
	f.Add(encodeRecord(nil, dtypeFloat16, []float32{0.5, -1}))
	f.Add(encodeRecord(nil, dtypeFloat32, make([]float32, 130)))
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := slices.Clone(b)
		dt, v, err := decodeRecord(b)
		if !bytes.Equal(in, b) {
			t.Fatal("decodeRecord modified its input")
		}
		// decodeChecked, the bulk-read path, must agree on every input.
		dim := 1
		if d, n := binary.Uvarint(b[min(2, len(b)):]); n > 0 && d > 0 && d <= 1<<16 {
			dim = int(d)
		}
		dst := make([]float32, dim)
		r, cerr := decodeChecked(b, dst)
		if !bytes.Equal(in, b) {
			t.Fatal("decodeChecked modified its input")
		}
		// A record of another dimension than dst is left to the caller.
		checked := cerr != nil || r.dim == dim
		if checked && (cerr != nil) != (err != nil) {
			t.Fatalf("decodeRecord: %v; decodeChecked: %v", err, cerr)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if r.dim != len(v) {
			t.Fatalf("decodeChecked of a valid record: dim %d of %d", r.dim, len(v))
		}
		for i := range v {
			if math.Float32bits(dst[i]) != math.Float32bits(v[i]) {
				t.Fatalf("value %d: decodeChecked %v, decodeRecord %v", i, dst[i], v[i])
			}
		}
		for _, x := range v {
			if math.IsNaN(float64(x)) {
				return // NaN payloads need not survive a float16 round trip
			}
		}
		// A valid record re-encodes to itself, unless its dim varint was not minimal.
		again := encodeRecord(nil, dt, v)
		if _, n := binary.Uvarint(b[2:]); n == len(binary.AppendUvarint(nil, uint64(len(v)))) && !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n% x\n% x", b, again)
		}
	})
}
