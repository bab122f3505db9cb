package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is the number of goroutines ParallelFor uses: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// ParallelFor splits [0, n) into at most Workers() contiguous ranges and calls
// fn(worker, lo, hi) for each, worker in [0, Workers()), returning when all
// are done. The worker index selects per-goroutine scratch space. Since the
// split depends on GOMAXPROCS, fn must not reduce across items in a way whose
// rounding depends on the split; use FixedChunks for that.
//
// The ranges run on long-lived pool goroutines, so a warmed-up call
// allocates nothing as long as fn itself was built outside the hot loop.
// Nested calls are safe: when no pool goroutine is idle a new one joins.
func ParallelFor(n int, fn func(worker, lo, hi int)) {
	w := min(Workers(), n)
	if w <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	wg := waitGroups.Get().(*sync.WaitGroup)
	wg.Add(w - 1)
	for i := 1; i < w; i++ {
		submit(task{fn: fn, worker: i, lo: i * n / w, hi: (i + 1) * n / w, done: wg})
	}
	fn(0, 0, n/w)
	wg.Wait()
	waitGroups.Put(wg)
}

type task struct {
	fn             func(worker, lo, hi int)
	worker, lo, hi int
	done           *sync.WaitGroup
}

var (
	tasks      = make(chan task)
	idle       atomic.Int32 // pool goroutines waiting on tasks, less those reserved
	waitGroups = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

// submit hands t to an idle pool goroutine, or starts a new one when none is
// idle (the pool grows to the largest concurrency ever asked for). Reserving
// an idle goroutine before sending guarantees the send finds a receiver.
func submit(t task) {
	if idle.Add(-1) < 0 {
		idle.Add(1)
		go poolWorker(t)
		return
	}
	tasks <- t
}

func poolWorker(t task) {
	for {
		t.fn(t.worker, t.lo, t.hi)
		t.done.Done()
		idle.Add(1)
		t = <-tasks
	}
}

// FixedChunks returns the number of chunks of at most size items that cover
// n items. Reductions over a batch compute one partial result per chunk
// (chunk c covers [c*size, min((c+1)*size, n))) in parallel and then add the
// partials in chunk order, so their rounding is independent of GOMAXPROCS.
func FixedChunks(n, size int) int { return (n + size - 1) / size }
