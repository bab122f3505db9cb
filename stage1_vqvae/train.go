package vqvae

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/trainloop"
	"github.com/vqgen/vqgen/nn"
)

// Files a training run writes into its directory.
const (
	BestFile = "vqvae.safetensors" // best on validation: the model later stages use
	LastFile = "last.safetensors"  // everything needed to resume
)

// Event is what the training loop reports after each step; Eval is set on
// the steps that ran a validation pass.
type Event struct {
	Step, Steps     int
	Loss, Recon, VQ float32
	Perplexity      float64 // of this batch's codes
	CodesUsed       int     // in this batch
	Dead            int     // codes unused for dead_after steps before this step's restarts
	Restarted       int     // codes moved by this step's restarts
	ImagesPerSec    float64 // since the run (or resume) started
	Eval            *Eval
	Best            bool // this evaluation is the best so far and was saved
	CheckpointSaved bool
	Elapsed         time.Duration
}

// Trainer trains a VQ-VAE with Adam and the configured codebook rule.
type Trainer struct {
	Cfg        *configs.Config
	Dir        string
	Model      *Model
	Opt        *nn.Adam
	Train, Val *datasets.Dataset
	Step       int
	BestMSE    float64

	batcher *datasets.Batcher
	x       *nn.Tensor
	mse     nn.MSE
	hist    []int64 // this step's code counts, reused
}

