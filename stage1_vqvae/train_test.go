package vqvae

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/internal/trainloop"
	"github.com/vqgen/vqgen/nn"
)

func tinyConfig(t *testing.T) *configs.Config {
	t.Helper()
	cfg, err := configs.Builtin("tiny")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func trainTiny(t *testing.T, cfg *configs.Config, dir string, resume bool, stopAfter int) (*Trainer, []trainloop.Step, error) {
	t.Helper()
	train, val, _, err := LoadData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(cfg, train, val, dir, resume)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var evs []trainloop.Step
	tr.OnStep = func(s trainloop.Step) {
		evs = append(evs, s)
		if s.N == stopAfter {
			cancel()
		}
	}
	return tr, evs, tr.Run(ctx, nil)
}

// value is the named value of a step's record.
func value(t *testing.T, rec trainloop.Record, key string) float64 {
	t.Helper()
	for _, f := range rec {
		if f.Key == key {
			switch v := f.Value.(type) {
			case float32:
				return float64(v)
			case float64:
				return v
			case int:
				return float64(v)
			}
		}
	}
	t.Fatalf("no %s in %v", key, rec)
	return 0
}

func TestTinyTrainingLossFalls(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.VQVAE.Train.Steps = 60
	cfg.VQVAE.Train.LR = 2e-3 // the tiny model learns slowly at the real model's rate
	mean := func(es []trainloop.Step) float64 {
		var s float64
		for _, e := range es {
			s += value(t, e.Rec, "recon")
		}
		return s / float64(len(es))
	}
	tr, evs, err := trainTiny(t, cfg, t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	first, last := mean(evs[:5]), mean(evs[len(evs)-5:])
	t.Logf("reconstruction loss: first 5 steps %.4f, last 5 %.4f; final eval %+v", first, last, tr.LastEval)
	if !(last < 0.7*first) {
		t.Fatalf("loss did not fall: %.4f -> %.4f", first, last)
	}
	if evs[len(evs)-1].Eval == nil || tr.LastEval == nil || tr.LastEval.CodesUsed < 4 {
		t.Fatalf("final evaluation missing or codebook collapsed: %+v", tr.LastEval)
	}
}

// Interrupting training and resuming from the checkpoint gives the same bits
// as an uninterrupted run.
func TestResumeIsBitIdentical(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.VQVAE.Train.Steps = 24
	cfg.VQVAE.Train.CheckpointEvery = 0
	straight, _, err := trainTiny(t, cfg, t.TempDir(), false, -1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, _, err := trainTiny(t, cfg, dir, false, 11); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v, want context.Canceled", err)
	}
	resumed, evs, err := trainTiny(t, cfg, dir, true, -1)
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].N != 12 {
		t.Fatalf("resumed at step %d, want 12", evs[0].N)
	}
	a, b := straight.Model.State(), resumed.Model.State()
	for i := range a {
		for j, v := range a[i].Tensor.Data {
			if math.Float32bits(v) != math.Float32bits(b[i].Tensor.Data[j]) {
				t.Fatalf("%s[%d]: straight %v, resumed %v", a[i].Name, j, v, b[i].Tensor.Data[j])
			}
		}
	}
}

func TestNaNStopsTraining(t *testing.T) {
	cfg := tinyConfig(t)
	train, val, _, err := LoadData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(cfg, train, val, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	tr.Model.Dec.Params()[0].Data.Data[0] = float32(math.NaN())
	err = tr.Run(context.Background(), nil)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("got %v, want ErrNonFinite", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	cfg := tinyConfig(t)
	m, err := New(cfg.VQVAE, cfg.Data, nn.NewRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, cfg, 7, nil); err != nil {
		t.Fatal(err)
	}
	got, gotCfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.FingerprintHex() != m.FingerprintHex() || gotCfg.VQVAE != cfg.VQVAE {
		t.Fatalf("round trip changed the model")
	}
	// A different model under the same names has another fingerprint.
	other, _ := New(cfg.VQVAE, cfg.Data, nn.NewRNG(4))
	if other.FingerprintHex() == m.FingerprintHex() {
		t.Fatalf("different weights, same fingerprint")
	}
}

func TestBadDownsampleIsAnError(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Data.ImageSize = 30
	if _, err := New(cfg.VQVAE, cfg.Data, nn.NewRNG(1)); err == nil {
		t.Fatal("image size 30 with downsampling 4 accepted")
	}
}
