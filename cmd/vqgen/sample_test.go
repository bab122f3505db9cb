package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/datasets"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

func readCodes(t *testing.T, path string) ([]uint16, []int32, datasets.CodeHeader) {
	t.Helper()
	f, err := datasets.OpenCodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, l, err := f.LoadAll()
	if err != nil {
		t.Fatal(err)
	}
	return g, l, f.Header()
}

func sampleTo(t *testing.T, run, out string, seed uint64, class int, extra func(*sampleFlags)) error {
	t.Helper()
	f := &sampleFlags{vq: filepath.Join(run, "vqvae.safetensors"), prior: filepath.Join(run, "prior.safetensors"), n: 12,
		out: out + ".png", codes: out + ".vqc"}
	f.temperature, f.topP, f.seed, f.class = 1, 1, seed, class
	if extra != nil {
		extra(f)
	}
	cmd, _ := testCmd()
	return runSample(cmd, f)
}

func TestSampleSameSeedSameImages(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	for _, name := range []string{"a", "b"} {
		if err := sampleTo(t, run, filepath.Join(tmp, name), 7, -1, func(f *sampleFlags) {
			f.each = filepath.Join(tmp, name+"-each")
			if name == "b" {
				f.batch = 5 // batching must not change the draw
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sampleTo(t, run, filepath.Join(tmp, "c"), 8, -1, nil); err != nil {
		t.Fatal(err)
	}
	pa, _ := os.ReadFile(filepath.Join(tmp, "a.png"))
	pb, _ := os.ReadFile(filepath.Join(tmp, "b.png"))
	if len(pa) == 0 || !bytes.Equal(pa, pb) {
		t.Errorf("same seed, different sample grids (%d and %d bytes)", len(pa), len(pb))
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
	for i := range 12 {
		for _, d := range []string{"a-each", "b-each"} {
			if _, err := os.Stat(filepath.Join(tmp, d, eachName(i))); err != nil {
				t.Errorf("--save-each: %v", err)
			}
		}
	}
	e0, _ := os.ReadFile(filepath.Join(tmp, "a-each", eachName(3)))
	e1, _ := os.ReadFile(filepath.Join(tmp, "b-each", eachName(3)))
	if !bytes.Equal(e0, e1) {
		t.Errorf("--save-each files differ for the same seed")
	}
}

func TestSampleClass(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	if err := sampleTo(t, run, filepath.Join(tmp, "three"), 1, 3, nil); err != nil {
		t.Fatal(err)
	}
	_, labels, _ := readCodes(t, filepath.Join(tmp, "three.vqc"))
	for i, l := range labels {
		if l != 3 {
			t.Fatalf("sample %d has class %d, want 3", i, l)
		}
	}
	// Without --class the classes are drawn; 12 grids cover all ten.
	if err := sampleTo(t, run, filepath.Join(tmp, "any"), 1, -1, nil); err != nil {
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

func TestSampleErrors(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	existing := filepath.Join(tmp, "old")
	os.WriteFile(existing+".png", []byte("keep me"), 0o644)
	cases := []struct {
		name, out string
		class     int
		set       func(*sampleFlags)
		want      string
	}{
		{"existing out", existing, -1, nil, "--force"},
		{"class too big", filepath.Join(tmp, "x1"), 10, nil, "--class 10"},
		{"bad temperature", filepath.Join(tmp, "x2"), -1, func(f *sampleFlags) { f.temperature = 0 }, "--temperature"},
		{"bad top-p", filepath.Join(tmp, "x3"), -1, func(f *sampleFlags) { f.topP = 1.5 }, "--top-p"},
		{"negative guidance", filepath.Join(tmp, "x7"), -1, func(f *sampleFlags) { f.guidance = -1 }, "--guidance -1: want a finite value >= 0"},
		{"n zero", filepath.Join(tmp, "x4"), -1, func(f *sampleFlags) { f.n = 0 }, "--n"},
		{"missing prior", filepath.Join(tmp, "x5"), -1, func(f *sampleFlags) { f.prior = filepath.Join(tmp, "none.safetensors") }, "none.safetensors"},
		{"prior as vqvae", filepath.Join(tmp, "x6"), -1, func(f *sampleFlags) { f.vq = f.prior }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sampleTo(t, run, c.out, 1, c.class, c.set)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if b, _ := os.ReadFile(existing + ".png"); string(b) != "keep me" {
		t.Errorf("the existing output was overwritten")
	}
	// --force replaces it.
	if err := sampleTo(t, run, existing, 1, -1, func(f *sampleFlags) { f.force = true }); err != nil {
		t.Fatal(err)
	}
}

// TestSampleGuidance: --guidance 1 draws what the plain prior draws, 2
// draws something else from the same seed, and an unconditional prior
// refuses any weight but the off values.
func TestSampleGuidance(t *testing.T) {
	run, _ := sharedRun(t)
	tmp := t.TempDir()
	for _, c := range []struct {
		name string
		w    float64
	}{{"off", 0}, {"one", 1}, {"two", 2}} {
		if err := sampleTo(t, run, filepath.Join(tmp, c.name), 5, 3, func(f *sampleFlags) { f.guidance = c.w }); err != nil {
			t.Fatalf("--guidance %g: %v", c.w, err)
		}
	}
	off, _, _ := readCodes(t, filepath.Join(tmp, "off.vqc"))
	one, _, _ := readCodes(t, filepath.Join(tmp, "one.vqc"))
	two, _, _ := readCodes(t, filepath.Join(tmp, "two.vqc"))
	if !slices.Equal(off, one) {
		t.Errorf("--guidance 1 drew other codes than the plain prior")
	}
	if slices.Equal(one, two) {
		t.Errorf("--guidance 2 drew the same codes as --guidance 1")
	}
	for _, c := range []struct {
		info prior.Info
		w    float64
		want string // "" for no error
	}{
		{prior.Info{K: 4, H: 2, W: 2}, 1, ""},
		{prior.Info{K: 4, H: 2, W: 2}, 2, "--guidance 2: the prior is unconditional"},
		{prior.Info{K: 4, H: 2, W: 2, Classes: 3}, 2, ""},
		{prior.Info{K: 4, H: 2, W: 2, Classes: 3}, math.Inf(1), "--guidance +Inf: want a finite value >= 0"},
	} {
		_, err := guidanceFor(c.info, c.w)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("guidanceFor(classes %d, %g): %v, want %q", c.info.Classes, c.w, err, c.want)
		}
	}
}
