package server

import (
	"os"
	"path/filepath"
	"testing"
)

// runBackend opens the run in VQGEN_SERVE_RUN (the default MNIST run, for
// the acceptance figures and the README's screenshot), or else the tiny
// test models.
func runBackend(t testing.TB) Backend {
	t.Helper()
	run := os.Getenv("VQGEN_SERVE_RUN")
	if run == "" {
		b, _ := tinyBackends(t)
		return b
	}
	b, err := Open(filepath.Join(run, "vqvae.safetensors"), filepath.Join(run, "prior.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func benchServer(b *testing.B) (string, Info) {
	be := runBackend(b)
	ts, _ := testServer(b, be, Config{})
	return ts.URL, be.Info()
}

// BenchmarkServeEdit3x3x8: one edit request through the HTTP API, a 3x3
// hole in test image 0 redrawn as 8 variants with the run's default method
// (the serve_edit_3x3_8variants_s line of vqgen bench).
func BenchmarkServeEdit3x3x8(b *testing.B) {
	url, info := benchServer(b)
	p := testImage(b, url, 0)
	body := map[string]any{"codes": p.Codes, "redraw": redrawCells(2, 2, 4, 4), "n": 8}
	if info.Classes > 0 {
		body["class"] = *p.Label
	}
	postJSON(b, url+"/api/edit?wait=1", body) // warm
	for i := 0; b.Loop(); i++ {
		body["seed"] = i
		if r := postJSON(b, url+"/api/edit?wait=1", body); r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
}

// BenchmarkServeSample16: 16 samples with the run's defaults through the
// HTTP API (the serve_sample_16_s line of vqgen bench).
func BenchmarkServeSample16(b *testing.B) {
	url, _ := benchServer(b)
	postJSON(b, url+"/api/sample?wait=1", map[string]any{"n": 16}) // warm
	for i := 0; b.Loop(); i++ {
		if r := postJSON(b, url+"/api/sample?wait=1", map[string]any{"n": 16, "seed": i}); r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
}
