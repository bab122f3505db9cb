package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func list(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrepare(t *testing.T) {
	type setup int
	const (
		missing setup = iota
		empty
		ourRun  // marker + outputs
		foreign // files, no marker
	)
	tests := []struct {
		name    string
		setup   setup
		mode    Mode
		wantErr string   // substring; "" = success
		want    []string // directory listing afterwards
	}{
		{"missing fresh", missing, Fresh, "", []string{Marker}},
		{"missing resume", missing, Resume, "", []string{Marker}},
		{"missing force", missing, Force, "", []string{Marker}},
		{"empty fresh", empty, Fresh, "", []string{Marker}},
		{"run fresh refused", ourRun, Fresh, "holds ckpt, config.toml, metrics.jsonl", []string{Marker, "ckpt", "config.toml", "metrics.jsonl"}},
		{"run resume keeps", ourRun, Resume, "", []string{Marker, "ckpt", "config.toml", "metrics.jsonl"}},
		{"run force clears", ourRun, Force, "", []string{Marker}},
		{"foreign fresh refused", foreign, Fresh, "not empty", []string{"notes.txt"}},
		{"foreign resume", foreign, Resume, "", []string{Marker, "notes.txt"}},
		{"foreign force refused", foreign, Force, "not a vqgen run directory", []string{"notes.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			switch tt.setup {
			case empty:
				os.Mkdir(dir, 0o755)
			case ourRun:
				write(t, filepath.Join(dir, Marker), "")
				write(t, filepath.Join(dir, "config.toml"), "seed = 1")
				write(t, filepath.Join(dir, "metrics.jsonl"), "{}\n")
				write(t, filepath.Join(dir, "ckpt", "step-100.st"), "x")
			case foreign:
				write(t, filepath.Join(dir, "notes.txt"), "precious")
			}
			err := Prepare(dir, tt.mode)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("want error with %q naming %s, got %v", tt.wantErr, dir, err)
				}
				if tt.mode == Fresh && !errors.Is(err, ErrNotEmpty) {
					t.Errorf("not ErrNotEmpty: %v", err)
				}
			}
			if got := list(t, dir); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("afterwards %v, want %v", got, tt.want)
			}
		})
	}
}

// Force deletes a symlink inside the run, never what it points to.
func TestForceKeepsSymlinkTargets(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	write(t, filepath.Join(outside, "keep.txt"), "keep")
	dir := filepath.Join(root, "run")
	write(t, filepath.Join(dir, Marker), "")
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(dir, Force); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(outside, "keep.txt")); err != nil || string(got) != "keep" {
		t.Fatalf("symlink target damaged: %q %v", got, err)
	}
	if got := list(t, dir); len(got) != 1 {
		t.Errorf("left %v", got)
	}
}

func TestForceRefusesWorkingDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "run")
	write(t, filepath.Join(dir, Marker), "")
	write(t, filepath.Join(dir, "sub", "f"), "x")
	t.Chdir(filepath.Join(dir, "sub"))
	err := Prepare(dir, Force)
	if err == nil || !strings.Contains(err.Error(), "working directory") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "f")); err != nil {
		t.Fatal("deleted the working directory's contents")
	}
}

func TestNotADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	write(t, p, "x")
	for _, m := range []Mode{Fresh, Resume, Force} {
		if err := Prepare(p, m); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("%v: got %v", m, err)
		}
	}
}
