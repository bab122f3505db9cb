package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
// The ranges are handed out on demand, but each worker first takes the
// ranges of its own share (worker w: the w-th of Workers() equal runs of
// them, in order) and only then helps with the others'. Every call over a
// batch thus gives the same images to the same worker as the last one
// did, so a layer tends to find its input in the cache of the core that
// wrote it. (In a microbenchmark of 16 blocks of 16 KB each, handed out
// without this, both cores together spent 14% more time on the blocks
// than one core alone; with every block's data kept on one core, no more.
// A training step did not measurably change with it.) Helping keeps the
// balance when one vCPU slows down (measured here: two concurrent FMA
// loops at 102 and 161 GFLOP/s), which a fixed split would not.
//
// The ranges run on long-lived pool goroutines, so a warmed-up call
// allocates nothing as long as fn itself was built outside the hot loop.
// Nested calls are safe: when no pool goroutine is free a new one joins.
//
// Nobody sleeps between the layers of a step. Waking a core whose thread
// went to sleep costs about 60 µs on this project's virtual machines
// (measured: a pool goroutine parked on a channel started its first range
// 60-67 µs after the call, p10-p90), and a stage-one training step makes 58
// top-level calls, a few ms each, with serial work between them. So the
// caller waits for the others by spinning (yielding to the Go scheduler,
// never to the OS), and a pool goroutine that finishes spins for up to
// poolSpin for the next call before it parks.
func ParallelFor(n int, fn func(worker, lo, hi int)) {
	w := min(Parallelism(), n)
	if w <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	j := jobs.Get().(*job)
	j.fn, j.n, j.blocks = fn, n, min(n, blocksPerWorker*w)
	for len(j.shares) < w {
		j.shares = append(j.shares, share{})
	}
	j.shares = j.shares[:w]
	for i := range j.shares {
		j.shares[i].next.Store(int64(i * j.blocks / w))
		j.shares[i].end = int64((i + 1) * j.blocks / w)
	}
	j.pending.Store(int32(w - 1))
	for i := 1; i < w; i++ {
		submit(j, i)
	}
	j.run(0)
	for spins := 1; j.pending.Load() != 0; spins++ {
		if spins%64 == 0 {
			// Let a goroutine readied onto this P run.
			runtime.Gosched()
		}
	}
	j.fn = nil
	jobs.Put(j)
}

// Parallelism is the number of goroutines a ParallelFor call starting now
// would use at most: Workers(), or 1 while Lanes runs. Callers that choose
// between a serial and a parallel path ask it rather than Workers().
func Parallelism() int {
	if lanesRunning.Load() > 0 {
		return 1
	}
	return Workers()
}

// lanesRunning counts the Lanes calls in progress.
var lanesRunning atomic.Int32

// Lanes runs fn(worker, lane) for every lane in [0, n) on min(n, Workers())
// new goroutines, worker in [0, min(n, Workers())) naming the goroutine
// (for state it reuses from one lane to the next), each taking the next
// lane when done with one; it returns when all are done.
//
// It is for work that comes in independent pieces of similar size, each a
// long chain of small steps (a gibbs chain updates one cell at a time):
// ParallelFor would share every small step between the cores and make
// them wait for each other after it, where lanes keep each core on its own
// piece with no waits at all. While lanes run, every ParallelFor in the
// process runs on its caller's goroutine alone (Parallelism is 1): the
// lanes already occupy the cores, and splitting inside them would only add
// waits. So the pieces' results must not depend on how ParallelFor splits
// them, which ParallelFor's own contract already asks.
//
// A panic in fn stops the lanes from taking new lanes and is raised again
// on the caller's goroutine once the others have finished theirs.
func Lanes(n int, fn func(worker, lane int)) {
	w := min(Workers(), n)
	if w <= 1 {
		for l := range n {
			fn(0, l)
		}
		return
	}
	lanesRunning.Add(1)
	defer lanesRunning.Add(-1)
	var (
		next     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		panicked bool
		value    any
	)
	wg.Add(w)
	for worker := range w {
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					stop.Store(true)
					mu.Lock()
					if !panicked {
						panicked, value = true, r
					}
					mu.Unlock()
				}
			}()
			for !stop.Load() {
				l := int(next.Add(1) - 1)
				if l >= n {
					return
				}
				fn(worker, l)
			}
		}()
	}
	wg.Wait()
	if panicked {
		panic(value)
	}
}

