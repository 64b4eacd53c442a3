//go:build !amd64

package finetune

// useSGDAsm is false: no assembly here.
const useSGDAsm = false

func sgd32Asm(w, grad, vel *float32, n int, p *[3]float64) {
	panic("finetune: no assembly kernel on this architecture")
}
