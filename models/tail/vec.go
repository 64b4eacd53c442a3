package tail

import "math"

// This file holds the element-wise and reduction loops of the operators,
// written once for both element types. For float32 on amd64 with AVX2 the
// bulk of each slice goes through an assembly kernel (vec_amd64.s) and the
// last len mod 8 (or 16) elements through the Go loop; the Go loops are
// written so that they compute exactly what the kernels compute, in the
// same order, with the same roundings, so that a result never depends on
// which path ran (or on where a slice was cut):
//
//   - every product or sum is rounded to T before it is used (an explicit
//     conversion T(x*y) keeps the compiler from fusing it into an FMA);
//   - a sum over a slice is kept in lanes, element i going to lane i mod L
//     (L = sumLanes for float32 sums, sum64Lanes for float64 ones, 8 for
//     a BatchNorm's gradient sums), and the lanes are added at the end in
//     a fixed order (pairwise for float32, see reduce; one after the other
//     for float64). The assembly kernels take whole blocks, the Go loop
//     the rest, and the lane of every element is the same either way.

const (
	sumLanes   = 32 // lanes of a sum kept in T
	sum64Lanes = 16 // lanes of a sum kept in float64
	vecBlock   = 8  // elements the float32 kernels take at a time
)

// blocked returns n rounded down to whole kernel blocks of size b, or 0
// when the assembly kernels do not run for T.
func blocked[T float](n, b int) int {
	if !useVecAsm {
		return 0
	}
	var z T
	if _, ok := any(z).(float32); !ok {
		return 0
	}
	return n &^ (b - 1)
}

// f32 returns s as a []float32 when T is float32 (nil otherwise).
func f32[T float](s []T) []float32 {
	v, _ := any(s).([]float32)
	return v
}

