package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/metrics"
	"github.com/vqgen/vqgen/nn"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

var trainCmd = &cobra.Command{
	Use:   "train",
	Short: "Train a model: the VQ-VAE (stage one) or a prior over its codes (stage two)",
}

func init() {
	var f runDirFlags
	cmd := &cobra.Command{
		Use:   "vqvae",
		Short: "Train the stage-one VQ-VAE",
		Long: `Train the VQ-VAE that turns images into grids of codebook indices.

Every eval_every steps the model is scored on the validation split (carved
from the end of the training split; the test split is never used to choose).
The best model so far is DIR/vqvae.safetensors, the model later stages use;
DIR/last.safetensors holds everything needed to resume. Ctrl-C saves a
checkpoint before exiting.

DIR also gets metrics.jsonl, the resolved config.toml, loss.png, psnr.png,
perplexity.png and recon.png (validation originals above, reconstructions
below).`,
		Example: `  vqgen train vqvae --config configs/mnist.toml --out runs/mnist
  vqgen train vqvae --config configs/tiny.toml --out /tmp/tiny --force
  vqgen train vqvae --out runs/mnist --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := trainVQVAE(cmd, &f)
			return err
		},
	}
	f.register(cmd, "runs/vqvae")
	trainCmd.AddCommand(cmd)
	rootCmd.AddCommand(trainCmd)
}

func trainVQVAE(cmd *cobra.Command, f *runDirFlags) (*vqvae.Eval, error) {
	cfg, err := loadConfig(f.config)
	if err != nil {
		return nil, err
	}
	resume, err := f.prepare(vqvae.LastFile)
	if err != nil {
		return nil, err
	}
	_, facts, err := vqvae.CheckData(cfg)
	if err != nil {
		return nil, err
	}
	gcForData(vqvae.PixelBytes(cfg, facts))
	train, val, _, err := vqvae.LoadData(cfg, dataOptions(cmd, f.out))
	if err != nil {
		return nil, err
	}
	tr, err := vqvae.NewTrainer(cfg, train, val, f.out, resume)
	if err != nil {
		return nil, err
	}
	if err := writeResolvedConfig(f.out, cfg); err != nil {
		return nil, err
	}
	log, err := openMetrics(f.out, resume, tr.Step)
	if err != nil {
		return nil, err
	}
	defer log.Close()

	out := cmd.ErrOrStderr()
	tc := cfg.VQVAE.Train
	if resume {
		fmt.Fprintf(out, "resuming %s at step %d of %d\n", f.out, tr.Step, tc.Steps)
	}
	fmt.Fprintf(out, "training VQ-VAE on %s (%d images, %d for validation): K=%d, d=%d, %d steps of %d\n",
		cfg.Data.Train, train.N, val.N, cfg.VQVAE.K, cfg.VQVAE.D, tc.Steps, tc.Batch)
	ctx, stop := signalContext()
	defer stop()
	bar := newProgress(out, "vqvae", tc.Steps)
	bar.setRate(tc.Batch, "img")
	if tc.LogEvery > 0 {
		bar.every = tc.LogEvery
	}
	var last *vqvae.Eval
	var logErr error
	err = tr.Run(ctx, func(e vqvae.Event) {
		bar.Update(e.Step, kv("loss", e.Loss), kv("recon", e.Recon), kv("vq", e.VQ), kv("ppl", e.Perplexity), kv("dead", e.Dead))
		if tc.LogEvery > 0 && e.Step%tc.LogEvery == 0 || e.Eval != nil {
			rec := map[string]any{"step": e.Step, "loss": e.Loss, "recon": e.Recon, "vq": e.VQ,
				"batch_perplexity": e.Perplexity, "batch_codes_used": e.CodesUsed, "dead": e.Dead,
				"restarted": e.Restarted, "img_per_s": e.ImagesPerSec, "elapsed_s": e.Elapsed.Seconds()}
			if e.Eval != nil {
				rec["val_mse"], rec["val_psnr_db"], rec["val_perplexity"], rec["val_codes_used"] = e.Eval.MSE, e.Eval.PSNR, e.Eval.Perplexity, e.Eval.CodesUsed
			}
			logErr = errors.Join(logErr, log.Write(rec))
		}
		if e.Eval != nil {
			last = e.Eval
			best := ""
			if e.Best {
				best = " (best so far, saved)"
			}
			bar.Printf("step %d: validation MSE %.5f, PSNR %.2f dB, perplexity %.1f, codes used %d/%d%s",
				e.Step, e.Eval.MSE, e.Eval.PSNR, e.Eval.Perplexity, e.Eval.CodesUsed, e.Eval.K, best)
		}
	})
	bar.Done()
	if err != nil {
		return nil, err
	}
	if logErr != nil {
		return nil, fmt.Errorf("writing %s: %w", log.Path(), logErr)
	}
	if _, err := plotMetrics(f.out, []chart{
		{"loss.png", "VQ-VAE training loss", "loss", []string{"loss", "recon", "vq"}, true},
		{"psnr.png", "Validation PSNR", "dB", []string{"val_psnr_db"}, false},
		{"perplexity.png", "Codebook perplexity", "perplexity", []string{"batch_perplexity", "val_perplexity"}, false},
	}); err != nil {
		return nil, err
	}
	best, _, err := vqvae.Load(filepath.Join(f.out, vqvae.BestFile))
	if err != nil {
		return nil, err
	}
	if err := writeRecon(best, val, 16, filepath.Join(f.out, "recon.png")); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "done: %s (best on validation), plots and recon.png in %s\n", filepath.Join(f.out, vqvae.BestFile), f.out)
	_ = metrics.FileName
	return last, nil
}

// writeRecon saves n originals of ds in one row and their reconstructions
// in the row below.
func writeRecon(m *vqvae.Model, ds *datasets.Dataset, n int, path string) error {
	n = min(n, ds.N)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x, _ := ds.Batch(idx, nil, nil)
	orig := x.Clone()
	gh, gw := m.GridSize()
	codes := make([]int32, n*gh*gw)
	m.Encode(x, codes)
	rec, err := m.Decode(codes, n)
	if err != nil {
		return err
	}
	both := nn.NewTensor(2*n, ds.C, ds.H, ds.W)
	copy(both.Data, orig.Data)
	copy(both.Data[len(orig.Data):], rec.Data)
	return datasets.WriteTensorGridPNG(path, both, n)
}
