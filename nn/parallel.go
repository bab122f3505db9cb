package nn

import (
	"runtime"
	"sync"
)

// Workers is the number of goroutines ParallelFor uses: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// ParallelFor splits [0, n) into at most Workers() contiguous ranges and calls
// fn(worker, lo, hi) for each in its own goroutine, worker in [0, Workers()).
// The worker index selects per-goroutine scratch space. Since the split
// depends on GOMAXPROCS, fn must not reduce across items in a way whose
// rounding depends on the split; use FixedChunks for that.
func ParallelFor(n int, fn func(worker, lo, hi int)) {
	w := Workers()
	if w > n {
		w = n
	}
	if w <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for i := 1; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		go func(i, lo, hi int) {
			defer wg.Done()
			fn(i, lo, hi)
		}(i, lo, hi)
	}
	fn(0, 0, n/w)
	wg.Wait()
}

// FixedChunks returns the number of chunks of at most size items that cover
// n items. Reductions over a batch compute one partial result per chunk
// (chunk c covers [c*size, min((c+1)*size, n))) in parallel and then add the
// partials in chunk order, so their rounding is independent of GOMAXPROCS.
func FixedChunks(n, size int) int { return (n + size - 1) / size }
