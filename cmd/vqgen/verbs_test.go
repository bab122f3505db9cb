package main

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/vqgen/vqgen/nn"
)

// sameTensors reports the first tensor of checkpoint a that differs in bits
// from b's ("" when all agree and b has no others).
func sameTensors(t *testing.T, a, b string) string {
	t.Helper()
	fa, err := nn.LoadSafetensors(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := nn.LoadSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := fa.Tensors(), fb.Tensors()
	if len(ta) != len(tb) {
		return "tensor count"
	}
	for name, x := range ta {
		y := tb[name]
		if y == nil || !x.SameShape(y) {
			return name
		}
		for i, v := range x.Data {
			if math.Float32bits(v) != math.Float32bits(y.Data[i]) {
				return name
			}
		}
	}
	return ""
}

// TestVerbByVerbEqualsRun: the verbs with their default flags do what
// `vqgen run` does: the same checkpoint tensors, code files and samples.
func TestVerbByVerbEqualsRun(t *testing.T) {
	run, _ := sharedRun(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	vq, pr := p("vqvae.safetensors"), p("prior/prior.safetensors")
	mustVqgen(t, "train", "vqvae", "--config", "tiny", "--out", dir)
	mustVqgen(t, "encode", "--vqvae", vq, "--out", p("codes-train.vqc"))
	mustVqgen(t, "encode", "--vqvae", vq, "--data", "test", "--out", p("codes-test.vqc"))
	mustVqgen(t, "train", "prior", "--config", "tiny", "--codes", p("codes-train.vqc"), "--out", p("prior"))
	mustVqgen(t, "sample", "--vqvae", vq, "--prior", pr, "--out", p("samples.png"))
	mustVqgen(t, "sample", "--vqvae", vq, "--prior", pr, "--per-class", "2", "--seed", "2", "--out", p("samples-by-class.png"))
	for _, f := range []string{"vqvae.safetensors", "prior/prior.safetensors", "prior.safetensors"} {
		mine := p(f)
		if f == "prior.safetensors" {
			mine = pr
		}
		if diff := sameTensors(t, filepath.Join(run, f), mine); diff != "" {
			t.Errorf("%s: tensor %s differs between vqgen run and the verbs", f, diff)
		}
	}
	for _, f := range []string{"codes-train.vqc", "codes-test.vqc", "samples.png", "samples-by-class.png", "recon.png"} {
		if !sameFile(t, filepath.Join(run, f), p(f)) {
			t.Errorf("%s differs between vqgen run and the verbs", f)
		}
	}
}
