package vqvae

import (
	"context"
	"fmt"
	"math"

	"github.com/vqgen/vqgen/configs"
	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/progress"
	"github.com/vqgen/vqgen/internal/trainloop"
	"github.com/vqgen/vqgen/nn"
)

// Files a training run writes into its directory.
const (
	BestFile = "vqvae.safetensors" // best on validation: the model later stages use
	LastFile = "last.safetensors"  // everything needed to resume
)

// metaBestMSE is the last checkpoint's best validation MSE.
const metaBestMSE = "vqgen.best_mse"

// ErrNonFinite reports a NaN or Inf loss; training stops and the last good
// checkpoint stays.
var ErrNonFinite = trainloop.ErrNonFinite

// Trainer trains a VQ-VAE with Adam and the configured codebook rule. The
// shared training loop (schedule, validation, checkpoints, resume, metrics)
// is the embedded Loop; the Trainer is its Task: a step and an evaluation.
type Trainer struct {
	*trainloop.Loop
	Cfg        *configs.Config
	Model      *Model
	Train, Val *datasets.Dataset
	// LastEval is the latest validation score.
	LastEval *Eval

	params  []*nn.Param
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
	t := &Trainer{Cfg: cfg, Model: m, Train: train, Val: val, batcher: b}
	t.Loop = &trainloop.Loop{
		Task: t, Opt: nn.NewAdam(0.9, 0.999, 1e-8, 0), Dir: dir, BestFile: BestFile, LastFile: LastFile, BestKey: metaBestMSE,
		Schedule: trainloop.Schedule{Steps: tc.Steps, Warmup: tc.Warmup, LR: tc.LR, LRMin: tc.LRMin, GradClip: tc.GradClip,
			EvalEvery: tc.EvalEvery, CheckpointEvery: tc.CheckpointEvery, LogEvery: tc.LogEvery},
		Name: "vqvae", Item: "img", Batch: tc.Batch, RateKey: "img_per_s",
		Show: []trainloop.Show{{Key: "loss", Label: "loss"}, {Key: "recon", Label: "recon"}, {Key: "vq", Label: "vq"},
			{Key: "batch_perplexity", Label: "ppl"}, {Key: "dead", Label: "dead"}},
		Charts: []trainloop.Chart{
			{File: "loss.png", Title: "VQ-VAE training loss", YLabel: "loss", Keys: []string{"loss", "recon", "vq"}, LogY: true},
			{File: "psnr.png", Title: "Validation PSNR", YLabel: "dB", Keys: []string{"val_psnr_db"}},
			{File: "perplexity.png", Title: "Codebook perplexity", YLabel: "perplexity", Keys: []string{"batch_perplexity", "val_perplexity"}},
		},
		Best: math.Inf(1),
	}
	if resume {
		if err := t.Resume(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Run trains until the configured number of steps (see trainloop.Loop.Run),
// after initialising the codebook from data on a fresh start.
func (t *Trainer) Run(ctx context.Context, prog progress.Reporter) error {
	if t.Step == 0 && t.Cfg.VQVAE.DataInit {
		t.dataInit()
	}
	return t.Loop.Run(ctx, prog)
}

// Params are the optimizer's: with EMA codebook updates the codebook is
// not among them.
func (t *Trainer) Params() []*nn.Param {
	if t.params == nil {
		t.params = t.Model.Params()
		if t.Model.VQ.EMA {
			t.params = append(t.Model.Enc.Params(), t.Model.Dec.Params()...)
		}
	}
	return t.params
}

// Forward reconstructs the next batch: the loss is the reconstruction MSE
// plus the quantizer's codebook and commitment terms.
func (t *Trainer) Forward(int) (float32, trainloop.Record) {
	t.nextBatch()
	m := t.Model
	q, vqLoss := m.VQ.Forward(m.Enc.Forward(t.x))
	recon := t.mse.Forward(m.Dec.Forward(q), t.x)
	loss := recon + vqLoss
	return loss, trainloop.Record{progress.F("loss", loss), progress.F("recon", recon), progress.F("vq", vqLoss)}
}

// Backward runs the straight-through gradient back to the encoder.
func (t *Trainer) Backward() {
	m := t.Model
	nn.ZeroGrad(t.Params())
	m.Enc.Backward(m.VQ.Backward(m.Dec.Backward(t.mse.Backward())))
}

// AfterUpdate moves the codebook's averages, measures this batch's code
// usage and restarts dead codes.
func (t *Trainer) AfterUpdate(done int) trainloop.Record {
	cfg := t.Cfg.VQVAE
	m := t.Model
	step := int64(done)
	m.VQ.UpdateEMA(step)
	if len(t.hist) != cfg.K {
		t.hist = make([]int64, cfg.K)
	}
	clear(t.hist)
	for _, c := range m.VQ.Indices() {
		t.hist[c]++
	}
	perplexity, used := Usage(t.hist)
	dead, restarted := 0, 0
	if cfg.RestartDead {
		for _, last := range m.VQ.LastUsed {
			if step-last >= int64(cfg.DeadAfter) {
				dead++
			}
		}
		restarted = m.VQ.RestartDead(step, int64(cfg.DeadAfter), nn.NewRNG(t.Cfg.Seed^uint64(step)*0x9e3779b97f4a7c15))
	}
	return trainloop.Record{progress.F("batch_perplexity", perplexity), progress.F("batch_codes_used", used),
		progress.F("dead", dead), progress.F("restarted", restarted)}
}

// Evaluate scores reconstructions of the first eval_images validation
// images; the MSE chooses the best model.
func (t *Trainer) Evaluate() (float64, trainloop.Record, string) {
	e := t.Model.Evaluate(t.Val, t.Cfg.VQVAE.Train.EvalImages, 250)
	t.LastEval = &e
	rec := trainloop.Record{progress.F("val_mse", e.MSE), progress.F("val_psnr_db", e.PSNR),
		progress.F("val_perplexity", e.Perplexity), progress.F("val_codes_used", e.CodesUsed)}
	return e.MSE, rec, fmt.Sprintf("validation MSE %.5f, PSNR %.2f dB, perplexity %.1f, codes used %d/%d", e.MSE, e.PSNR, e.Perplexity, e.CodesUsed, e.K)
}

// SaveBest writes the model with its config.
func (t *Trainer) SaveBest(path string, step int) error { return t.Model.Save(path, t.Cfg, step, nil) }

// State is the model's tensors, the batch order and the identity of the
// run, for the last checkpoint.
func (t *Trainer) State() ([]nn.NamedTensor, map[string]string, error) {
	s, err := t.Cfg.Encode()
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{MetaKind: "vqvae", MetaFingerprint: t.Model.FingerprintHex(), MetaConfig: string(s)}
	t.batcher.State().PutMeta(meta)
	return t.Model.State(), meta, nil
}

// Restore reads State's part back, refusing a checkpoint of another model
// or data.
func (t *Trainer) Restore(f *nn.SafetensorsFile) error {
	path := f.Path
	saved, err := configs.Parse([]byte(f.Metadata[MetaConfig]), path+" (stored config)")
	if err != nil {
		return err
	}
	if saved.VQVAE != t.Cfg.VQVAE || saved.Data != t.Cfg.Data || saved.Seed != t.Cfg.Seed {
		return fmt.Errorf("%s was trained with a different [vqvae], [data] or seed than the config given now: %w", path, trainloop.ErrConfigChanged)
	}
	if err := t.Model.SetState(f); err != nil {
		return err
	}
	bs, err := datasets.BatcherStateFromMeta(f.Metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
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
