// Package rundir is the output-directory policy of the training commands: a
// run writes into a directory of its own, an existing run is never mixed up
// with a new one by accident, and starting over deletes only what a vqgen run
// put there.
//
// Prepare creates the directory and drops a marker file in it. A directory
// that already holds files is refused unless the user says what to do: resume
// (continue from its checkpoint) or force (delete its contents and start
// over). Force only deletes inside a directory carrying the marker, so a
// mistyped --out pointing at a home or source directory cannot wipe it.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// Mode says what to do with a directory that already holds files.
type Mode int

const (
	Fresh  Mode = iota // refuse a non-empty directory
	Resume             // keep its contents; the command continues the run
	Force              // delete its contents and start over
)

func (m Mode) String() string {
	switch m {
	case Fresh:
		return "fresh"
	case Resume:
		return "resume"
	case Force:
		return "force"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Marker is the file that identifies a directory as a vqgen run directory.
const Marker = ".vqgen-run"

// Errors Prepare returns, worded without any front end's vocabulary: the
// command line adds which flag resumes or starts over.
var (
	// ErrNotEmpty: the directory holds files and the mode is Fresh; the
	// caller may resume the run in it or start over (Force).
	ErrNotEmpty = errors.New("output directory is not empty")
	// ErrNotRunDir: Force was asked for a directory without the marker,
	// which vqgen did not make; it is left alone.
	ErrNotRunDir = errors.New("not a vqgen run directory")
)

// Prepare makes dir ready for a run in the given mode. On success dir exists
// and carries the marker; in Resume mode its other contents are untouched
// but for the temporary files of writers that died (atomicfile.RemoveStale),
// in the other modes it holds nothing else.
func Prepare(dir string, mode Mode) error {
	if dir == "" {
		return errors.New("output directory: empty path")
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return writeMarker(dir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("output directory %s exists and is not a directory", dir)
	}
	names, err := contents(dir)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return writeMarker(dir)
	}
	switch mode {
	case Resume:
		// Temporary files of a run that was killed mid-write are
		// litter, never results; cleaning up is best effort.
		atomicfile.RemoveStale(dir)
		return writeMarker(dir)
	case Force:
		if err := clearDir(dir, names); err != nil {
			return err
		}
		return writeMarker(dir)
	case Fresh:
		return fmt.Errorf("%w: %s holds %s", ErrNotEmpty, dir, listNames(names))
	}
	return fmt.Errorf("rundir: unknown mode %v", mode)
}

// contents lists dir's entries other than the marker.
func contents(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range es {
		if e.Name() != Marker {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func listNames(names []string) string {
	const show = 3
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// clearDir deletes names (entries of dir) after checking that dir is a run
// directory and no place whose loss would be a disaster.
func clearDir(dir string, names []string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := notPrecious(abs); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(dir, Marker)); err != nil {
		return fmt.Errorf("%w: %s has no %s file, so it is left alone", ErrNotRunDir, dir, Marker)
	}
	for _, n := range names {
		// Entries come from ReadDir, so each path is directly inside dir;
		// RemoveAll deletes a symlink itself, not what it points to.
		p := filepath.Join(abs, n)
		if filepath.Dir(p) != abs {
			return fmt.Errorf("refusing to delete %s outside %s", p, abs)
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// notPrecious refuses the file system root, the home directory and the
// working directory or any directory above it.
func notPrecious(abs string) error {
	if filepath.Dir(abs) == abs {
		return fmt.Errorf("refusing to clear the root directory %s", abs)
	}
	if home, err := os.UserHomeDir(); err == nil && sameDir(home, abs) {
		return fmt.Errorf("refusing to clear the home directory %s", abs)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if sameDir(d, abs) {
				return fmt.Errorf("refusing to clear %s, which holds the working directory", abs)
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return nil
}

func sameDir(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func writeMarker(dir string) error {
	p := filepath.Join(dir, Marker)
	if _, err := os.Lstat(p); err == nil {
		return nil
	}
	return atomicfile.WriteFile(p, []byte("This directory holds a vqgen run; starting the run over deletes its contents.\n"), false)
}
