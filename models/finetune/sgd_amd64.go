package finetune

import "golang.org/x/sys/cpu"

// useSGDAsm selects the AVX2 kernel of sgd32; tests turn it off.
var useSGDAsm = cpu.X86.HasAVX2

// sgd32Asm is sgd32's loop on n elements (a multiple of 8); p holds lr,
// mu, wd.
//
//go:noescape
func sgd32Asm(w, grad, vel *float32, n int, p *[3]float64)
