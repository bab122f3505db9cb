package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "2026-01-01-1000-bench.jsonl"), []byte(`{"comment": "first"}
{"name": "fma_peak_1t", "value": 200, "unit": "GFLOP/s"}
{"name": "sgemm_1024_1t", "value": 150, "unit": "GFLOP/s"}
`), 0o644)
	os.WriteFile(filepath.Join(dir, "2026-01-02-1000-compare.jsonl"), []byte(`{"name": "ratio", "value": 8, "unit": "x", "round": 1}
{"name": "ratio", "value": 10, "unit": "x", "round": 2}
{"name": "ratio", "value": 9, "unit": "x", "round": 3}
`), 0o644)
	b, err := render(dir)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{"| sgemm_1024_1t | 150.0 (75% of the FMA peak) | GFLOP/s |", "| median | **9.00** |", "first\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Index(md, "2026-01-02") > strings.Index(md, "2026-01-01") {
		t.Errorf("sessions not newest first")
	}
	os.WriteFile(filepath.Join(dir, "2026-01-03-bad.jsonl"), []byte("{\"name\": \"x\"}\n"), 0o644)
	if _, err := render(dir); err == nil || !strings.Contains(err.Error(), "2026-01-03-bad.jsonl:1") {
		t.Errorf("a line without a value: %v", err)
	}
}

// TestResultsUpToDate: bench/RESULTS.md is what bench/results.sh makes of
// the sessions in bench/results.
func TestResultsUpToDate(t *testing.T) {
	b, err := render("../results")
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../RESULTS.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != string(b) {
		t.Errorf("bench/RESULTS.md is out of date: run bench/results.sh")
	}
}
