package vqvae

import (
	"context"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vqgen/vqgen/configs"
)

func sameState(a, b *Trainer) (string, bool) {
	sa, sb := a.Model.State(), b.Model.State()
	for i := range sa {
		for j, v := range sa[i].Tensor.Data {
			if math.Float32bits(v) != math.Float32bits(sb[i].Tensor.Data[j]) {
				return sa[i].Name, false
			}
		}
	}
	return "", true
}

// With data.flip the training batches are mirrored at random, and a run
// interrupted and resumed draws the same flips: same bits as one that ran
// straight through.
func TestFlipsResumeBitIdentical(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.VQVAE.Train.Steps = 24
	cfg.VQVAE.Train.CheckpointEvery = 0
	plain, _, err := trainTiny(t, cfg, t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Data.Flip = true
	straight, _, err := trainTiny(t, cfg, t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, same := sameState(plain, straight); same {
		t.Fatal("data.flip = true trained the same bits as without flips")
	}
	dir := t.TempDir()
	if _, _, err := trainTiny(t, cfg, dir, false, 9); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v, want context.Canceled", err)
	}
	resumed, evs, err := trainTiny(t, cfg, dir, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].N != 10 {
		t.Fatalf("resumed at step %d, want 10", evs[0].N)
	}
	if name, same := sameState(straight, resumed); !same {
		t.Fatalf("%s differs between the straight and the resumed run", name)
	}
	// A checkpoint made without flips does not resume with them.
	cfg.Data.Flip = false
	if _, err := NewTrainer(cfg, resumed.Train, resumed.Val, dir, true); err == nil || !strings.Contains(err.Error(), "[data]") {
		t.Fatalf("resuming a flipped run without flips: %v", err)
	}
}

// CheckData runs on the files alone, before anything is decoded: an
// unlabelled photo folder with a conditional prior is refused naming both
// keys, "auto" resolves to unconditional, and an unreadable image does not
// matter yet.
func TestCheckDataOnImageFolder(t *testing.T) {
	dir := t.TempDir()
	for i := range 40 {
		img := image.NewNRGBA(image.Rect(0, 0, 12, 9))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*7 + j)
		}
		f, err := os.Create(filepath.Join(dir, "p"+string(rune('a'+i/26))+string(rune('a'+i%26))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
	os.WriteFile(filepath.Join(dir, "zz-broken.png"), []byte("not decoded by CheckData"), 0o644)
	cfg := configs.Default()
	cfg.Data = configs.Data{Train: "images:" + dir, Test: "images:" + dir + ":test", ValCount: 4, ImageSize: 8, Channels: 3, Labels: "folders"}
	cfg.VQVAE.Train.Batch, cfg.VQVAE.Train.EvalImages, cfg.Prior.ValCount = 8, 4, 4
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, _, err := CheckData(cfg)
	if err == nil || !strings.Contains(err.Error(), "prior.conditional = true") || !strings.Contains(err.Error(), "data.train = images:"+dir+" has no labels") {
		t.Fatalf("conditional prior on an unlabelled folder: %v", err)
	}
	cfg.Prior.Conditional = configs.SwitchAuto
	r, _, err := CheckData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Prior.Conditional != configs.SwitchOff {
		t.Fatalf("auto resolved to %v", r.Prior.Conditional)
	}
	cfg.Data.Test = "images:" + filepath.Join(dir, "missing")
	if _, _, err := CheckData(cfg); err == nil || !strings.Contains(err.Error(), "data.test") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing test folder: %v", err)
	}
}
