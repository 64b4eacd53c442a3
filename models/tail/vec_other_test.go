//go:build !amd64

package tail

func setVecAsm(bool) {}
