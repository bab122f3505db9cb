package prior

import (
	"sync"

	"github.com/vqgen/vqgen/nn"
)

// stepTask is one chunk of grids for a pool worker.
type stepTask struct {
	s  *pcStepper
	ch int
	wg *sync.WaitGroup
}

// stepPool holds long-lived workers for the stepper: nn.ParallelFor starts
// goroutines on every call, which allocates, and a sampling step must not.
// Sending a task value over the channel allocates nothing.
var stepPool struct {
	mu      sync.Mutex
	started int
	tasks   chan stepTask
}

func ensureStepWorkers(n int) {
	stepPool.mu.Lock()
	defer stepPool.mu.Unlock()
	if stepPool.tasks == nil {
		stepPool.tasks = make(chan stepTask, 64)
	}
	for ; stepPool.started < n; stepPool.started++ {
		go func(tasks <-chan stepTask) {
			for t := range tasks {
				t.s.step(t.s.chunks[t.ch])
				t.wg.Done()
			}
		}(stepPool.tasks)
	}
}

// runChunks steps chunks [0, nch) on up to nn.Parallelism() goroutines
// (the caller included). Each chunk is computed the same way whoever runs it.
func (s *pcStepper) runChunks(nch int) {
	w := min(nn.Parallelism(), nch)
	if w <= 1 {
		for i := range nch {
			s.step(s.chunks[i])
		}
		return
	}
	ensureStepWorkers(w - 1)
	s.wg.Add(nch - 1)
	for i := 1; i < nch; i++ {
		stepPool.tasks <- stepTask{s: s, ch: i, wg: &s.wg}
	}
	s.step(s.chunks[0])
	s.wg.Wait()
}
