package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCodesMergeSplits: an image folder's train and test splits, encoded
// apart and merged (test first), are byte for byte the file `vqgen encode
// --data images:DIR` writes for the whole folder, keys and labels included,
// because merge orders keyed shards by key.
func TestCodesMergeSplits(t *testing.T) {
	run, _ := sharedRun(t)
	vq := filepath.Join(run, "vqvae.safetensors")
	dir := t.TempDir()
	pics := filepath.Join(dir, "pics")
	for i := range 60 {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for j := range img.Pix {
			img.Pix[j] = uint8((i*37 + j*11) % 251)
		}
		p := filepath.Join(pics, fmt.Sprintf("class%d", i%3), fmt.Sprintf("%02d.png", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, split := range []string{"", "train", "test"} {
		spec, out := "images:"+pics, p("whole.vqc")
		if split != "" {
			spec, out = spec+":"+split, p(split+".vqc")
		}
		mustVqgen(t, "encode", "--vqvae", vq, "--data", spec, "--out", out)
	}
	m := jsonOut(t, "codes", "merge", p("test.vqc"), p("train.vqc"), "--out", p("merged.vqc"), "--json")
	if m["images"] != float64(60) || m["keys"] != true || m["inputs"] != float64(2) {
		t.Errorf("merge says %v", m)
	}
	if !sameFile(t, p("merged.vqc"), p("whole.vqc")) {
		t.Errorf("the merged splits differ from the whole folder's code file")
	}
	if _, err := vqgen(t, "codes", "merge", p("test.vqc"), p("whole.vqc"), "--out", p("dup.vqc")); err == nil {
		t.Errorf("merging shards that share images succeeded")
	}
}

// TestCodesMergePriorCoded: prior-coded shards merge given their prior,
// into a prior-coded file holding the codes of the zstd shards merged; the
// prior is asked for when it is not given.
func TestCodesMergePriorCoded(t *testing.T) {
	run, _ := sharedRun(t)
	pr := filepath.Join(run, "prior.safetensors")
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	zTest, zTrain := filepath.Join(run, "codes-test.vqc"), filepath.Join(run, "codes-train.vqc")
	mustVqgen(t, "codes", "convert", zTest, "--prior", pr, "--out", p("test.vqc"))
	mustVqgen(t, "codes", "convert", zTrain, "--prior", pr, "--out", p("train.vqc"))
	if _, err := vqgen(t, "codes", "merge", p("test.vqc"), p("train.vqc"), "--out", p("m.vqc")); err == nil || !strings.Contains(err.Error(), "--prior") {
		t.Errorf("prior-coded shards without --prior: error %v, want one asking for --prior", err)
	}
	m := jsonOut(t, "codes", "merge", p("test.vqc"), p("train.vqc"), "--prior", pr, "--out", p("m.vqc"), "--json")
	if m["layout"] != "prior" {
		t.Errorf("merged prior-coded shards into layout %v", m["layout"])
	}
	mustVqgen(t, "codes", "merge", zTest, zTrain, "--out", p("z.vqc"))
	mustVqgen(t, "codes", "convert", p("m.vqc"), "--prior", pr, "--out", p("back.vqc"))
	if !sameFile(t, p("back.vqc"), p("z.vqc")) {
		t.Errorf("the merged prior-coded shards, converted back, differ from the zstd shards merged")
	}
}
