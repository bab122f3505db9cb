package server

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vqgen/vqgen/app"
)

// fromRoot resolves a path an environment variable gives relative to the
// repository root, where the command that sets it is typed: go test runs
// in the package's folder.
func fromRoot(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join("..", "..", p)
}

// runBackend opens the run in VQGEN_SERVE_RUN (the default MNIST run, for
// the README's screenshot), or else the tiny test models.
func runBackend(t testing.TB) Backend {
	t.Helper()
	run := fromRoot(os.Getenv("VQGEN_SERVE_RUN"))
	if run == "" {
		b, _ := tinyBackends(t)
		return b
	}
	b, err := Open(filepath.Join(run, app.VQVAEFile), filepath.Join(run, app.PriorFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBenchmarkLines runs vqgen bench's serve lines briefly over the tiny
// models (or VQGEN_SERVE_RUN): they open the pair once, answer through
// the API and report a time. The figures are logged, not asserted.
func TestBenchmarkLines(t *testing.T) {
	opened := 0
	lines, stop := Benchmarks(func() (Backend, error) { opened++; return runBackend(t), nil })
	defer stop()
	want := []string{"serve_edit_3x3_8variants_s", "serve_sample_16_s"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %v", len(lines), want)
	}
	for i, l := range lines {
		v, err := l.Run(0)
		if err != nil || !(v > 0) || l.Name != want[i] || l.Unit != "s" {
			t.Fatalf("%s: %g %s, %v", l.Name, v, l.Unit, err)
		}
		t.Logf("%s %.3f s (%s)", l.Name, v, l.What)
	}
	if opened != 1 {
		t.Errorf("the pair was opened %d times, want once", opened)
	}
}
