package main

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
)

// vqgen run on an unlabelled folder with prior.conditional = true stops
// before anything is trained or written, naming both keys.
func TestRunRefusesConditionalPriorOnUnlabelledFolder(t *testing.T) {
	base := t.TempDir()
	photos := filepath.Join(base, "photos")
	os.MkdirAll(photos, 0o755)
	for i := range 30 {
		img := image.NewNRGBA(image.Rect(0, 0, 10, 8))
		for j := range img.Pix {
			img.Pix[j] = uint8(i + j)
		}
		f, err := os.Create(filepath.Join(photos, fmt.Sprintf("p%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data = configs.Data{Train: "images:" + photos, Test: "images:" + photos, ValCount: 5, ImageSize: 8, Channels: 3, Labels: "none"}
	cfg.VQVAE.Train.Batch, cfg.VQVAE.Train.EvalImages, cfg.Prior.ValCount = 8, 5, 5
	cfg.Prior.Conditional = configs.SwitchOn
	b, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(base, "photos.toml")
	os.WriteFile(conf, b, 0o644)
	out := filepath.Join(base, "run")
	msg, err := vqgen(t, "run", "--config", conf, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "prior.conditional = true") || !strings.Contains(err.Error(), "data.train = images:"+photos+" has no labels") {
		t.Fatalf("vqgen run: %v\n%s", err, msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the refused run left a folder behind")
	}
}

// codes inspect shows the first and last key, and --keys lists them all.
func TestInspectShowsKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.vqc")
	w, err := datasets.CreateCodeFile(path, datasets.CodeHeader{GridH: 2, GridW: 2, K: 8, ImageH: 8, ImageW: 8, Channels: 3, Keys: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"2024/a.jpg", "2024/b.jpg", "2025/c.jpg"} {
		if err := w.WriteKeyed([]uint16{uint16(i), 1, 2, 3}, datasets.CodeNoLabel, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out := mustVqgen(t, "codes", "inspect", path); !strings.Contains(out, `"2024/a.jpg" ... "2025/c.jpg"`) {
		t.Fatalf("inspect output lacks the key range:\n%s", out)
	}
	if out := mustVqgen(t, "codes", "inspect", path, "--keys"); !strings.Contains(out, "1      2024/b.jpg") && !strings.Contains(out, "1\t2024/b.jpg") {
		t.Fatalf("inspect --keys lacks a key line:\n%s", out)
	}
}
