package nn

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelForCoversRangeOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
		seen := make([]int32, n)
		ParallelFor(n, func(w, lo, hi int) {
			if w < 0 || w >= Workers() {
				t.Errorf("worker %d outside [0, %d)", w, Workers())
			}
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("n=%d: item %d visited %d times", n, i, c)
			}
		}
	}
}

// A ParallelFor inside a ParallelFor must not deadlock even when the pool
// has fewer goroutines than the nesting needs.
func TestParallelForNested(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var total atomic.Int64
	ParallelFor(8, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			ParallelFor(10, func(_, lo, hi int) { total.Add(int64(hi - lo)) })
		}
	})
	if total.Load() != 80 {
		t.Fatalf("nested total %d, want 80", total.Load())
	}
}

func TestParallelForAndEnsureDoNotAllocate(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var sink atomic.Int64
	fn := func(_, lo, hi int) { sink.Add(int64(hi - lo)) }
	x := NewTensor(4, 3, 2, 2)
	ParallelFor(64, fn) // warm the pool
	allocs := testing.AllocsPerRun(100, func() {
		ParallelFor(64, fn)
		x = Ensure(x, 2, 3, 2, 2)
	})
	if allocs != 0 {
		t.Fatalf("ParallelFor + Ensure allocate %.1f times per call", allocs)
	}
}

// Many goroutines calling ParallelFor at once claim pool goroutines from
// each other; every call must still cover its range exactly once, also
// across pauses long enough for the pool to park (poolSpin) and be woken.
func TestParallelForConcurrentCallers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 200; it++ {
				n := 1 + (g*31+it*7)%97
				seen := make([]int32, n)
				ParallelFor(n, func(w, lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&seen[i], 1)
					}
				})
				for i, c := range seen {
					if c != 1 {
						errs <- fmt.Sprintf("caller %d call %d: item %d of %d visited %d times", g, it, i, n, c)
						return
					}
				}
				if it%50 == 0 {
					time.Sleep(2 * poolSpin) // let the pool park
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestLanes: every lane runs once, on a goroutine whose worker index is in
// range, with ParallelFor serial inside (a single lane keeps the cores); a
// panic in a lane reaches the
// caller once the lanes are done.
func TestLanes(t *testing.T) {
	prev := runtime.GOMAXPROCS(3)
	defer runtime.GOMAXPROCS(prev)
	for _, n := range []int{1, 2, 3, 10} {
		runs := make([]int32, n)
		var inner atomic.Int32
		Lanes(n, func(worker, lane int) {
			if worker < 0 || worker >= min(n, 3) {
				t.Errorf("n=%d: lane %d on worker %d", n, lane, worker)
			}
			atomic.AddInt32(&runs[lane], 1)
			if n > 1 && Parallelism() != 1 {
				t.Errorf("n=%d: Parallelism() = %d inside lanes, want 1", n, Parallelism())
			}
			ParallelFor(64, func(w, lo, hi int) {
				if w != 0 || lo != 0 || hi != 64 {
					inner.Add(1)
				}
			})
		})
		for l, c := range runs {
			if c != 1 {
				t.Errorf("n=%d: lane %d ran %d times", n, l, c)
			}
		}
		if n > 1 && inner.Load() != 0 {
			t.Errorf("n=%d: ParallelFor inside lanes split its range", n)
		}
	}
	if Parallelism() != 3 {
		t.Errorf("Parallelism() = %d after the lanes, want 3", Parallelism())
	}
	var ran atomic.Int32
	func() {
		defer func() {
			if r := recover(); r != "lane 2" {
				t.Errorf("recovered %v, want the lane's panic", r)
			}
		}()
		Lanes(50, func(_, lane int) {
			ran.Add(1)
			if lane == 2 {
				panic("lane 2")
			}
			time.Sleep(time.Millisecond)
		})
	}()
	if r := ran.Load(); r >= 50 {
		t.Errorf("all %d lanes ran after one panicked", r)
	}
}
