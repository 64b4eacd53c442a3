package nn

import "golang.org/x/sys/cpu"

// haveGemmAsm reports whether the AVX2/FMA micro-kernel can run here.
var haveGemmAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// gemmKernelAsm is gemmKernelGo in AVX2/FMA assembly on packed panels a
// (k×6) and b (k×8), writing or adding the 6×8 tile to c with row stride ldc.
//
//go:noescape
func gemmKernelAsm(k int, a, b, c *float64, ldc int, accumulate bool)
