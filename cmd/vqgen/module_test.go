package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoreModuleHasNoBeam: Apache Beam and its dependencies belong to the
// nested module beam/ (vqgen-beam); the core module, which the vqgen binary
// is built from, must not require them, directly or indirectly.
func TestCoreModuleHasNoBeam(t *testing.T) {
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "github.com/apache/beam") {
				t.Errorf("%s:%d names Apache Beam (%s): it belongs in beam/go.mod", name, i+1, strings.TrimSpace(line))
			}
		}
	}
	if _, err := os.Stat(filepath.Join("..", "..", "beam", "go.mod")); err != nil {
		t.Errorf("beam/ is not a module of its own: %v", err)
	}
}
