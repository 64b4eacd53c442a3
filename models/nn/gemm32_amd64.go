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
