package tail

import "golang.org/x/sys/cpu"

// useVecAsm selects the AVX2 kernels of vec_amd64.s for float32 slices.
// Tests turn it off to check that the Go loops compute the same bits.
var useVecAsm = cpu.X86.HasAVX2

// The kernels take n elements, a multiple of 8 (of 16 for sum64Asm and
// sqDev64Asm), and compute for them exactly what the Go loops of vec.go
// compute, in the same order, with the same roundings (no fused
// multiply-adds); see the Go function of the same name, less Asm, for
// what each does.

// dwPlaneAsm is dwPlane on the first nb (a multiple of 8) elements of
// every position; n is the distance between positions.
//
//go:noescape
func dwPlaneAsm(y, x *float32, n, nb int, start *int, npos int, offs *int, w *float32, b float32, add bool, ep *[4]float32)

// dwGradsAsm is dwGrads' whole blocks (n a multiple of 8).
//
//go:noescape
func dwGradsAsm(acc, a, b *float32, n int, start *int, taps int, pairs *int)

// sumLanesAsm is sumInto's kernel.
//
//go:noescape
func sumLanesAsm(acc *[sumLanes]float32, x *float32, n int)

// sum64Asm adds float64(x[i]+beta) to acc[i mod 16].
//
//go:noescape
func sum64Asm(acc *[sum64Lanes]float64, x *float32, n int, beta float32)

// sqDev64Asm adds (float64(x[i]+beta)-mu)² to acc[i mod 16].
//
//go:noescape
func sqDev64Asm(acc *[sum64Lanes]float64, x *float32, n int, beta float32, mu float64)

// bnNormAsm: p holds mu, inv, sc, sh, lo, hi, beta (added when hasBeta).
//
//go:noescape
func bnNormAsm(xh, out, x *float32, n int, p *[7]float32, hasBeta bool)

// affineClampAsm: p holds a, b, lo, hi, beta (added when hasBeta).
//
//go:noescape
func affineClampAsm(out, x *float32, n int, p *[5]float32, hasBeta bool)

// bnGradSumsAsm adds the lanes of sg (acc[0:8]) and sgx (acc[8:16]);
// p holds sc, sh, lo, hi.
//
//go:noescape
func bnGradSumsAsm(acc *[2 * vecBlock]float64, dy, xh *float32, n int, p *[4]float32, masked bool)

// bnGradInputAsm: k holds k, mg, mgx; p holds sc, sh, lo, hi.
//
//go:noescape
func bnGradInputAsm(dx, dy, xh *float32, n int, k *[3]float64, p *[4]float32, masked, add bool)
