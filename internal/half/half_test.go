package half

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// halfValue computes a binary16 value from its fields with float64 arithmetic,
// independently of ToFloat32.
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

func TestToFloat32AllValues(t *testing.T) {
	for h := range 1 << 16 {
		got := float64(ToFloat32(uint16(h)))
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
		if back := FromFloat32(float32(got)); back != uint16(h) {
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

func TestFromFloat32Nearest(t *testing.T) {
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
		got, want := FromFloat32(x), nearestHalf(float64(x))
		if got != want {
			t.Fatalf("FromFloat32(%v) = %04x, want %04x", x, got, want)
		}
	}
	if h := FromFloat32(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN became %04x", h)
	}
	if h := FromFloat32(float32(math.Inf(-1))); h != 0xfc00 {
		t.Errorf("-Inf became %04x", h)
	}
}

func TestRoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := FromFloat32(f); got != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f, got)
		}
	}
	tests := []struct {
		in   float32
		want float32
	}{
		{1, 1}, {65504, 65504}, {65520, float32(math.Inf(1))}, {1e-8, 0}, {-3e-8, -5.9604645e-08},
		{1 + 1.0/2048, 1},               // a tie rounds to even (down)
		{1 + 3.0/2048, 1 + 2.0/1024},    // a tie rounds to even (up)
		{0.1, 0.099975586},              // nearest half
		{6.1e-5, 6.1035156e-05 - 6e-08}, // just under the smallest normal
	}
	for _, tc := range tests {
		got := ToFloat32(FromFloat32(tc.in))
		if math.Abs(float64(got-tc.want)) > 1e-9*math.Max(1, math.Abs(float64(tc.want))) && got != tc.want {
			t.Errorf("float16(%g) = %g, want %g", tc.in, got, tc.want)
		}
	}
}
