package server

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// tinyModels trains configs/tiny.toml's VQ-VAE and conditional prior once
// per test binary (fewer steps and images, so it takes seconds), and saves
// an untrained unconditional prior beside them for the checks that need
// one. The env var VQGEN_SERVE_TEST_MODELS names a folder that already
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
	return tinyPaths{filepath.Join(d, vqvae.BestFile), filepath.Join(d, prior.BestFile), filepath.Join(d, "uncond.safetensors")}
}

func trainTiny(dir string) error {
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		return err
	}
	cfg.Data.TrainLimit, cfg.Data.ValCount, cfg.Data.TestLimit = 800, 200, 100
	cfg.Prior.ValCount = 200
	cfg.VQVAE.Train.Steps, cfg.VQVAE.Train.EvalEvery, cfg.VQVAE.Train.CheckpointEvery = 20, 10, 10
	cfg.Prior.Train.Steps, cfg.Prior.Train.EvalEvery, cfg.Prior.Train.CheckpointEvery = 20, 10, 10
	train, val, _, err := vqvae.LoadData(cfg)
	if err != nil {
		return err
	}
	tr, err := vqvae.NewTrainer(cfg, train, val, dir, false)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := tr.Run(ctx, func(vqvae.Event) {}); err != nil {
		return err
	}
	m, _, err := vqvae.Load(filepath.Join(dir, vqvae.BestFile))
	if err != nil {
		return err
	}
	codesPath := filepath.Join(dir, "codes-train.vqc")
	if err := vqvae.EncodeDataset(m, train, codesPath, false, 200, nil); err != nil {
		return err
	}
	codes, err := prior.LoadCodes(codesPath)
	if err != nil {
		return err
	}
	pt, err := prior.NewTrainer(cfg, codes, dir, false)
	if err != nil {
		return err
	}
	if err := pt.Run(ctx, func(prior.Event) {}); err != nil {
		return err
	}
	ucfg := *cfg
	ucfg.Prior.Conditional = false
	info := codes.Info
	info.Classes = 0
	info.Arch = cfg.Prior.Arch
	up, err := prior.New(&ucfg, info, nn.NewRNG(3))
	if err != nil {
		return err
	}
	return prior.Save(filepath.Join(dir, "uncond.safetensors"), up, &ucfg, m.FingerprintHex(), "", 0)
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
