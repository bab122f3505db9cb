package kernels

import "sync/atomic"

// Benchmarks report effective GFLOP/s: the multiply-adds our GEMMs actually
// performed, counted here, over wall time. Counting is off by default so
// training does not pay for the shared counter.
var (
	countFLOPs atomic.Bool
	flops      atomic.Uint64
)

// CountFLOPs turns the FLOP counter on or off.
func CountFLOPs(on bool) { countFLOPs.Store(on) }

// FLOPs returns the floating-point operations (2*m*n*k per product) of all
// GEMMs since counting was turned on.
func FLOPs() uint64 { return flops.Load() }

func addFLOPs(m, n, k int) {
	if countFLOPs.Load() {
		flops.Add(2 * uint64(m) * uint64(n) * uint64(k))
	}
}
