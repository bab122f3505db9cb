package server

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vqgen/vqgen/app"
	"github.com/vqgen/vqgen/configs"
)

// tinyModels trains configs/tiny.toml's VQ-VAE, a conditional prior and an
// unconditional one once per test binary (fewer steps and images, so it
// takes seconds). The env var VQGEN_SERVE_TEST_MODELS names a folder that already
// holds them (the SIGTERM test's child process uses it).
var tiny struct {
	once sync.Once
	dir  string
	err  error
}

type tinyPaths struct{ vq, prior, uncond string }

func tinyModels(t testing.TB) tinyPaths {
	t.Helper()
	tiny.once.Do(func() {
		if d := os.Getenv("VQGEN_SERVE_TEST_MODELS"); d != "" {
			tiny.dir = d
			return
		}
		tiny.dir, tiny.err = os.MkdirTemp("", "vqgen-serve-test-")
		if tiny.err == nil {
			tiny.err = trainTiny(tiny.dir)
		}
	})
	if tiny.err != nil {
		t.Fatalf("training the tiny models: %v", tiny.err)
	}
	d := tiny.dir
	return tinyPaths{filepath.Join(d, app.VQVAEFile), filepath.Join(d, app.PriorFile), filepath.Join(d, "uncond", app.PriorFile)}
}

// trainTiny trains through package app, as `vqgen train` does, into dir
// laid out as a run folder (vqvae.safetensors and prior.safetensors side
// by side, as the SIGTERM test's child opens them); the unconditional
// prior goes to dir/uncond.
func trainTiny(dir string) error {
	cfg, err := app.LoadConfig("tiny")
	if err != nil {
		return err
	}
	cfg.Data.TrainLimit, cfg.Data.ValCount, cfg.Data.TestLimit = 800, 200, 100
	cfg.Prior.ValCount = 200
	cfg.VQVAE.Train.Steps, cfg.VQVAE.Train.EvalEvery, cfg.VQVAE.Train.CheckpointEvery = 20, 10, 10
	cfg.Prior.Train.Steps, cfg.Prior.Train.EvalEvery, cfg.Prior.Train.CheckpointEvery = 20, 10, 10
	ctx := context.Background()
	stage1 := filepath.Join(dir, "stage1")
	if _, err := app.TrainVQVAE(ctx, app.TrainVQVAEOptions{Loaded: cfg, TrainFolder: app.TrainFolder{Out: stage1}}, nil); err != nil {
		return err
	}
	vq := filepath.Join(dir, app.VQVAEFile)
	if err := os.Rename(filepath.Join(stage1, app.VQVAEFile), vq); err != nil {
		return err
	}
	codes := filepath.Join(dir, app.CodesTrainFile)
	if _, err := app.Encode(ctx, app.EncodeOptions{VQVAE: vq, Data: "train", Out: codes}, nil); err != nil {
		return err
	}
	for _, conditional := range []bool{true, false} {
		c := *cfg
		c.Prior.Conditional = configs.Of(conditional)
		out := filepath.Join(dir, "uncond")
		if conditional {
			out = filepath.Join(dir, app.PriorDir)
		}
		if _, err := app.TrainPrior(ctx, app.TrainPriorOptions{Loaded: &c, Codes: codes, TrainFolder: app.TrainFolder{Out: out}}, nil); err != nil {
			return err
		}
	}
	return os.Rename(filepath.Join(dir, app.PriorDir, app.PriorFile), filepath.Join(dir, app.PriorFile))
}

func TestMain(m *testing.M) {
	if os.Getenv("VQGEN_SERVE_CHILD") != "" {
		os.Exit(serveChild())
	}
	code := m.Run()
	if tiny.dir != "" && os.Getenv("VQGEN_SERVE_TEST_MODELS") == "" {
		os.RemoveAll(tiny.dir)
	}
	os.Exit(code)
}
