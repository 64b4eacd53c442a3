//go:build !amd64

package nn

// haveGemm32Asm is false: there is no assembly float32 micro-kernel for
// this architecture, gemm32KernelGo runs instead.
const haveGemm32Asm = false

func gemm32KernelAsm(k int, a, b, c *float32, ldc int, accumulate bool) {
	panic("nn: no assembly gemm32 kernel on this architecture")
}

func packA32NAsm(src *float32, lda int, dst *float32, k int) {
	panic("nn: no assembly gemm32 packing on this architecture")
}

func packA32TAsm(src *float32, lda int, dst *float32, k, panels int) {
	panic("nn: no assembly gemm32 packing on this architecture")
}
