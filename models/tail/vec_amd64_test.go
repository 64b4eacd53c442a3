package tail

import "golang.org/x/sys/cpu"

// setVecAsm turns the assembly kernels on (where the CPU has them) or off.
func setVecAsm(on bool) { useVecAsm = on && cpu.X86.HasAVX2 }
