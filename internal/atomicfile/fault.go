package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
)

// Op is a step every output goes through, counted for fault injection.
type Op int

const (
	OpWrite  Op = iota // a write to a pending file or a log
	OpSync             // the fsync before a rename, or of a log on Close
	OpRename           // moving a pending file into place (rename or link)
	numOps
)

var opNames = [numOps]string{"write", "sync", "rename"}

func (o Op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// ErrInjected is the error FailNth injects unless given another.
var ErrInjected = errors.New("injected fault")

// Fault is a failure to inject, for tests: the Nth operation of kind Op
// (1-based, counted from when it is armed) on the outputs it matches fails
// with Err (ErrInjected when nil; a test of a full disk passes
// syscall.ENOSPC). It matches the output Path, or those for which Match
// returns true, or any output when both are unset. The failure is an
// *fs.PathError naming the output's final path, as a real one would be.
type Fault struct {
	Op    Op
	Path  string
	Match func(path string) bool // called with the fault state locked: it must not write outputs
	N     int
	Err   error
}

func (f *Fault) matches(path string) bool {
	switch {
	case f.Path != "":
		return f.Path == path
	case f.Match != nil:
		return f.Match(path)
	}
	return true
}

var faults struct {
	sync.Mutex
	armed [numOps]*Fault
	count [numOps]int // operations of the armed kind on its path so far
	fired string      // the path where the armed fault fired
	watch func(path string)
}

// Inject arms f, replacing any fault armed for the same Op, and returns the
// function that disarms it. For tests only: the state is global, so such
// tests must not run in parallel.
func Inject(f Fault) (disarm func()) {
	if f.Err == nil {
		f.Err = ErrInjected
	}
	faults.Lock()
	faults.armed[f.Op], faults.count[f.Op], faults.fired = &f, 0, ""
	faults.Unlock()
	return func() {
		faults.Lock()
		faults.armed[f.Op], faults.count[f.Op] = nil, 0
		faults.Unlock()
	}
}

// FailNth makes the nth operation of kind op from now on (1-based: n = 1
// is the next one) fail with err (ErrInjected when nil), in every output of
// the process: Inject of a Fault without a Path.
func FailNth(op Op, n int, err error) (disarm func()) {
	return Inject(Fault{Op: op, N: n, Err: err})
}

// Count returns how many operations of kind op (on the armed fault's path,
// if it names one) happened since the fault was armed: a test can run an
// operation once with a fault armed far away to learn how many steps it
// takes, then fail each in turn.
func Count(op Op) int {
	faults.Lock()
	defer faults.Unlock()
	return faults.count[op]
}

// Fired returns the path at which an armed fault fired ("" if none has
// since the last Inject).
func Fired() string {
	faults.Lock()
	defer faults.Unlock()
	return faults.fired
}

// Watch calls fn with an output's path each time the output changes on
// disk: after a pending file is renamed into place and after each append
// to a log. Tests use it to know the last complete version of every file;
// nil stops watching.
func Watch(fn func(path string)) {
	faults.Lock()
	faults.watch = fn
	faults.Unlock()
}

func changed(path string) {
	faults.Lock()
	fn := faults.watch
	faults.Unlock()
	if fn != nil {
		fn(path)
	}
}

// fault counts one operation and returns the injected error when it is the
// armed one.
func fault(op Op, path string) error {
	faults.Lock()
	defer faults.Unlock()
	f := faults.armed[op]
	if f == nil || !f.matches(path) {
		return nil
	}
	faults.count[op]++
	if faults.count[op] != f.N {
		return nil
	}
	faults.fired = path
	return &fs.PathError{Op: op.String(), Path: path, Err: f.Err}
}
