package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// halfValue computes a binary16 value from its fields with float64 arithmetic,
// independently of halfToFloat32.
func halfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 31:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

func TestHalfToFloat32AllValues(t *testing.T) {
	for h := range 1 << 16 {
		got := float64(halfToFloat32(uint16(h)))
		want := halfValue(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("half %04x: got %v, want NaN", h, got)
			}
			continue
		}
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("half %04x: got %v, want %v", h, got, want)
		}
		if back := float32ToHalf(float32(got)); back != uint16(h) {
			t.Fatalf("half %04x: round trip gave %04x", h, back)
		}
	}
}

// nearestHalf finds the binary16 nearest to x by binary search over all
// finite non-negative halves, ties to the even bit pattern, overflow to infinity
// as IEEE round-to-nearest does (beyond max + half an ulp).
func nearestHalf(x float64) uint16 {
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	const maxHalf = 65504.0
	if x >= maxHalf+16 { // half of the last ulp (32): ties go to even = infinity
		return sign | 0x7c00
	}
	// Non-negative finite halves 0x0000..0x7bff are increasing in value.
	i := sort.Search(0x7c00, func(i int) bool { return halfValue(uint16(i)) >= x })
	if i == 0x7c00 {
		return sign | 0x7bff
	}
	if i == 0 || halfValue(uint16(i)) == x {
		return sign | uint16(i)
	}
	lo, hi := halfValue(uint16(i-1)), halfValue(uint16(i))
	switch {
	case x-lo < hi-x:
		return sign | uint16(i-1)
	case x-lo > hi-x:
		return sign | uint16(i)
	case (i-1)%2 == 0:
		return sign | uint16(i-1)
	}
	return sign | uint16(i)
}

func TestFloat32ToHalfNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float32{0, -0.0, 1, -1, 0.1, 65504, 65519.99, 65520, 70000, 1e-8, 2.98e-8, 5.96e-8, 6.1e-5, 6.0975552e-05, 3.0517578e-05}
	for range 20000 {
		xs = append(xs, math.Float32frombits(rng.Uint32()&0xc7ffffff)) // mostly within and around half range
		xs = append(xs, float32(rng.NormFloat64()))
	}
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			continue
		}
		got, want := float32ToHalf(x), nearestHalf(float64(x))
		if got != want {
			t.Fatalf("float32ToHalf(%v) = %04x, want %04x", x, got, want)
		}
	}
	if h := float32ToHalf(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN became %04x", h)
	}
	if h := float32ToHalf(float32(math.Inf(-1))); h != 0xfc00 {
		t.Errorf("-Inf became %04x", h)
	}
}

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
					want = float32(halfValue(nearestHalf(float64(v))))
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
