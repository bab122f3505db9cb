package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log"
	"sync"
	"time"

	"github.com/vqgen/vqgen/app"
)

// Job states.
const (
	stateQueued    = "queued"
	stateRunning   = "running"
	stateDone      = "done"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

var (
	errQueueFull    = errors.New("the server is busy")
	errShuttingDown = errors.New("the server is shutting down")
	errCancelled    = errors.New("cancelled")
)

// job is one unit of model work: a sample or an edit that clients poll, or
// a short synchronous call (test image, encode, decode) that nobody sees
// by id. It holds one admission slot from submission to its end and one
// worker slot while it runs.
type job struct {
	id, kind string
	ctx      context.Context
	cancel   context.CancelCauseFunc
	finished chan struct{}

	mu             sync.Mutex
	state          string
	done, total    int
	started, ended time.Time
	err            error
	out            any // what run returned, once done
}

type jobFunc func(ctx context.Context, progress app.Progress) (any, error)

// scheduler admits at most workers+queue jobs, runs at most workers at
// once, and keeps the finished ones for polling, the newest first out.
type scheduler struct {
	admit   chan struct{}
	run     chan struct{}
	timeout time.Duration
	keep    int
	log     *log.Logger

	base     context.Context // cancelled to stop every job
	stopAll  context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	closing  bool
	jobs     map[string]*job
	finished []string // ids of finished jobs kept, oldest first
}

// logEnd logs how a kept job ended.
func (s *scheduler) logEnd(j *job) {
	if s.log == nil {
		return
	}
	if j.started.IsZero() {
		s.log.Printf("%s %s %s before it started", j.kind, j.id, j.state)
		return
	}
	s.log.Printf("%s %s %s after %.2fs", j.kind, j.id, j.state, j.ended.Sub(j.started).Seconds())
}

func newScheduler(workers, queue int, timeout time.Duration, keep int) *scheduler {
	s := &scheduler{admit: make(chan struct{}, workers+queue), run: make(chan struct{}, workers),
		timeout: timeout, keep: keep, jobs: map[string]*job{}}
	s.base, s.stopAll = context.WithCancel(context.Background())
	return s
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// submit admits a job and starts it, or returns errQueueFull or
// errShuttingDown. A kept job can be found by id until it ages out.
func (s *scheduler) submit(kind string, kept bool, f jobFunc) (*job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, errShuttingDown
	}
	select {
	case s.admit <- struct{}{}:
	default:
		return nil, errQueueFull
	}
	j := &job{id: newID(), kind: kind, state: stateQueued, finished: make(chan struct{})}
	j.ctx, j.cancel = context.WithCancelCause(s.base)
	if kept {
		s.jobs[j.id] = j
	}
	s.wg.Add(1)
	go s.execute(j, kept, f)
	return j, nil
}

func (s *scheduler) execute(j *job, kept bool, f jobFunc) {
	defer s.wg.Done()
	defer func() { <-s.admit }()
	var out any
	var err error
	select {
	case s.run <- struct{}{}:
		j.mu.Lock()
		j.state, j.started = stateRunning, time.Now()
		j.mu.Unlock()
		ctx, cancel := context.WithTimeoutCause(j.ctx, s.timeout, context.DeadlineExceeded)
		out, err = f(ctx, j)
		cancel()
		<-s.run
	case <-j.ctx.Done():
		err = context.Cause(j.ctx)
	}
	j.mu.Lock()
	j.ended = time.Now()
	switch {
	case err == nil:
		j.state, j.out = stateDone, out
	case errors.Is(err, errCancelled) || errors.Is(err, errShuttingDown) || errors.Is(err, context.Canceled):
		j.state, j.err = stateCancelled, err
	default:
		j.state, j.err = stateFailed, err
	}
	j.mu.Unlock()
	j.cancel(nil)
	close(j.finished)
	if kept {
		s.logEnd(j)
	}
	if kept {
		s.retire(j.id)
	}
}

// retire keeps the newest finished jobs and forgets the rest.
func (s *scheduler) retire(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = append(s.finished, id)
	for len(s.finished) > s.keep {
		delete(s.jobs, s.finished[0])
		s.finished = s.finished[1:]
	}
}

func (s *scheduler) get(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// A job is its operation's app.Progress: clients polling it see the
// current phase's units done and total.

func (j *job) Begin(p app.Phase) {
	j.mu.Lock()
	j.done, j.total = p.Done, p.Total
	j.mu.Unlock()
}

func (j *job) Update(done int, _ ...app.Field) {
	j.mu.Lock()
	j.done = done
	j.mu.Unlock()
}

func (j *job) Note(string) {}
func (j *job) End()        {}

// shutdown refuses new jobs, cancels the queued ones, lets the running
// ones finish for up to grace, then cancels them too and waits for every
// job to end.
func (s *scheduler) shutdown(grace time.Duration) {
	s.mu.Lock()
	s.closing = true
	var queued []*job
	for _, j := range s.jobs {
		j.mu.Lock()
		if j.state == stateQueued {
			queued = append(queued, j)
		}
		j.mu.Unlock()
	}
	s.mu.Unlock()
	for _, j := range queued {
		j.cancel(errShuttingDown)
	}
	idle := make(chan struct{})
	go func() { s.wg.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-time.After(grace):
		s.stopAll()
		<-idle
	}
}
