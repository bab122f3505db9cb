// Package atomicfile writes files so that a reader (or a crash) sees either
// the old contents or the complete new ones, never a torn file: data goes to
// a temporary file in the same directory, is fsynced, and is then renamed over
// the target (rename within one directory is atomic on POSIX file systems).
// An existing file is only replaced when the caller asks for it, because
// training outputs must never be overwritten by accident.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is a pending write; nothing appears at its path until Commit.
type File struct {
	f         *os.File
	path      string
	overwrite bool
	done      bool
}

func existsError(path string) error {
	return &fs.PathError{Op: "write", Path: path, Err: fmt.Errorf("%w; refusing to replace it", fs.ErrExist)}
}

// Create starts writing path. Unless overwrite is set, an existing file at
// path is an error (matching fs.ErrExist) that names it.
func Create(path string, overwrite bool) (*File, error) {
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return nil, existsError(path)
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	// CreateTemp makes 0600 files; results are meant to be shared like any
	// file the user writes.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{f: f, path: path, overwrite: overwrite}, nil
}

// Name is the final path the file will have.
func (a *File) Name() string { return a.path }

// Write writes to the temporary file.
func (a *File) Write(p []byte) (int, error) {
	if a.done {
		return 0, &fs.PathError{Op: "write", Path: a.path, Err: fs.ErrClosed}
	}
	return a.f.Write(p)
}

// Commit flushes the data to disk and moves the file into place. After a
// failed Commit the temporary file is removed and the target is unchanged.
func (a *File) Commit() (err error) {
	if a.done {
		return &fs.PathError{Op: "commit", Path: a.path, Err: fs.ErrClosed}
	}
	a.done = true
	tmp := a.f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := a.f.Sync(); err != nil {
		a.f.Close()
		return err
	}
	if err := a.f.Close(); err != nil {
		return err
	}
	if a.overwrite {
		if err := os.Rename(tmp, a.path); err != nil {
			return err
		}
	} else {
		// A hard link never replaces an existing name, so a file that
		// appeared since Create is still not clobbered.
		if err := os.Link(tmp, a.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return existsError(a.path)
			}
			// Some file systems have no hard links: check and rename.
			if _, serr := os.Lstat(a.path); serr == nil {
				return existsError(a.path)
			}
			if err := os.Rename(tmp, a.path); err != nil {
				return err
			}
		} else {
			os.Remove(tmp)
		}
	}
	syncDir(filepath.Dir(a.path))
	return nil
}

// Abort discards the pending write. It is a no-op after Commit, so
// `defer f.Abort()` right after Create is the usual pattern.
func (a *File) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	a.f.Close()
	return os.Remove(a.f.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte, overwrite bool) error {
	f, err := Create(path, overwrite)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// syncDir makes the rename itself durable. Errors are ignored: some
// platforms cannot open or sync a directory, and the data is already safe.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
