package nn

import "golang.org/x/sys/cpu"

// haveGemm32Asm reports whether the AVX2/FMA float32 micro-kernel can run
// here.
var haveGemm32Asm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// gemm32KernelAsm is gemm32KernelGo in AVX2/FMA assembly on packed panels
// a (k×6) and b (k×16), writing or adding the 6×16 tile to c with row
// stride ldc.
//
//go:noescape
func gemm32KernelAsm(k int, a, b, c *float32, ldc int, accumulate bool)

// packA32NAsm packs one full row panel of a row-major A (row stride lda)
// as packA32 does: dst[p*6 + r] = src[r*lda + p] for r < 6, p < k. It
// needs AVX2.
//
//go:noescape
func packA32NAsm(src *float32, lda int, dst *float32, k int)

// packA32TAsm packs full row panels of an A stored transposed (row stride
// lda) as packA32Group does: dst[j*k*6 + p*6 + r] = src[p*lda + j*6 + r]
// for j < panels, r < 6, p < k.
//
//go:noescape
func packA32TAsm(src *float32, lda int, dst *float32, k, panels int)
