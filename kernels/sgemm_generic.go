//go:build noasm || !amd64

package kernels

// fmaPeak has nothing to measure without assembly.
func fmaPeak(n int) float64 { return 0 }
