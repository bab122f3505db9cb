package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalPriorFindsTrainingCodes: a prior copied out of its run folder
// still finds its unigram baseline through the training code file it
// recorded; without that record and outside the run layout the error says
// to pass --train-codes.
func TestEvalPriorFindsTrainingCodes(t *testing.T) {
	dir, _ := sharedRun(t)
	b, err := os.ReadFile(filepath.Join(dir, "prior", "prior.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(t.TempDir(), "elsewhere", "p.safetensors")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(moved, b, 0o644); err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(dir, "codes-test.vqc")
	inRun, err := evalPrior(filepath.Join(dir, "prior", "prior.safetensors"), test, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := evalPrior(moved, test, "")
	if err != nil {
		t.Fatalf("prior outside its run folder: %v", err)
	}
	if out.UnigramBitsPerImage != inRun.UnigramBitsPerImage || !(out.UnigramBitsPerImage > 0) {
		t.Errorf("unigram %v bits/image outside the run folder, %v inside", out.UnigramBitsPerImage, inRun.UnigramBitsPerImage)
	}
	// Hide the recorded file: the run-layout fallback fails with advice.
	rec := filepath.Join(dir, "codes-train.vqc")
	if err := os.Rename(rec, rec+".away"); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(rec+".away", rec)
	if _, err := evalPrior(moved, test, ""); err == nil || !strings.Contains(err.Error(), "--train-codes") {
		t.Errorf("no training codes anywhere: %v, want advice to pass --train-codes", err)
	}
}
