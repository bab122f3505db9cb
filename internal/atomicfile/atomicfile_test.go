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

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "a.txt")
	if err := WriteFile(path, []byte("x"), false); err == nil {
		t.Fatal("no error")
	}
}
