package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sample runs vqgen sample on the shared run, writing out.png and out.vqc.
func sample(t *testing.T, run, out string, args ...string) (string, error) {
	t.Helper()
	all := append([]string{"sample", "--out", out + ".png", "--out-codes", out + ".vqc"}, models(run)...)
	return vqgen(t, append(all, args...)...)
}

// TestSampleDefaultsReproduceTheRun: with no flags but --n and --seed,
// vqgen sample draws the run's pictures byte for byte, since both take
// their settings from the prior's stored config.
func TestSampleDefaultsReproduceTheRun(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "s.png")
	mustVqgen(t, append([]string{"sample", "--n", "16", "--seed", "1", "--out", out}, models(run)...)...)
	if !sameFile(t, out, filepath.Join(run, "samples.png")) {
		t.Errorf("vqgen sample --n 16 --seed 1 differs from the run's samples.png")
	}
	byClass := filepath.Join(tmp, "c.png")
	mustVqgen(t, append([]string{"sample", "--per-class", "2", "--seed", "2", "--out", byClass}, models(run)...)...)
	if !sameFile(t, byClass, filepath.Join(run, "samples-by-class.png")) {
		t.Errorf("vqgen sample --per-class 2 --seed 2 differs from the run's samples-by-class.png")
	}
	// An explicit flag overrides: another temperature draws other images.
	hot := filepath.Join(tmp, "hot.png")
	mustVqgen(t, append([]string{"sample", "--n", "16", "--seed", "1", "--temperature", "1.5", "--out", hot}, models(run)...)...)
	if sameFile(t, hot, out) {
		t.Errorf("--temperature 1.5 drew the same images as the default 0.9")
	}
}

func TestSampleSameSeedSameImages(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	for _, name := range []string{"a", "b"} {
		args := []string{"--n", "12", "--seed", "7", "--save-each", filepath.Join(tmp, name+"-each")}
		if name == "b" {
			args = append(args, "--batch", "5") // batching must not change the draw
		}
		if out, err := sample(t, run, filepath.Join(tmp, name), args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	if _, err := sample(t, run, filepath.Join(tmp, "c"), "--n", "12", "--seed", "8"); err != nil {
		t.Fatal(err)
	}
	if !sameFile(t, filepath.Join(tmp, "a.png"), filepath.Join(tmp, "b.png")) {
		t.Errorf("same seed, different sample grids")
	}
	ga, la, h := readCodes(t, filepath.Join(tmp, "a.vqc"))
	gb, lb, _ := readCodes(t, filepath.Join(tmp, "b.vqc"))
	gc, _, _ := readCodes(t, filepath.Join(tmp, "c.vqc"))
	if h.Count != 12 || !h.Labels || h.NumClasses != 10 {
		t.Errorf("code header: %d grids, labels %v, %d classes; want 12, true, 10", h.Count, h.Labels, h.NumClasses)
	}
	if !slices.Equal(ga, gb) || !slices.Equal(la, lb) {
		t.Errorf("same seed, different codes or classes")
	}
	if slices.Equal(ga, gc) {
		t.Errorf("seeds 7 and 8 drew identical codes")
	}
	if !sameFile(t, filepath.Join(tmp, "a-each", "sample-0003.png"), filepath.Join(tmp, "b-each", "sample-0003.png")) {
		t.Errorf("--save-each files differ for the same seed")
	}
	if _, err := os.Stat(filepath.Join(tmp, "a-each", "sample-0011.png")); err != nil {
		t.Errorf("--save-each: %v", err)
	}
}

func TestSampleClass(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	if _, err := sample(t, run, filepath.Join(tmp, "three"), "--n", "12", "--class", "3"); err != nil {
		t.Fatal(err)
	}
	_, labels, _ := readCodes(t, filepath.Join(tmp, "three.vqc"))
	for i, l := range labels {
		if l != 3 {
			t.Fatalf("sample %d has class %d, want 3", i, l)
		}
	}
	// Without --class the classes are drawn; 12 grids cover all ten.
	if _, err := sample(t, run, filepath.Join(tmp, "any"), "--n", "12"); err != nil {
		t.Fatal(err)
	}
	_, labels, _ = readCodes(t, filepath.Join(tmp, "any.vqc"))
	seen := map[int32]bool{}
	for _, l := range labels {
		seen[l] = true
	}
	if len(seen) != 10 {
		t.Errorf("12 samples with drawn classes cover %d classes, want 10", len(seen))
	}
}

func TestSampleErrorsNameTheFlag(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "old")
	os.WriteFile(existing+".png", []byte("keep me"), 0o644)
	cases := []struct {
		name, out string
		args      []string
		want      string
	}{
		{"existing out", existing, nil, "use --force to replace it"},
		{"class too big", "x1", []string{"--class", "10"}, "--class 10: the prior has classes 0 to 9"},
		{"bad temperature", "x2", []string{"--temperature", "0"}, "--temperature 0:"},
		{"bad top-p", "x3", []string{"--top-p", "1.5"}, "--top-p 1.5:"},
		{"negative guidance", "x7", []string{"--guidance", "-1"}, "--guidance -1: want a finite value >= 0"},
		{"n zero", "x4", []string{"--n", "0"}, "--n 0"},
		{"per-class with class", "x8", []string{"--per-class", "2", "--class", "1"}, "--per-class 2"},
		{"missing prior", "x5", []string{"--prior", filepath.Join(tmp, "none.safetensors")}, "none.safetensors"},
		{"prior as vqvae", "x6", []string{"--vqvae", filepath.Join(run, "prior.safetensors")}, "not a VQ-VAE checkpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := c.out
			if !filepath.IsAbs(out) {
				out = filepath.Join(tmp, out)
			}
			_, err := sample(t, run, out, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if b, _ := os.ReadFile(existing + ".png"); string(b) != "keep me" {
		t.Errorf("the existing output was overwritten")
	}
	if _, err := sample(t, run, existing, "--force"); err != nil {
		t.Fatalf("--force: %v", err)
	}
	// The old output flag still works, with a warning.
	out, err := vqgen(t, append([]string{"sample", "--out", filepath.Join(tmp, "d.png"), "--codes", filepath.Join(tmp, "d.vqc")}, models(run)...)...)
	if err != nil || !strings.Contains(out, "--out-codes") {
		t.Errorf("deprecated --codes: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "d.vqc")); err != nil {
		t.Errorf("deprecated --codes wrote nothing: %v", err)
	}
}

// TestSampleGuidance: --guidance 1 draws what the plain prior draws, 2
// draws something else from the same seed.
func TestSampleGuidance(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	for _, w := range []string{"0", "1", "2"} {
		if _, err := sample(t, run, filepath.Join(tmp, w), "--n", "12", "--seed", "5", "--class", "3", "--guidance", w); err != nil {
			t.Fatalf("--guidance %s: %v", w, err)
		}
	}
	off, _, _ := readCodes(t, filepath.Join(tmp, "0.vqc"))
	one, _, _ := readCodes(t, filepath.Join(tmp, "1.vqc"))
	two, _, _ := readCodes(t, filepath.Join(tmp, "2.vqc"))
	if !slices.Equal(off, one) {
		t.Errorf("--guidance 1 drew other codes than the plain prior")
	}
	if slices.Equal(one, two) {
		t.Errorf("--guidance 2 drew the same codes as --guidance 1")
	}
}