// NewTrainer builds a fresh model for cfg, or with resume restores the
// state in dir/last.safetensors.
func NewTrainer(cfg *configs.Config, train, val *datasets.Dataset, dir string, resume bool) (*Trainer, error) {
	if train.C != cfg.Data.Channels || train.H != cfg.Data.ImageSize || train.W != cfg.Data.ImageSize {
		return nil, fmt.Errorf("%s has %dx%dx%d images, the config wants data.channels = %d, data.image_size = %d",
			train.Name, train.C, train.H, train.W, cfg.Data.Channels, cfg.Data.ImageSize)
	}
	tc := cfg.VQVAE.Train
	rng := nn.NewRNG(cfg.Seed)
	m, err := New(cfg.VQVAE, cfg.Data, rng)
	if err != nil {
		return nil, err
	}
	b, err := datasets.NewBatcher(train.N, tc.Batch, cfg.Seed, true)
	if err != nil {
		return nil, fmt.Errorf("vqvae.train.batch: %w", err)
	}
	t := &Trainer{Cfg: cfg, Dir: dir, Model: m, Opt: nn.NewAdam(0.9, 0.999, 1e-8, 0), Train: train, Val: val,
		batcher: b, BestMSE: math.Inf(1)}
	if resume {
		if err := t.restore(filepath.Join(dir, LastFile)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Trainer) params() []*nn.Param {
	if t.Model.VQ.EMA {
		return append(t.Model.Enc.Params(), t.Model.Dec.Params()...)
	}
	return t.Model.Params()
}

// saveLast writes the full training state atomically.
func (t *Trainer) saveLast() error {
	ts := t.Model.State()
	opt, meta := t.Opt.State()
	ts = append(ts, opt...)
	t.batcher.State().PutMeta(meta)
	meta["vqgen.best_mse"] = strconv.FormatFloat(t.BestMSE, 'g', -1, 64)
	meta[MetaKind] = "vqvae"
	meta[MetaStep] = strconv.Itoa(t.Step)
	meta[MetaFingerprint] = t.Model.FingerprintHex()
	s, err := t.Cfg.Encode()
	if err != nil {
		return err
	}
	meta[MetaConfig] = string(s)
	return nn.SaveSafetensors(filepath.Join(t.Dir, LastFile), ts, meta)
}

func (t *Trainer) restore(path string) error {
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	saved, err := configs.Parse([]byte(f.Metadata[MetaConfig]), path+" (stored config)")
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if saved.VQVAE != t.Cfg.VQVAE || saved.Data != t.Cfg.Data || saved.Seed != t.Cfg.Seed {
		return fmt.Errorf("resume: %s was trained with a different [vqvae], [data] or seed than the config given now: %w", path, trainloop.ErrConfigChanged)
	}
	if err := t.Model.SetState(f); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if err := t.Opt.LoadState(t.params(), f.Tensors(), f.Metadata); err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if t.Step, err = strconv.Atoi(f.Metadata[MetaStep]); err != nil {
		return fmt.Errorf("resume: %s: metadata %s = %q is not an integer", path, MetaStep, f.Metadata[MetaStep])
	}
	bs, err := datasets.BatcherStateFromMeta(f.Metadata)
	if err != nil {
		return fmt.Errorf("resume: %s: %w", path, err)
	}
	if t.BestMSE, err = strconv.ParseFloat(f.Metadata["vqgen.best_mse"], 64); err != nil {
		return fmt.Errorf("resume: %s: metadata vqgen.best_mse = %q is not a number", path, f.Metadata["vqgen.best_mse"])
	}
	return t.batcher.Restore(bs)
}

// dataInit runs the encoder over the first init_batches training batches
// (in the batcher's order, without consuming it) and sets the codebook by
// k-means over the vectors.
func (t *Trainer) dataInit() {
	cfg := t.Cfg.VQVAE
	probe, _ := datasets.NewBatcher(t.Train.N, cfg.Train.Batch, t.Cfg.Seed, true)
	var rows []float32
	for i := 0; i < cfg.InitBatches; i++ {
		idx, _ := probe.Next()
		t.x, _ = t.Train.Batch(idx, t.x, nil)
		shift(t.x)
		z := t.Model.Enc.Forward(t.x)
		t.Model.VQ.toRows(z)
		rows = append(rows, t.Model.VQ.flat...)
	}
	t.Model.VQ.InitKMeans(rows, cfg.InitKMeansIters, nn.NewRNG(t.Cfg.Seed^0x6b6d65616e73))
}

// ErrNonFinite reports a NaN or Inf loss; training stops and the last good
// checkpoint stays.
var ErrNonFinite = trainloop.ErrNonFinite

// Run trains until the configured number of steps, reporting each step.
// When ctx is cancelled it saves a checkpoint and returns ctx's error.
func (t *Trainer) Run(ctx context.Context, report func(Event)) error {
	cfg := t.Cfg.VQVAE
	tc := cfg.Train
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return err
	}
	if t.Step == 0 && cfg.DataInit {
		t.dataInit()
	}
	params := t.params()
	start, startStep := time.Now(), t.Step
	for t.Step < tc.Steps {
		if err := ctx.Err(); err != nil {
			if serr := t.saveLast(); serr != nil {
				return errors.Join(err, serr)
			}
			return fmt.Errorf("%w at step %d; state saved to %s: %w", trainloop.ErrInterrupted, t.Step, filepath.Join(t.Dir, LastFile), err)
		}
		idx, _ := t.batcher.Next()
		t.x, _ = t.Train.Batch(idx, t.x, nil)
		shift(t.x)

		m := t.Model
		z := m.Enc.Forward(t.x)
		q, vqLoss := m.VQ.Forward(z)
		xr := m.Dec.Forward(q)
		recon := t.mse.Forward(xr, t.x)
		loss := recon + vqLoss
		if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
			return fmt.Errorf("step %d: %w (reconstruction %v, vq %v); the last good checkpoint is %s",
				t.Step+1, ErrNonFinite, recon, vqLoss, filepath.Join(t.Dir, LastFile))
		}
		nn.ZeroGrad(params)
		m.Enc.Backward(m.VQ.Backward(m.Dec.Backward(t.mse.Backward())))
		if tc.GradClip > 0 {
			nn.ClipGradNorm(params, float32(tc.GradClip))
		}
		lr := nn.WarmupCosine(t.Step, tc.Warmup, tc.Steps, float32(tc.LR), float32(tc.LRMin))
		t.Opt.Step(params, lr)

		t.Step++
		step := int64(t.Step)
		m.VQ.UpdateEMA(step)
		ev := Event{Step: t.Step, Steps: tc.Steps, Loss: loss, Recon: recon, VQ: vqLoss}
		if len(t.hist) != cfg.K {
			t.hist = make([]int64, cfg.K)
		}
		clear(t.hist)
		for _, c := range m.VQ.Indices() {
			t.hist[c]++
		}
		ev.Perplexity, ev.CodesUsed = Usage(t.hist)
		if cfg.RestartDead {
			for _, last := range m.VQ.LastUsed {
				if step-last >= int64(cfg.DeadAfter) {
					ev.Dead++
				}
			}
			ev.Restarted = m.VQ.RestartDead(step, int64(cfg.DeadAfter), nn.NewRNG(t.Cfg.Seed^uint64(step)*0x9e3779b97f4a7c15))
		}
		ev.Elapsed = time.Since(start)
		ev.ImagesPerSec = float64((t.Step-startStep)*tc.Batch) / ev.Elapsed.Seconds()

		last := t.Step == tc.Steps
		if (tc.EvalEvery > 0 && t.Step%tc.EvalEvery == 0) || last {
			e := m.Evaluate(t.Val, tc.EvalImages, 250)
			ev.Eval = &e
			if e.MSE < t.BestMSE {
				t.BestMSE = e.MSE
				ev.Best = true
				if err := m.Save(filepath.Join(t.Dir, BestFile), t.Cfg, t.Step, nil); err != nil {
					return err
				}
			}
		}
		if (tc.CheckpointEvery > 0 && t.Step%tc.CheckpointEvery == 0) || last {
			if err := t.saveLast(); err != nil {
				return err
			}
			ev.CheckpointSaved = true
		}
		if report != nil {
			report(ev)
		}
	}
	return nil
}
