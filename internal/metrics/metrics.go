// Package metrics keeps a training run's log as JSON lines in
// DIR/metrics.jsonl: one object per line, appended and written straight to
// the file on every call, so a crashed or interrupted run keeps everything
// it logged and the file can be read (or tailed) while training runs.
//
// A resumed run continues from its last checkpoint, which may be older than
// the last logged line; Resume drops the lines past the checkpoint's step so
// the log holds each step once.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vqgen/vqgen/internal/atomicfile"
)

// FileName is the log's name inside a run directory.
const FileName = "metrics.jsonl"

// Entry is one decoded line. Numbers decode as float64.
type Entry map[string]any

// Step returns the entry's "step" field and whether it has one.
func (e Entry) Step() (int, bool) {
	f, ok := e["step"].(float64)
	return int(f), ok
}

// Writer appends entries to a log file.
type Writer struct {
	f    *atomicfile.Log
	path string
	buf  bytes.Buffer
}

// Create starts a new log in dir, refusing to replace an existing one.
func Create(dir string) (*Writer, error) {
	path := filepath.Join(dir, FileName)
	f, err := atomicfile.CreateLog(path)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, path: path}, nil
}

// Resume reopens the log in dir for appending after dropping every entry
// whose step is greater than step (and a torn last line left by a crash). It
// returns the entries kept. A missing log is started afresh.
func Resume(dir string, step int) (*Writer, []Entry, error) {
	path := filepath.Join(dir, FileName)
	entries, err := ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		w, err := Create(dir)
		return w, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	kept := entries[:0]
	for _, e := range entries {
		if s, ok := e.Step(); ok && s > step {
			continue
		}
		kept = append(kept, e)
	}
	var buf bytes.Buffer
	for _, e := range kept {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), true); err != nil {
		return nil, nil, err
	}
	f, err := atomicfile.AppendLog(path)
	if err != nil {
		return nil, nil, err
	}
	return &Writer{f: f, path: path}, kept, nil
}

// Path is the log file's path.
func (w *Writer) Path() string { return w.path }

// Write appends v (a struct or map that encoding/json accepts) as one line.
// The line goes to the file in a single write, so readers never see half an
// entry unless the machine dies mid-write.
func (w *Writer) Write(v any) error {
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf) // Encode adds the newline
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("%s: %w", w.path, err)
	}
	if _, err := w.f.Write(w.buf.Bytes()); err != nil {
		return err
	}
	return nil
}

// Close syncs and closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// ReadFile decodes every line of a log. A last line without its newline
// that does not parse is the trace of an interrupted write and is dropped;
// any other bad line is an error naming the file and line.
func ReadFile(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	complete := len(data) == 0 || data[len(data)-1] == '\n'
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			if !complete && len(data) == lineEnd(data, lineNo) {
				break
			}
			return nil, fmt.Errorf("%s:%d: %w", path, lineNo, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// lineEnd is the byte offset just past line n (1-based) of data.
func lineEnd(data []byte, n int) int {
	off := 0
	for i := 0; i < n; i++ {
		j := bytes.IndexByte(data[off:], '\n')
		if j < 0 {
			return len(data)
		}
		off += j + 1
	}
	return off
}
