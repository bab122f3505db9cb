package sampler

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vqgen/vqgen/nn"
)

// laneBatch returns the chains per batch for n edits on the given number
// of cores, at most batch. Batches run as nn.Lanes, one core each, when
// there are enough of them to keep every core busy to the end: a chain is a
// long run of small steps (one cell at a time), which one core does
// without waiting for another, while sharing each step between the cores
// makes them wait after every layer. With fewer chains than cores, or
// a count that would leave a core idle for a large part of the time (3
// chains on 2 cores), the batch stays whole and the cores share its steps.
// The batch does not change the edits.
func laneBatch(batch, n, cores int) int {
	if cores <= 1 || n < cores || (n%cores != 0 && n < 2*cores) {
		return batch
	}
	return min(batch, (n+cores-1)/cores)
}

// errStopped ends a batch whose edit has stopped early: another batch
// failed, or the caller's progress cancelled the edit.
var errStopped = errors.New("sampler: edit stopped")

// runBatches runs batches [0, nb) of an edit with up to workers states,
// run(worker, b, cells) computing batch b with state worker and calling
// cells(k) after every k cells it draws; a non-nil error from cells (the
// edit stopped) ends the batch with that error. Progress goes to progress
// as cells done out of total.
//
// With several batches and workers the batches run as nn.Lanes, and the
// caller's goroutine only reports progress: the application layer cancels
// an edit by panicking in its progress function, and that panic must reach
// the caller's recover, not a lane's goroutine. A cancelled edit's lanes
// stop at their next cell before the panic goes on.
func runBatches(nb, workers int, run func(worker, b int, cells func(int) error) error, progress Progress, total int) error {
	if nb == 1 || workers <= 1 {
		done := 0
		cells := func(k int) error {
			done += k
			progress.report(done, total)
			return nil
		}
		for b := range nb {
			if err := run(0, b, cells); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		stopped  atomic.Bool
		events   = make(chan int, 256) // cells drawn, one per call of cells
		finished = make(chan struct{})
		errs     = make([]error, nb)
		panicked any
	)
	cells := func(k int) error {
		if stopped.Load() {
			return errStopped
		}
		events <- k
		return nil
	}
	go func() {
		defer close(finished)
		defer func() { panicked = recover() }()
		nn.Lanes(nb, func(worker, b int) {
			if errs[b] = run(worker, b, cells); errs[b] != nil {
				stopped.Store(true)
			}
		})
	}()
	defer func() {
		// Reached by a panic of progress too: the lanes must be done with
		// the caller's buffers before it goes on, and none may be left
		// waiting to report.
		stopped.Store(true)
		for {
			select {
			case <-events:
			case <-finished:
				return
			}
		}
	}()
	// One report per call of cells, as on one core: callers count them.
	done := 0
	report := func(k int) {
		done += k
		progress.report(done, total)
	}
	for running := true; running; {
		select {
		case k := <-events:
			report(k)
		case <-finished:
			for running = false; len(events) > 0; {
				report(<-events)
			}
		}
	}
	if panicked != nil {
		panic(fmt.Sprintf("sampler: edit batch: %v", panicked))
	}
	for _, err := range errs {
		if err != nil && err != errStopped {
			return err
		}
	}
	return nil
}
