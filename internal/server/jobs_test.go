package server

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vqgen/vqgen/app"
)

// gated is a backend whose samples run until released or cancelled,
// reporting progress as they wait, so tests control how long jobs take.
type gated struct {
	Backend
	release chan struct{}
	running atomic.Int32
	stopped chan error // what each job's wait ended with
}

func newGated(b Backend) *gated {
	return &gated{Backend: b, release: make(chan struct{}), stopped: make(chan error, 100)}
}

func (g *gated) Sample(ctx context.Context, opt app.SampleOptions, progress app.Progress) (*Result, error) {
	g.running.Add(1)
	defer g.running.Add(-1)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	progress.Begin(app.Phase{Name: "gate", Total: 100})
	for i := 0; ; i++ {
		select {
		case <-g.release:
			g.stopped <- nil
			return g.Backend.Sample(context.Background(), opt, progress)
		case <-ctx.Done():
			g.stopped <- ctx.Err()
			return nil, ctx.Err()
		case <-tick.C:
			progress.Update(i % 100)
		}
	}
}

func submitSample(t *testing.T, url string) (jobJSON, resp) {
	t.Helper()
	r := postJSON(t, url+"/api/sample", map[string]any{"n": 1})
	var j jobJSON
	if r.status == 202 {
		r.json(t, &j)
	}
	return j, r
}

func waitState(t *testing.T, url, id, state string) jobJSON {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var j jobJSON
		get(t, url+"/api/jobs/"+id).json(t, &j)
		if j.State == state {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %s, want %s", id, j.State, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestQueueFullAndCancel: with one worker and a queue of two, a fourth job
// gets 503 with Retry-After; cancelling the running job frees its worker
// for the next one at once; a queued job can be cancelled too.
func TestQueueFullAndCancel(t *testing.T) {
	cond, _ := tinyBackends(t)
	g := newGated(cond)
	ts, _ := testServer(t, g, Config{Workers: 1, Queue: 2})
	a, _ := submitSample(t, ts.URL)
	waitState(t, ts.URL, a.ID, stateRunning)
	b, _ := submitSample(t, ts.URL)
	c, _ := submitSample(t, ts.URL)
	if b.State != stateQueued || c.State != stateQueued {
		t.Fatalf("b %s, c %s: want queued", b.State, c.State)
	}
	_, r := submitSample(t, ts.URL)
	if e := r.apiErr(t); r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("beyond the queue: %d %+v Retry-After %q", r.status, e, r.header.Get("Retry-After"))
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if j := waitState(t, ts.URL, a.ID, stateRunning); j.Total == 100 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("running job reports progress %d/%d", j.Done, j.Total)
		}
	}

	r = do(t, "POST", ts.URL+"/api/jobs/"+a.ID+"/cancel", "", nil)
	var ca jobJSON
	r.json(t, &ca)
	if r.status != 200 || ca.State != stateCancelled || ca.Error == nil {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if err := <-g.stopped; err == nil {
		t.Fatal("the cancelled job ran to the end")
	}
	waitState(t, ts.URL, b.ID, stateRunning) // the worker went to the next job
	r = do(t, "POST", ts.URL+"/api/jobs/"+c.ID+"/cancel", "", nil)
	r.json(t, &ca)
	if ca.State != stateCancelled {
		t.Fatalf("cancel queued: %s", r.body)
	}
	if _, r := submitSample(t, ts.URL); r.status != 202 { // c's slot is free
		t.Fatalf("after cancelling: %d %s", r.status, r.body)
	}
	close(g.release)
	if j := waitJob(t, ts.URL, b.ID); j.State != stateDone || len(j.Items) != 1 {
		t.Fatalf("b: %+v", j)
	}
}

func TestJobTimeout(t *testing.T) {
	cond, _ := tinyBackends(t)
	g := newGated(cond)
	ts, _ := testServer(t, g, Config{JobTimeout: 50 * time.Millisecond})
	r := postJSON(t, ts.URL+"/api/sample?wait=1", map[string]any{"n": 1})
	if e := r.apiErr(t); r.status != 504 || e.Job == "" {
		t.Fatalf("%d %+v", r.status, e)
	}
	if j := waitJob(t, ts.URL, r.apiErr(t).Job); j.State != stateFailed || j.Error == nil {
		t.Fatalf("%+v", j)
	}
}

// TestWaitingClientLeaves: a client that stops waiting cancels its job.
func TestWaitingClientLeaves(t *testing.T) {
	cond, _ := tinyBackends(t)
	g := newGated(cond)
	ts, _ := testServer(t, g, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := newJSONRequest(ctx, ts.URL+"/api/sample?wait=1", `{"n": 1}`)
	if _, err := ts.Client().Do(req); err == nil {
		t.Fatal("the request finished")
	}
	select {
	case err := <-g.stopped:
		if err == nil {
			t.Fatal("the job ran to the end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job went on after its client left")
	}
}

// TestShutdown: Serve returns nil once its context ends; a running job that
// finishes within the grace period delivers its result, one that does not
// is cancelled; queued jobs are cancelled and new ones refused.
func TestShutdown(t *testing.T) {
	cond, _ := tinyBackends(t)
	for _, finish := range []bool{true, false} {
		g := newGated(cond)
		s := New(g, Config{Workers: 1, Queue: 4, Grace: 300 * time.Millisecond})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ln.Addr().String()
		ctx, stop := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx, ln, ln.Addr().String()) }()

		var wg sync.WaitGroup
		var waited resp
		wg.Add(1)
		go func() { // a client waiting on the running job
			defer wg.Done()
			waited = postJSON(t, url+"/api/sample?wait=1", map[string]any{"n": 1})
		}()
		for g.running.Load() == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		queued, _ := submitSample(t, url)
		stop()
		if finish {
			time.Sleep(50 * time.Millisecond)
			close(g.release)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Serve did not return")
		}
		wg.Wait()
		if finish && waited.status != 200 {
			t.Errorf("finished within the grace: %d %s", waited.status, waited.body)
		}
		if !finish && waited.status != 409 {
			t.Errorf("cancelled after the grace: %d %s", waited.status, waited.body)
		}
		if j := s.sched.get(queued.ID); j == nil || j.state != stateCancelled {
			t.Errorf("queued job: %+v", j)
		}
		if _, err := s.sched.submit("sample", true, nil); err != errShuttingDown {
			t.Errorf("submit after shutdown: %v", err)
		}
	}
}