// blocksPerWorker is how many ranges ParallelFor cuts per worker: enough
// that a slow core holds up the others by at most about one range, few
// enough that the per-range cost (an atomic add) does not show. Callers
// whose items are already coarse (a conv's chunks and groups: 8-24 per
// batch) get one item per range up to this many.
const blocksPerWorker = 16

// poolSpin is how long an idle pool goroutine waits for work before it
// parks: above the serial stretches between the calls of a training step
// (with 200 us, 12 of a stage-one step's 58 calls found the worker parked
// and it started 23 us late on average; with 2 ms, 0.5 calls and 2.4 us),
// short enough that an idle program stops using the core almost at once.
const poolSpin = 2 * time.Millisecond

// job is one ParallelFor call shared by its participants.
type job struct {
	fn        func(worker, lo, hi int)
	n, blocks int
	shares    []share      // one per worker
	pending   atomic.Int32 // participants other than the caller still running
}

// share is a worker's run of blocks [next, end), each taken by an atomic
// increment of next; padded so that two workers' counters do not share a
// cache line.
type share struct {
	next atomic.Int64
	end  int64
	_    [48]byte
}

// run takes the blocks of its own share, then those left in the others'.
func (j *job) run(worker int) {
	w := len(j.shares)
	for i := 0; i < w; i++ {
		sh := &j.shares[(worker+i)%w]
		for {
			b := sh.next.Add(1) - 1
			if b >= sh.end {
				break
			}
			j.fn(worker, int(b)*j.n/j.blocks, int(b+1)*j.n/j.blocks)
		}
	}
}

// A pool goroutine is spinning (free, polling), parked (free, asleep on
// wake) or claimed (given a job, or about to be).
const (
	spinning int32 = iota
	parked
	claimed
)

type poolWorker struct {
	state  atomic.Int32
	job    atomic.Pointer[job]
	worker atomic.Int32 // the worker index for job
	wake   chan struct{}
}

var (
	jobs   = sync.Pool{New: func() any { return new(job) }}
	poolMu sync.Mutex                    // serialises growing the pool
	pool   atomic.Pointer[[]*poolWorker] // copied on growth, read freely
)

// submit hands worker index worker of j to a spinning pool goroutine if
// there is one (no wake-up needed), else to a parked one, else to a new
// one (the pool grows to the largest concurrency ever asked for).
func submit(j *job, worker int) {
	if p := pool.Load(); p != nil {
		for _, from := range [...]int32{spinning, parked} {
			for _, pw := range *p {
				if pw.state.CompareAndSwap(from, claimed) {
					pw.give(j, worker, from == parked)
					return
				}
			}
		}
	}
	pw := &poolWorker{wake: make(chan struct{}, 1)}
	pw.state.Store(claimed)
	poolMu.Lock()
	var grown []*poolWorker
	if p := pool.Load(); p != nil {
		grown = append(grown, *p...)
	}
	grown = append(grown, pw)
	pool.Store(&grown)
	poolMu.Unlock()
	pw.give(j, worker, false)
	go pw.loop()
}

// give passes a claimed pool goroutine its job, waking it if it parked.
func (pw *poolWorker) give(j *job, worker int, wake bool) {
	pw.worker.Store(int32(worker))
	pw.job.Store(j)
	if wake {
		pw.wake <- struct{}{}
	}
}

func (pw *poolWorker) loop() {
	for {
		// Claimed: the job is on its way (or here).
		j := pw.job.Swap(nil)
		for i := 1; j == nil; i++ {
			if i%64 == 0 {
				runtime.Gosched()
			}
			j = pw.job.Swap(nil)
		}
		j.run(int(pw.worker.Load()))
		j.pending.Add(-1)
		pw.state.Store(spinning)
		start := time.Now()
		for i := 1; pw.state.Load() == spinning; i++ {
			if i%1024 == 0 && time.Since(start) > poolSpin && pw.state.CompareAndSwap(spinning, parked) {
				<-pw.wake
				break
			}
			if i%64 == 0 {
				// Let a goroutine readied onto this P (the caller, after
				// a channel operation of its own) run.
				runtime.Gosched()
			}
		}
	}
}

// FixedChunks returns the number of chunks of at most size items that cover
// n items. Reductions over a batch compute one partial result per chunk
// (chunk c covers [c*size, min((c+1)*size, n))) in parallel and then add the
// partials in chunk order, so their rounding is independent of GOMAXPROCS.
func FixedChunks(n, size int) int { return (n + size - 1) / size }
