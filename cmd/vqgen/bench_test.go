package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/app"
)

// TestBenchServe: the serve lines run over --run's models through the
// web server and print JSON lines in seconds, alone or with app's lines;
// without --run, asking for them is an error that says what to give.
func TestBenchServe(t *testing.T) {
	run, _ := sharedRun(t)
	out := mustVqgen(t, "bench", "serve", "--run", run, "--json", "--time", "0s", "--only", "serve_sample_16_s")
	var r app.BenchResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil || r.Name != "serve_sample_16_s" || r.Unit != "s" || !(r.Value > 0) {
		t.Fatalf("bench serve printed %q (%v)", out, err)
	}
	for _, args := range [][]string{{"bench", "serve"}, {"bench", "--only", "serve_edit_3x3_8variants_s"}} {
		if _, err := vqgen(t, args...); err == nil || !strings.Contains(err.Error(), "--run DIR") {
			t.Errorf("%v without --run: %v", args, err)
		}
	}
	if _, err := vqgen(t, "bench", "servers"); err == nil || !strings.Contains(err.Error(), "core, pipeline or serve") {
		t.Errorf("an unknown set: %v", err)
	}
	if out, err := vqgen(t, "bench", "--only", "fma_peak_1t,serve_sample_16_s", "--run", run, "--time", "0s"); err != nil ||
		!strings.Contains(out, "fma_peak_1t") || !strings.Contains(out, "serve_sample_16_s") {
		t.Errorf("a core line and a serve line together: %v\n%s", err, out)
	}
}
