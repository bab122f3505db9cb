package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A pending file is named .BASE.tmp-PID-RANDOM beside its target, so that
// the temporary files of a process that died between Create and Commit
// (kill -9, a power cut) can be told from those of one still writing.
func tempPattern(base string) string {
	return "." + base + ".tmp-" + strconv.Itoa(os.Getpid()) + "-*"
}

// tempOwner returns the process id in a pending file's name.
func tempOwner(name string) (pid int, ok bool) {
	if !strings.HasPrefix(name, ".") {
		return 0, false
	}
	i := strings.LastIndex(name, ".tmp-")
	if i < 0 {
		return 0, false
	}
	num, _, ok := strings.Cut(name[i+len(".tmp-"):], "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(num)
	return pid, err == nil && pid > 0
}

// IsTemp reports whether name is a pending file's temporary name.
func IsTemp(name string) bool {
	_, ok := tempOwner(name)
	return ok
}

// RemoveStale deletes the temporary files in dir left by processes that no
// longer run, and returns their names. A resumed run calls it so that a
// crash leaves nothing behind once the work is picked up again; files of
// live processes (this one included) are kept.
func RemoveStale(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range es {
		pid, ok := tempOwner(e.Name())
		if !ok || !e.Type().IsRegular() || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
