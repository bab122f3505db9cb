//go:build unix

package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestRemoveStale: the temporary file of a process that died goes, those
// of live processes (this one) and other files stay.
func TestRemoveStale(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1) to get a dead process id:", err)
	}
	dead := strconv.Itoa(cmd.Process.Pid)
	self := strconv.Itoa(os.Getpid())
	dir := t.TempDir()
	names := map[string]bool{ // name: kept
		".vqvae.safetensors.tmp-" + dead + "-123": false,
		".report.json.tmp-" + self + "-456":       true,
		"report.json":                             true,
		".vqgen-run":                              true,
		".notes.tmp-x-1":                          true,
		"data.tmp-" + dead + "-1":                 true, // not hidden: not ours
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{".vqvae.safetensors.tmp-" + dead + "-123"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for n, kept := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", n, err == nil, kept)
		}
	}
}

// A pending file's temporary name carries this process's id.
func TestTempNameOwner(t *testing.T) {
	f, err := Create(filepath.Join(t.TempDir(), "x.png"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	pid, ok := tempOwner(filepath.Base(f.f.Name()))
	if !ok || pid != os.Getpid() {
		t.Errorf("temporary name %s: owner %d, %v; want %d", f.f.Name(), pid, ok, os.Getpid())
	}
}
