package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name      string
		existing  string // "" = no file before
		overwrite bool
		wantErr   bool
		want      string
	}{
		{"new", "", false, false, "new data"},
		{"new with overwrite", "", true, false, "new data"},
		{"refuse existing", "old", false, true, "old"},
		{"replace existing", "old", true, false, "new data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.bin")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFile(path, []byte("new data"), tt.overwrite)
			if tt.wantErr {
				if err == nil || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), path) {
					t.Fatalf("want an exists error naming %s, got %v", path, err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("contents %q, want %q", got, tt.want)
			}
			if names := entries(t, dir); len(names) != 1 {
				t.Errorf("leftover files: %v", names)
			}
			if st, _ := os.Stat(path); !tt.wantErr && st.Mode().Perm() != 0o644 {
				t.Errorf("mode %v", st.Mode())
			}
		})
	}
}

func TestNothingVisibleBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	f, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("target visible before Commit: %v", err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "hello" {
		t.Errorf("got %q", got)
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(path, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("discard"))
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "keep" {
		t.Errorf("target changed to %q", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("leftover files: %v", names)
	}
}

// A file that appears between Create and Commit is still not clobbered.
func TestRaceWithoutOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.txt")
	f, err := Create(path, false)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("mine"))
	if err := os.WriteFile(path, []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = f.Commit()
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("want exists error naming %s, got %v", path, err)
	}
	if got, _ := os.ReadFile(path); string(got) != "theirs" {
		t.Errorf("clobbered: %q", got)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("leftover files: %v", names)
	}
}

// A failure of the system names the output, not the temporary file.
func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "a.txt")
	err := WriteFile(path, []byte("x"), false)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("got %v, want a not-exist error naming %s", err, path)
	}
}

// TestFaultOnPath: a fault armed for one output leaves the others alone,
// and Watch sees each output once it is complete.
func TestFaultOnPath(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	var seen []string
	Watch(func(p string) { seen = append(seen, filepath.Base(p)) })
	defer Watch(nil)
	defer Inject(Fault{Op: OpWrite, Path: b, N: 2})()
	for i := 0; i < 3; i++ {
		if err := WriteFile(a, []byte("a"), true); err != nil {
			t.Fatalf("a, write %d: %v", i+1, err)
		}
	}
	if err := WriteFile(b, []byte("1"), true); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(b, []byte("2"), true); !errors.Is(err, ErrInjected) || Fired() != b {
		t.Fatalf("second write of b: %v (fired at %q)", err, Fired())
	}
	if got, _ := os.ReadFile(b); string(got) != "1" {
		t.Errorf("b = %q, want its first version", got)
	}
	if strings.Join(seen, " ") != "a a a b" {
		t.Errorf("watched %v, want a a a b", seen)
	}
}

// TestFailNth: a failed write, sync or rename leaves the old file as it was
// and no temporary file behind; the fault fires exactly once.
func TestFailNth(t *testing.T) {
	for _, op := range []Op{OpWrite, OpSync, OpRename} {
		t.Run(op.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.bin")
			os.WriteFile(path, []byte("old"), 0o644)
			disarm := FailNth(op, 2, nil)
			defer disarm()
			if err := WriteFile(filepath.Join(dir, "first"), []byte("1"), false); err != nil {
				t.Fatalf("first output: %v", err)
			}
			err := WriteFile(path, []byte("new"), true)
			var pe *fs.PathError
			if !errors.Is(err, ErrInjected) || !errors.As(err, &pe) || pe.Path != path || pe.Op != op.String() {
				t.Fatalf("second output: %v, want the injected %s fault naming %s", err, op, path)
			}
			if got, _ := os.ReadFile(path); string(got) != "old" {
				t.Errorf("target changed to %q", got)
			}
			if names := entries(t, dir); len(names) != 2 {
				t.Errorf("leftover files: %v", names)
			}
			if err := WriteFile(path, []byte("new"), true); err != nil {
				t.Errorf("third output: %v", err)
			}
			if Count(op) != 3 {
				t.Errorf("Count(%s) = %d, want 3", op, Count(op))
			}
		})
	}
}

func TestLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := CreateLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("a\n"))
	l.Close()
	if _, err := CreateLog(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateLog: %v", err)
	}
	l, err = AppendLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer FailNth(OpWrite, 2, nil)()
	l.Write([]byte("b\n"))
	if _, err := l.Write([]byte("c\n")); !errors.Is(err, ErrInjected) {
		t.Errorf("second write: %v", err)
	}
	l.Close()
	if got, _ := os.ReadFile(path); string(got) != "a\nb\n" {
		t.Errorf("log %q", got)
	}
}
