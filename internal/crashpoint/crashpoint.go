// Package crashpoint kills the process at a chosen moment, so that a test
// can check that vqgen survives kill -9 anywhere: each resumed run must end
// with the same results as one that was never interrupted.
//
// It is for tests only. The moment is named by the environment variable
//
//	VQGEN_CRASH_AT=STAGE:N
//
// read once, when the process starts. A pipeline announces each of its
// stages with Enter (vqgen run: stage1, encode, prior, sample, edit, eval,
// report) and marks the moments inside a stage with Hit: every progress
// update, and every output file just before it is renamed into place (its
// temporary file complete, the target still the old one). The Nth Hit of
// STAGE sends the process SIGKILL: no deferred function runs, no file is
// closed, exactly as when the machine or the OOM killer stops it.
//
// VQGEN_CRASH_AT=count kills nothing and prints, as each stage ends, the
// number of moments it had ("crashpoint: STAGE N") to standard error, so a
// test can choose moments that exist. Unset, Enter and Hit do nothing
// beyond a check of one variable.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Env is the variable that arms a crash point (tests only).
const Env = "VQGEN_CRASH_AT"

type mode int

const (
	off mode = iota
	kill
	count
)

var armed = parse(os.Getenv(Env))

type spec struct {
	mode  mode
	stage string
	n     int
}

func parse(s string) spec {
	if s == "" {
		return spec{}
	}
	if s == "count" {
		return spec{mode: count}
	}
	stage, num, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(num)
	if !ok || stage == "" || err != nil || n < 1 {
		// A test that misspells the variable must not pass because
		// nothing was killed.
		fmt.Fprintf(os.Stderr, "%s=%q: want STAGE:N with N >= 1, or count\n", Env, s)
		os.Exit(2)
	}
	return spec{mode: kill, stage: stage, n: n}
}

var state struct {
	sync.Mutex
	stage string
	hits  int
}

// Enter starts the moments of stage; Enter("") ends the last stage.
func Enter(stage string) {
	if armed.mode == off {
		return
	}
	state.Lock()
	defer state.Unlock()
	if armed.mode == count && state.stage != "" {
		fmt.Fprintf(os.Stderr, "crashpoint: %s %d\n", state.stage, state.hits)
	}
	state.stage, state.hits = stage, 0
}

// Hit marks one moment of the current stage, and kills the process if it
// is the armed one.
func Hit() {
	if armed.mode == off {
		return
	}
	state.Lock()
	defer state.Unlock()
	state.hits++
	if armed.mode == kill && state.stage == armed.stage && state.hits == armed.n {
		die()
	}
}

// die sends SIGKILL to this process (os.Process.Kill is SIGKILL on Unix)
// and waits for it to arrive; sleeping, not blocking forever, so that the
// runtime's deadlock check cannot end the process some other way first.
func die() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Kill()
	}
	for {
		time.Sleep(time.Hour)
	}
}
