package nn

import "sync"

// elemRunner is element-wise work over a flat index range. Results must not
// depend on how the range is split, which holds for element-wise updates.
type elemRunner interface{ run(lo, hi int) }

// elemJob is the per-caller completion counter, kept inside the caller's
// struct so that dispatching allocates nothing.
type elemJob struct{ wg sync.WaitGroup }

type poolTask struct {
	r      elemRunner
	lo, hi int
	wg     *sync.WaitGroup
}

// minElemsPerWorker keeps small updates on one goroutine: below this the
// hand-off costs more than the arithmetic it spreads.
const minElemsPerWorker = 1 << 15

// elemPool is a set of long-lived workers. ParallelFor starts goroutines per
// call, which allocates; an optimizer step must not, so it hands its ranges
// to these workers over a channel instead. The workers are shared by the
// whole process and grow to Workers()-1.
var elemPool struct {
	mu      sync.Mutex
	started int
	tasks   chan poolTask
}

func ensureWorkers(n int) {
	elemPool.mu.Lock()
	defer elemPool.mu.Unlock()
	if elemPool.tasks == nil {
		elemPool.tasks = make(chan poolTask, 64)
	}
	for ; elemPool.started < n; elemPool.started++ {
		go func(tasks <-chan poolTask) {
			for t := range tasks {
				t.r.run(t.lo, t.hi)
				t.wg.Done()
			}
		}(elemPool.tasks)
	}
}

// runElems calls r.run over [0, n) split into contiguous ranges, on up to
// Workers() goroutines, and returns when all are done.
func runElems(n int, job *elemJob, r elemRunner) {
	w := min(Workers(), n/minElemsPerWorker)
	if w <= 1 {
		if n > 0 {
			r.run(0, n)
		}
		return
	}
	elemPool.mu.Lock()
	enough := elemPool.started >= w-1
	elemPool.mu.Unlock()
	if !enough {
		ensureWorkers(w - 1)
	}
	job.wg.Add(w - 1)
	for i := 1; i < w; i++ {
		elemPool.tasks <- poolTask{r, i * n / w, (i + 1) * n / w, &job.wg}
	}
	r.run(0, n/w)
	job.wg.Wait()
}
