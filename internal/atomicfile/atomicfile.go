// Package atomicfile is the one place vqgen writes its outputs: checkpoints,
// code files, PNGs, reports, run state, configs and metrics logs all go
// through it.
//
// A whole file (Create, WriteFile) is written so that a reader, or a crash,
// sees either the old contents or the complete new ones, never a torn file:
// data goes to a temporary file in the same directory, is fsynced, and is
// then renamed over the target (rename within one directory is atomic on
// POSIX file systems). An existing file is only replaced when the caller
// asks for it, because results must never be overwritten by accident.
//
// A log (CreateLog, AppendLog) is the other kind of output: a file that
// grows by whole records while a training runs, so it can be tailed and
// survives a crash up to its last record.
//
// A pending file is .NAME.tmp-PID-RANDOM beside its target, so that the
// litter of a process killed mid-write can be told from a live writer's
// and removed when the work resumes (RemoveStale). Errors name the target,
// never the temporary file.
//
// Every write, sync and rename passes one hook, so a test can make the Nth
// of them fail, on any output or a chosen one (Inject, FailNth), with the
// error a full or failing disk gives, and check that nothing half-written
// is left; Watch tells a test each time an output is complete.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vqgen/vqgen/internal/crashpoint"
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
	f, err := os.CreateTemp(dir, tempPattern(base))
	if err != nil {
		return nil, named("create", path, err)
	}
	// CreateTemp makes 0600 files; results are meant to be shared like any
	// file the user writes.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, named("chmod", path, err)
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
	if err := fault(OpWrite, a.path); err != nil {
		return 0, err
	}
	n, err := a.f.Write(p)
	return n, named("write", a.path, err)
}

// Seek moves the write position within the temporary file, for formats
// that patch a header once the body is written.
func (a *File) Seek(offset int64, whence int) (int64, error) {
	if a.done {
		return 0, &fs.PathError{Op: "seek", Path: a.path, Err: fs.ErrClosed}
	}
	return a.f.Seek(offset, whence)
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
	if err := syncFile(a.f, a.path); err != nil {
		a.f.Close()
		return err
	}
	if err := a.f.Close(); err != nil {
		return named("close", a.path, err)
	}
	crashpoint.Hit() // the moment a crash test most wants: all written, nothing renamed
	if err := fault(OpRename, a.path); err != nil {
		return err
	}
	if a.overwrite {
		if err := os.Rename(tmp, a.path); err != nil {
			return named("rename", a.path, err)
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
				return named("rename", a.path, err)
			}
		} else {
			os.Remove(tmp)
		}
	}
	syncDir(filepath.Dir(a.path))
	changed(a.path)
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

// Log is an append-only output such as a training's metrics: each Write
// goes to the end of the file in one system call, so readers never see
// half a record unless the machine dies mid-write.
type Log struct {
	f    *os.File
	path string
}

// CreateLog starts a new log at path, refusing to replace an existing
// file.
func CreateLog(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &Log{f: f, path: path}, nil
}

// AppendLog reopens an existing log for appending.
func AppendLog(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &Log{f: f, path: path}, nil
}

// Name is the log's path.
func (l *Log) Name() string { return l.path }

// Write appends p.
func (l *Log) Write(p []byte) (int, error) {
	if err := fault(OpWrite, l.path); err != nil {
		return 0, err
	}
	n, err := l.f.Write(p)
	if err != nil {
		return n, named("write", l.path, err)
	}
	changed(l.path)
	return n, nil
}

// Close syncs and closes the file.
func (l *Log) Close() error {
	serr := syncFile(l.f, l.path)
	if err := l.f.Close(); err != nil {
		return named("close", l.path, err)
	}
	return serr
}

func syncFile(f *os.File, path string) error {
	if err := fault(OpSync, path); err != nil {
		return err
	}
	return named("sync", path, f.Sync())
}

// named makes a failed step's error name the output's final path: the
// system's own error names the temporary file, which the user never asked
// for and which is gone by the time they read the message.
func named(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe) && pe.Path == path:
		return err
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
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
