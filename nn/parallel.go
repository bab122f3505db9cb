package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is the number of goroutines ParallelFor uses: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }

// ParallelFor splits [0, n) into contiguous ranges and calls fn(worker, lo,
// hi) for each, worker in [0, Workers()), returning when all are done. The
// worker index selects per-goroutine scratch space; one worker may get
// several ranges. Since the split depends on GOMAXPROCS and on timing, fn
// must not reduce across items in a way whose rounding depends on the
// split; use FixedChunks for that.
//
// The ranges are handed out on demand: up to blocksPerWorker per worker,
// each participant taking the next one when it finishes its last. On a
// virtual machine one vCPU is often slower than the other for a while
// (measured here: two concurrent FMA loops at 102 and 161 GFLOP/s), and a
// fixed half-and-half split would leave the fast core waiting at every
// layer.
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
	j := jobs.Get().(*job)
	j.fn, j.n, j.blocks = fn, n, min(n, blocksPerWorker*w)
	j.next.Store(0)
	j.done.Add(w - 1)
	for i := 1; i < w; i++ {
		submit(task{j: j, worker: i})
	}
	j.run(0)
	j.done.Wait()
	j.fn = nil
	jobs.Put(j)
}

// blocksPerWorker is how many ranges ParallelFor cuts per worker: enough
// that a slow core holds up the others by at most about one range, few
// enough that the per-range cost (an atomic add) does not show.
const blocksPerWorker = 4

// job is one ParallelFor call shared by its participants.
type job struct {
	fn        func(worker, lo, hi int)
	n, blocks int
	next      atomic.Int64 // the next block to hand out
	done      sync.WaitGroup
}

// run takes blocks until none are left.
func (j *job) run(worker int) {
	for {
		b := int(j.next.Add(1) - 1)
		if b >= j.blocks {
			return
		}
		j.fn(worker, b*j.n/j.blocks, (b+1)*j.n/j.blocks)
	}
}

type task struct {
	j      *job
	worker int
}

var (
	tasks = make(chan task)
	idle  atomic.Int32 // pool goroutines waiting on tasks, less those reserved
	jobs  = sync.Pool{New: func() any { return new(job) }}
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
		t.j.run(t.worker)
		t.j.done.Done()
		idle.Add(1)
		t = <-tasks
	}
}

// FixedChunks returns the number of chunks of at most size items that cover
// n items. Reductions over a batch compute one partial result per chunk
// (chunk c covers [c*size, min((c+1)*size, n))) in parallel and then add the
// partials in chunk order, so their rounding is independent of GOMAXPROCS.
func FixedChunks(n, size int) int { return (n + size - 1) / size }
