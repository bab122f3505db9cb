package server

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoad sends 200 edits from 16 concurrent clients, each waiting for
// its result, to the tiny model behind one worker and a queue of 16: every
// request must succeed. The latencies are logged (go test -v), not
// asserted: this machine's speed is not the test's business. Under the race
// detector it sends 40.
func TestLoad(t *testing.T) {
	cond, _ := tinyBackends(t)
	ts, _ := testServer(t, cond, Config{Workers: 1, Queue: 16})
	p := testImage(t, ts.URL, 2)
	clients, requests := 16, 200
	if raceEnabled {
		requests = 40
	}
	var next atomic.Int32
	lat := make([]time.Duration, requests)
	var failures sync.Map
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= requests || time.Since(start) > 2*time.Minute {
					return
				}
				t0 := time.Now()
				r := postJSON(t, ts.URL+"/api/edit?wait=1", map[string]any{"codes": p.Codes, "redraw": redrawCells(2, 2, 3, 3),
					"n": 4, "seed": i, "class": *p.Label})
				lat[i] = time.Since(t0)
				if r.status != 200 {
					failures.Store(i, string(r.body))
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	n := 0
	failures.Range(func(k, v any) bool {
		if n++; n <= 3 {
			t.Errorf("request %v: %v", k, v)
		}
		return true
	})
	if n > 0 || int(next.Load()) < requests {
		t.Fatalf("%d of %d requests failed; %d sent", n, requests, min(int(next.Load()), requests))
	}
	slices.Sort(lat)
	t.Logf("%d edits (2x2 cells, 4 gibbs variants) from %d clients in %.2fs: %.1f/s, latency p50 %.0f ms, p95 %.0f ms, max %.0f ms",
		requests, clients, wall.Seconds(), float64(requests)/wall.Seconds(), ms(lat[requests/2]), ms(lat[requests*95/100]), ms(lat[requests-1]))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TestLoadBeyondQueue: with one worker and a queue of 16, 20 clients at
// once: 17 are admitted and finish, the other 3 get 503 with Retry-After.
func TestLoadBeyondQueue(t *testing.T) {
	cond, _ := tinyBackends(t)
	g := newGated(cond)
	ts, _ := testServer(t, g, Config{Workers: 1, Queue: 16})
	type result struct {
		status int
		retry  string
	}
	results := make(chan result, 20)
	for range 20 {
		go func() {
			r := postJSON(t, ts.URL+"/api/sample?wait=1", map[string]any{"n": 1})
			results <- result{r.status, r.header.Get("Retry-After")}
		}()
	}
	var busy []result
	for range 3 { // the refusals come at once; the others wait on the gate
		select {
		case r := <-results:
			busy = append(busy, r)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d answers before the gate opened", len(busy))
		}
	}
	close(g.release)
	ok := 0
	for range 17 {
		if r := <-results; r.status == 200 {
			ok++
		} else {
			t.Errorf("admitted request: %d", r.status)
		}
	}
	for _, r := range busy {
		if r.status != 503 || r.retry == "" {
			t.Errorf("beyond the queue: %d, Retry-After %q", r.status, r.retry)
		}
	}
	if ok != 17 {
		t.Errorf("%d of 17 admitted requests succeeded", ok)
	}
}