// clamp is Clip's forward: lo below lo, hi above hi, v otherwise (a NaN
// passes through).
func clamp[T float](v, lo, hi T) T {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// dwPlane computes, for each position p < len(start)-1 of a plane, the
// vector over i < n of the sums of w[j]·x[offs[j]+i] over j in
// [start[p], start[p+1]), in order (each product rounded, then added), and
// stores it plus b in y[p·n+i] (add false; b alone where there are no
// terms) or adds it to y[p·n+i] (add true, b unused). With ep (a, c, lo,
// hi; add false only) it stores clamp(a·v + c, lo, hi) of that value v
// instead: an eval-mode BatchNorm and Clip after the convolution. maxOff
// is at least every offset.
func dwPlane[T float](y, x []T, n int, start, offs []int, w []T, maxOff int, b T, add bool, ep *[4]T) {
	npos := len(start) - 1
	_, _, _ = y[npos*n-1], x[maxOff+n-1], w[len(offs)-1]
	lo := blocked[T](n, vecBlock)
	if lo > 0 {
		var ep32 *[4]float32
		if ep != nil {
			ep32 = &[4]float32{float32(ep[0]), float32(ep[1]), float32(ep[2]), float32(ep[3])}
		}
		dwPlaneAsm(&f32(y)[0], &f32(x)[0], n, lo, &start[0], npos, &offs[0], &f32(w)[0], float32(b), add, ep32)
	}
	for p := range npos {
		j0, j1 := start[p], start[p+1]
		yp := y[p*n : (p+1)*n]
		for i := lo; i < n; i++ {
			if j0 == j1 && add {
				continue
			}
			var v T
			if j0 == j1 {
				v = b
			} else {
				acc := T(w[j0] * x[offs[j0]+i])
				for j := j0 + 1; j < j1; j++ {
					acc += T(w[j] * x[offs[j]+i])
				}
				if add {
					yp[i] += acc
					continue
				}
				v = acc + b
			}
			if ep != nil {
				v = clamp(T(ep[0]*v)+ep[1], ep[2], ep[3])
			}
			yp[i] = v
		}
	}
}

// dwGrads adds, for each tap t < len(start)-1 and i < n, a[pa+i]·b[pb+i]
// (rounded) to acc[t·sumLanes + i mod sumLanes] over the pairs (pa, pb) =
// (pairs[2q], pairs[2q+1]), q in [start[t], start[t+1]): first the whole
// blocks of 8 of every pair, pair after pair, then the rest of every
// pair. maxA and maxB are at least every pa and every pb.
func dwGrads[T float](acc []T, a, b []T, n int, start, pairs []int, maxA, maxB int) {
	taps := len(start) - 1
	_, _, _ = acc[taps*sumLanes-1], a[maxA+n-1], b[maxB+n-1]
	whole := n &^ (vecBlock - 1)
	lo := 0
	if blocked[T](n, vecBlock) > 0 && len(pairs) > 0 {
		dwGradsAsm(&f32(acc)[0], &f32(a)[0], &f32(b)[0], whole, &start[0], taps, &pairs[0])
		lo = whole
	}
	for t := range taps {
		for _, r := range [2][2]int{{lo, whole}, {whole, n}} {
			for q := start[t]; q < start[t+1]; q++ {
				pa, pb := a[pairs[2*q]:pairs[2*q]+n], b[pairs[2*q+1]:pairs[2*q+1]+n]
				for i := r[0]; i < r[1]; i++ {
					acc[t*sumLanes+i%sumLanes] += T(pa[i] * pb[i])
				}
			}
		}
	}
}

// sumInto adds x[i] to acc[i mod sumLanes].
func sumInto[T float](acc *[sumLanes]T, x []T) {
	lo := blocked[T](len(x), vecBlock)
	if lo > 0 {
		sumLanesAsm((*[sumLanes]float32)(f32(acc[:])), &f32(x)[0], lo)
	}
	for i := lo; i < len(x); i++ {
		acc[i%sumLanes] += x[i]
	}
}

// reduce returns the sum of the lanes, added pairwise (lane l and l+16,
// then l and l+8, ...): independent additions, not a chain of 32. It
// overwrites acc.
func reduce[T float](acc *[sumLanes]T) T {
	for w := sumLanes / 2; w >= 1; w /= 2 {
		for l := range w {
			acc[l] += acc[l+w]
		}
	}
	return acc[0]
}

// sum returns the sum of x, in lanes.
func sum[T float](x []T) T {
	var acc [sumLanes]T
	sumInto(&acc, x)
	return reduce(&acc)
}

// sum64 returns the sum of x+beta in float64, in lanes. (beta 0 for none:
// adding +0 turns -0 into +0, which changes no sum started at +0.)
func sum64[T float](x []T, beta T) float64 {
	var acc [sum64Lanes]float64
	lo := blocked[T](len(x), sum64Lanes)
	if lo > 0 {
		sum64Asm(&acc, &f32(x)[0], lo, float32(beta))
	}
	for i := lo; i < len(x); i++ {
		acc[i%sum64Lanes] += float64(x[i] + beta)
	}
	var s float64
	for _, v := range acc {
		s += v
	}
	return s
}

// sqDev64 returns the sum of (x+beta-mu)² in float64, in lanes.
func sqDev64[T float](x []T, beta T, mu float64) float64 {
	var acc [sum64Lanes]float64
	lo := blocked[T](len(x), sum64Lanes)
	if lo > 0 {
		sqDev64Asm(&acc, &f32(x)[0], lo, float32(beta), mu)
	}
	for i := lo; i < len(x); i++ {
		d := float64(x[i]+beta) - mu
		acc[i%sum64Lanes] += float64(d * d)
	}
	var s float64
	for _, v := range acc {
		s += v
	}
	return s
}

// bnIn is the input bias of a BatchNorm: the bias of the convolution
// before it, added by the BatchNorm instead of by the convolution (x is
// then the convolution's output less its bias). The BatchNorm reads
// x + beta, rounded, the value the convolution would have written.
type bnIn[T float] struct {
	beta T
	on   bool
}

func (b bnIn[T]) add(x T) T {
	if b.on {
		return x + b.beta
	}
	return x
}

// bnNorm is a train-mode BatchNorm's forward on one channel, with an
// optional Clip after it (lo, hi: ±Inf for none): with v = x + beta,
// xh = (v-mu)·inv and out = clamp(sc·xh + sh, lo, hi).
func bnNorm[T float](xh, out, x []T, in bnIn[T], mu, inv, sc, sh, lo, hi T) {
	n := len(x)
	xh, out = xh[:n], out[:n]
	i0 := blocked[T](n, vecBlock)
	if i0 > 0 {
		bnNormAsm(&f32(xh)[0], &f32(out)[0], &f32(x)[0], i0, &[7]float32{float32(mu), float32(inv), float32(sc), float32(sh), float32(lo), float32(hi), float32(in.beta)}, in.on)
	}
	for i := i0; i < n; i++ {
		h := T(T(in.add(x[i])-mu) * inv)
		xh[i] = h
		out[i] = clamp(T(sc*h)+sh, lo, hi)
	}
}

// affineClamp sets out = clamp(a·(x + beta) + b, lo, hi): an eval-mode
// BatchNorm and the Clip after it, if any (lo, hi: ±Inf for none).
func affineClamp[T float](out, x []T, in bnIn[T], a, b, lo, hi T) {
	n := len(x)
	out = out[:n]
	i0 := blocked[T](n, vecBlock)
	if i0 > 0 {
		affineClampAsm(&f32(out)[0], &f32(x)[0], i0, &[5]float32{float32(a), float32(b), float32(lo), float32(hi), float32(in.beta)}, in.on)
	}
	for i := i0; i < n; i++ {
		out[i] = clamp(T(a*in.add(x[i]))+b, lo, hi)
	}
}

// bnPass says whether the gradient at a BatchNorm output y = sc·xh + sh
// passes the Clip after it: lo < y < hi (always, when not masked).
func bnPass[T float](xh, sc, sh, lo, hi T, masked bool) bool {
	if !masked {
		return true
	}
	y := T(sc*xh) + sh
	return lo < y && y < hi
}

// bnGradSums returns the sums of g and of g·xh over one channel of a
// train-mode BatchNorm, in float64, where g is dy, zeroed where the Clip
// after the BatchNorm (when masked) stops the gradient.
func bnGradSums[T float](dy, xh []T, sc, sh, lo, hi T, masked bool) (sg, sgx float64) {
	n := len(dy)
	xh = xh[:n]
	var acc [2 * vecBlock]float64 // lanes of sg, then of sgx
	i0 := blocked[T](n, vecBlock)
	if i0 > 0 {
		bnGradSumsAsm(&acc, &f32(dy)[0], &f32(xh)[0], i0, &[4]float32{float32(sc), float32(sh), float32(lo), float32(hi)}, masked)
	}
	for i := i0; i < n; i++ {
		var g float64 // +0 where the gradient does not pass, as in the kernel
		if bnPass(xh[i], sc, sh, lo, hi, masked) {
			g = float64(dy[i])
		}
		acc[i%vecBlock] += g
		acc[vecBlock+i%vecBlock] += float64(g * float64(xh[i]))
	}
	for l := range vecBlock {
		sg += acc[l]
		sgx += acc[vecBlock+l]
	}
	return sg, sgx
}

// bnGradInput sets (or, with add, adds to) dx the input gradient of one
// channel of a train-mode BatchNorm: k·(g - mg - xh·mgx) in float64,
// rounded to T, g as in bnGradSums.
func bnGradInput[T float](dx, dy, xh []T, k, mg, mgx float64, sc, sh, lo, hi T, masked, add bool) {
	n := len(dy)
	dx, xh = dx[:n], xh[:n]
	i0 := blocked[T](n, vecBlock)
	if i0 > 0 {
		bnGradInputAsm(&f32(dx)[0], &f32(dy)[0], &f32(xh)[0], i0, &[3]float64{k, mg, mgx}, &[4]float32{float32(sc), float32(sh), float32(lo), float32(hi)}, masked, add)
	}
	for i := i0; i < n; i++ {
		var g float64
		if bnPass(xh[i], sc, sh, lo, hi, masked) {
			g = float64(dy[i])
		}
		v := T(k * float64(float64(g-mg)-float64(float64(xh[i])*mgx)))
		if add {
			dx[i] += v
		} else {
			dx[i] = v
		}
	}
}

// inf returns +Inf as T.
func inf[T float]() T { return T(math.Inf(1)) }
