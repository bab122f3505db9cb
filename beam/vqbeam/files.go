package vqbeam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	// The file systems vqgen-beam reads and writes: local paths, Google
	// Cloud Storage (gs://) and S3 (s3://).
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// isLocal reports whether p names a file on the local file system (no
// scheme://), where writes go through a temporary file and a rename.
func isLocal(p string) bool { return !strings.Contains(p, "://") }

// joinPath joins a folder and a slash-separated relative path in the
// folder's own syntax: the OS's separator locally, "/" in URLs.
func joinPath(dir, rel string) string {
	if isLocal(dir) {
		return filepath.Join(dir, filepath.FromSlash(rel))
	}
	return strings.TrimSuffix(dir, "/") + "/" + rel
}

// readAll reads a whole file from any registered Beam file system.
func readAll(ctx context.Context, p string) ([]byte, error) {
	if isLocal(p) {
		return os.ReadFile(p)
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

// localCopy returns a local path holding the file p: p itself when it is
// local, else a temporary copy (removed by the returned cleanup). Model
// checkpoints are read this way, so a worker loads them from gs:// or s3://
// as easily as from disk.
func localCopy(ctx context.Context, p string) (string, func(), error) {
	if isLocal(p) {
		return p, func() {}, nil
	}
	b, err := readAll(ctx, p)
	if err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp("", "vqgen-beam-*-"+path.Base(p))
	if err != nil {
		return "", nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", nil, err
	}
	return f.Name(), func() { os.Remove(f.Name()) }, nil
}

// output is a file being written: nothing appears under its name until
// Commit. A retried bundle writes the same name again, so outputs are
// always replaced; the launcher refuses existing outputs before the
// pipeline starts (see checkOutputs).
type output struct {
	io.Writer
	commit func() error
	abort  func()
}

func (o *output) Commit() error { return o.commit() }
func (o *output) Abort()        { o.abort() }

// createOutput starts writing p. Locally the bytes go to a temporary file
// in p's folder that Commit syncs and renames; on object stores (gs://,
// s3://) an object only becomes visible when its upload completes, which
// Commit does by closing the writer.
func createOutput(ctx context.Context, p string) (*output, error) {
	if isLocal(p) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		f, err := atomicfile.Create(p, true)
		if err != nil {
			return nil, err
		}
		return &output{Writer: f, commit: f.Commit, abort: func() { f.Abort() }}, nil
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	w, err := fs.OpenWrite(ctx, p)
	if err != nil {
		fs.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &output{
		Writer: w,
		commit: func() error {
			defer fs.Close()
			if err := w.Close(); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		},
		abort: func() {
			w.Close()
			if r, ok := fs.(filesystem.Remover); ok {
				r.Remove(ctx, p)
			}
			fs.Close()
		},
	}, nil
}

// writeOutput writes p through fill, committing only if fill succeeds.
func writeOutput(ctx context.Context, p string, fill func(io.Writer) error) error {
	o, err := createOutput(ctx, p)
	if err != nil {
		return err
	}
	if err := fill(o); err != nil {
		o.Abort()
		return err
	}
	return o.Commit()
}

// ShardName is the name of shard i of n for the output name out: out
// itself when n is 1, else the shard number inserted before the extension,
// as Beam's sinks do: codes.vqc -> codes-00002-of-00004.vqc.
func ShardName(out string, i, n int) string {
	if n == 1 {
		return out
	}
	ext := path.Ext(out)
	if strings.ContainsAny(ext, `/\`) {
		ext = ""
	}
	return fmt.Sprintf("%s-%05d-of-%05d%s", strings.TrimSuffix(out, ext), i, n, ext)
}

// checkOutputs refuses to start when any of the given outputs exists, so a
// pipeline never replaces earlier results unless the user asked for it.
func checkOutputs(ctx context.Context, paths []string) error {
	for _, p := range paths {
		exists, err := fileExists(ctx, p)
		if err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("%s already exists; use --force to replace it", p)
		}
	}
	return nil
}

func fileExists(ctx context.Context, p string) (bool, error) {
	if isLocal(p) {
		_, err := os.Stat(p)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return false, err
	}
	defer fs.Close()
	found, err := fs.List(ctx, p)
	if err != nil {
		return false, fmt.Errorf("%s: %w", p, err)
	}
	return len(found) > 0, nil
}

// fileSize is the size of a file on any Beam file system.
func fileSize(ctx context.Context, p string) (int64, error) {
	if isLocal(p) {
		st, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return 0, err
	}
	defer fs.Close()
	n, err := fs.Size(ctx, p)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return n, nil
}
