//go:build !amd64

package tail

// useVecAsm is false: there are no assembly kernels for this
// architecture; the Go loops of vec.go compute the same values.
const useVecAsm = false

func dwPlaneAsm(y, x *float32, n, nb int, start *int, npos int, offs *int, w *float32, b float32, add bool, ep *[4]float32) {
	panic("tail: no assembly kernels on this architecture")
}
func dwGradsAsm(acc, a, b *float32, n int, start *int, taps int, pairs *int) {
	panic("tail: no assembly kernels on this architecture")
}
func sumLanesAsm(acc *[sumLanes]float32, x *float32, n int) {
	panic("tail: no assembly kernels on this architecture")
}
func sum64Asm(acc *[sum64Lanes]float64, x *float32, n int, beta float32) {
	panic("tail: no assembly kernels on this architecture")
}
func sqDev64Asm(acc *[sum64Lanes]float64, x *float32, n int, beta float32, mu float64) {
	panic("tail: no assembly kernels on this architecture")
}
func bnNormAsm(xh, out, x *float32, n int, p *[7]float32, hasBeta bool) {
	panic("tail: no assembly kernels on this architecture")
}
func affineClampAsm(out, x *float32, n int, p *[5]float32, hasBeta bool) {
	panic("tail: no assembly kernels on this architecture")
}
func bnGradSumsAsm(acc *[2 * vecBlock]float64, dy, xh *float32, n int, p *[4]float32, masked bool) {
	panic("tail: no assembly kernels on this architecture")
}
func bnGradInputAsm(dx, dy, xh *float32, n int, k *[3]float64, p *[4]float32, masked, add bool) {
	panic("tail: no assembly kernels on this architecture")
}
