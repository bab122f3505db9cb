package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// TestWriteFaults fails the outputs of `vqgen run --config tiny` one at a
// time, each as it is first created and again as it is replaced (a write,
// an fsync or a rename, with ENOSPC or EIO), continuing the same run
// folder after each failure. Every failure must stop the run with an
// error naming the file, leave the file's last complete version (or
// nothing) in place and no temporary file behind; the run resumed after
// the last one must finish.
func TestWriteFaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx := context.Background()

	var mu sync.Mutex
	last := map[string][sha256.Size]byte{} // path: its latest complete version
	atomicfile.Watch(func(p string) {
		b, err := os.ReadFile(p)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			last[p] = sha256.Sum256(b)
		}
	})
	defer atomicfile.Watch(nil)

	tested := map[string]bool{} // "new PATH" or "replace PATH"
	ops := []atomicfile.Op{atomicfile.OpWrite, atomicfile.OpSync, atomicfile.OpRename}
	errnos := []error{syscall.ENOSPC, syscall.EIO}
	finished := false
	for i := 0; i < 200 && !finished; i++ {
		op, errno := ops[i%len(ops)], errnos[i/len(ops)%len(errnos)]
		var key string
		disarm := atomicfile.Inject(atomicfile.Fault{Op: op, N: 1, Err: errno, Match: func(p string) bool {
			if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				return false
			}
			k := "new " + p
			if _, err := os.Lstat(p); err == nil {
				k = "replace " + p
			}
			if tested[k] {
				return false
			}
			key = k
			return true
		}})
		_, err := Run(ctx, RunOptions{Config: "tiny", Out: dir}, nil)
		disarm()
		fired := atomicfile.Fired()
		if fired == "" {
			if err != nil {
				t.Fatalf("run %d failed with no fault injected: %v", i+1, err)
			}
			finished = true
			break
		}
		tested[key] = true
		if err == nil {
			t.Errorf("%s (%s %v): the run finished as if the output had been written", key, op, errno)
			continue
		}
		var pe *fs.PathError
		if !errors.Is(err, errno) || !errors.As(err, &pe) || pe.Path != fired || !strings.Contains(err.Error(), fired) {
			t.Errorf("%s (%s %v): error %q does not name the file with the system's error", key, op, errno, err)
		}
		mu.Lock()
		want, had := last[fired]
		mu.Unlock()
		b, rerr := os.ReadFile(fired)
		switch {
		case had && rerr != nil:
			t.Errorf("%s (%s): the previous version is gone: %v", key, op, rerr)
		case had && sha256.Sum256(b) != want:
			t.Errorf("%s (%s): the file is not its previous complete version", key, op)
		case !had && rerr == nil && len(b) > 0:
			t.Errorf("%s (%s): a file that was never complete is there (%d bytes)", key, op, len(b))
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && atomicfile.IsTemp(d.Name()) {
				t.Errorf("%s (%s): temporary file left behind: %s", key, op, p)
			}
			return nil
		})
	}
	if !finished {
		t.Fatal("the run never finished")
	}
	res, err := Run(ctx, RunOptions{Config: "tiny", Out: dir}, nil)
	if err != nil || len(res.Ran) != 0 {
		t.Fatalf("a run after the finished one: ran %v, %v", res, err)
	}

	// Every output the run wrote was failed at least once (a log, made
	// empty before its first record, only ever as it is replaced).
	var untested []string
	mu.Lock()
	for p := range last {
		if !tested["new "+p] && !tested["replace "+p] {
			untested = append(untested, p)
		}
	}
	mu.Unlock()
	sort.Strings(untested)
	if len(untested) > 0 {
		t.Errorf("outputs never failed: %v", untested)
	}
	keys := make([]string, 0, len(tested))
	for k := range tested {
		keys = append(keys, strings.Replace(k, dir+string(filepath.Separator), "", 1))
	}
	sort.Strings(keys)
	t.Logf("%d faults: %s", len(keys), strings.Join(keys, ", "))
}
