//go:build noasm || !amd64

package kernels

// actAsmPaths has no assembly to offer: the generic loops are the only path.
func actAsmPaths() []*actImpl { return nil }
