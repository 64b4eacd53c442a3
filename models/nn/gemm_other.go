//go:build !amd64

package nn

// haveGemmAsm is false: there is no assembly micro-kernel for this
// architecture, gemmKernelGo runs instead.
const haveGemmAsm = false

func gemmKernelAsm(k int, a, b, c *float64, ldc int, accumulate bool) {
	panic("nn: no assembly gemm kernel on this architecture")
}
