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

var faults struct {
	sync.Mutex
	count [numOps]int   // operations seen since the fault was set
	nth   [numOps]int   // 0: none armed
	err   [numOps]error // what the nth returns
}

// FailNth makes the nth operation of kind op from now on (1-based: n = 1
// is the next one) fail with err (ErrInjected when nil), in every output of
// the process; the failure is an *fs.PathError naming the file. It returns
// the function that disarms the fault and resets the count. For tests only:
// the counters are global, so such tests must not run in parallel.
func FailNth(op Op, n int, err error) (disarm func()) {
	if err == nil {
		err = ErrInjected
	}
	faults.Lock()
	faults.count[op], faults.nth[op], faults.err[op] = 0, n, err
	faults.Unlock()
	return func() {
		faults.Lock()
		faults.count[op], faults.nth[op], faults.err[op] = 0, 0, nil
		faults.Unlock()
	}
}

// Count returns how many operations of kind op happened since FailNth
// armed it: a test can run an operation once with a fault armed far away
// to learn how many steps it takes, then fail each in turn.
func Count(op Op) int {
	faults.Lock()
	defer faults.Unlock()
	return faults.count[op]
}

// fault counts one operation and returns the injected error when it is the
// armed one.
func fault(op Op, path string) error {
	faults.Lock()
	defer faults.Unlock()
	if faults.nth[op] == 0 {
		return nil
	}
	faults.count[op]++
	if faults.count[op] == faults.nth[op] {
		return &fs.PathError{Op: op.String(), Path: path, Err: faults.err[op]}
	}
	return nil
}
