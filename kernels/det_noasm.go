//go:build noasm || !amd64

package kernels

// detAsmPaths has no assembly to offer: the Go twins are the only path.
func detAsmPaths() []*detImpl { return nil }
