package kernels

import (
	"math/rand/v2"
	"time"
)

// BenchSgemm times C = A*B (no transposes, beta = 0) for an m x k times
// k x n product on threads goroutines (1 = the calling one, as Sgemm) and
// returns the best rate seen, in GFLOP/s (2*m*n*k flops per product). It
// runs for at least minDur after one warm-up call. Taking the best of many
// runs is the usual way to read a machine shared with other work.
func BenchSgemm(m, n, k, threads int, minDur time.Duration) (gflops float64) {
	return BenchSgemmTrans(false, false, m, n, k, threads, minDur)
}

// BenchSgemmTrans is BenchSgemm with op(A) and op(B) transposed as asked.
func BenchSgemmTrans(transA, transB bool, m, n, k, threads int, minDur time.Duration) (gflops float64) {
	r := rand.New(rand.NewPCG(1, 1))
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = r.Float32()
	}
	for i := range b {
		b[i] = r.Float32()
	}
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	call := func() { SgemmThreads(threads, transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, n) }
	call()
	flops := 2 * float64(m) * float64(n) * float64(k)
	best := 0.0
	for start := time.Now(); time.Since(start) < minDur; {
		// Batch calls so that each timing is at least ~1 ms.
		reps := max(1, int(1e6/flops*1e3))
		t0 := time.Now()
		for range reps {
			call()
		}
		best = max(best, flops*float64(reps)/float64(time.Since(t0).Nanoseconds()))
	}
	return best
}

// PeakGFLOPS measures this core's FMA throughput on the active path with a
// loop of independent vector FMAs (no loads), the ceiling a GEMM can reach,
// as the best rate over minDur. It returns 0 on the generic path, which has
// no such loop.
func PeakGFLOPS(minDur time.Duration) float64 {
	const trips = 1 << 16
	if fmaPeak(1) == 0 {
		return 0
	}
	best := 0.0
	for start := time.Now(); time.Since(start) < minDur; {
		t0 := time.Now()
		f := fmaPeak(trips)
		best = max(best, f/float64(time.Since(t0).Nanoseconds()))
	}
	return best
}
