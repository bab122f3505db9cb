package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
)

// dataFlags registers --data and --test, the data a training uses over the
// config's.
func dataFlags(cmd *cobra.Command, f *app.DataFlags) {
	cmd.Flags().StringVar(&f.Data, "data", "", "training images, a dataset spec over data.train and data.test of the config: images:DIR trains on the folder's hashed 90% and tests on the other 10% (or trains whole, with --test); a split (images:DIR:train, mnist:train) trains on it and tests on the other")
	cmd.Flags().StringVar(&f.Test, "test", "", "test images, a dataset spec over data.test of the config (e.g. images:DIR2, a folder of photographs kept apart)")
}

// folderFlags registers the flags of a training folder.
func folderFlags(cmd *cobra.Command, f *app.TrainFolder, config *string, defaultOut string) {
	cmd.Flags().StringVar(config, "config", app.DefaultConfig, "TOML config file (or a built-in name: "+strings.Join(app.BuiltinConfigs(), ", ")+")")
	cmd.Flags().StringVar(&f.Out, "out", defaultOut, "output folder")
	cmd.Flags().BoolVar(&f.Resume, "resume", false, "continue an interrupted run in --out from its last checkpoint")
	cmd.Flags().BoolVar(&f.Force, "force", false, "delete an earlier run in --out and start over")
	cmd.MarkFlagsMutuallyExclusive("resume", "force")
}

func newRunCmd() *cobra.Command {
	var o app.RunOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the whole pipeline: VQ-VAE, codes, prior, samples, edits, evaluation and a report",
		Long: `run does everything in one folder (--out):

  1. train the VQ-VAE                    vqvae.safetensors, loss/psnr/perplexity/recon PNGs,
                                         test-recon.png
  2. encode the train and test splits    codes-train.vqc, codes-test.vqc
  3. train the prior                     prior/ (its run), prior.safetensors
  4. draw samples                        samples.png, samples-by-class.png (conditional prior),
                                         neighbours.png
  5. edit test images (a 3x3-cell hole)  edits.png
  6. judge [run] eval_samples samples with an MNIST classifier (MNIST only)
  7. write the report                    report.md, report.json

--data names your own images over the config's: --data images:DIR trains on
DIR's hashed 90% and reports on the other 10%, --test images:DIR2 tests on
another folder instead (DIR then trains whole). The photo presets (photos32,
photos64) name no data, so they need --data. The config the folder records
(config.toml) holds the data used: continuing with other data is refused.

The test split is only reported on: stage one's MSE, PSNR and codebook usage
and the prior's bits per image (beside the unigram baseline) are measured on
it after training; test-recon.png shows test images above their
reconstructions. neighbours.png puts each of 16 samples beside its two
nearest training images by pixel distance, so you see whether the prior
draws new images or copies. Reports name images by their files.

report.json records the exact options of every sample set; vqgen sample
with the same --n and --seed and no other flags draws samples.png again,
since its defaults come from the prior's config.

Run it again on the same folder to continue: finished stages (recorded in
run-state.json, with their outputs present) are skipped, an interrupted
training resumes from its last checkpoint. A folder made with another config,
or any other non-empty folder, is refused; --force deletes an earlier run
there and starts over.

configs/tiny.toml runs end to end in well under a minute (images are poor and
the sample evaluation is skipped); the default MNIST config takes about a
quarter of an hour on two cores.`,
		Example: `  vqgen run --out runs/mnist
  vqgen run --config photos64 --data images:Pictures --out runs/photos
  vqgen run --config photos32 --data images:crops --test images:holdout --out runs/photos32
  vqgen run --config configs/tiny.toml --out /tmp/tiny
  vqgen run --config configs/mnist.toml --out runs/mnist --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := app.Run(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if len(r.Ran) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: every stage was already done; report in %s\n", r.Dir, r.Report)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done in %.1fs: report in %s and %s\n", r.Seconds, r.Report, r.JSON)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Config, "config", app.DefaultConfig, "TOML config file (or a built-in name: "+strings.Join(app.BuiltinConfigs(), ", ")+")")
	cmd.Flags().StringVar(&o.Out, "out", "runs/mnist", "output folder")
	cmd.Flags().BoolVar(&o.Force, "force", false, "delete an earlier run in --out and start over")
	dataFlags(cmd, &o.DataFlags)
	return cmd
}

func newTrainVQVAECmd() *cobra.Command {
	var o app.TrainVQVAEOptions
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
  vqgen train vqvae --config photos64 --data images:photos --out runs/photos64
  vqgen train vqvae --config configs/tiny.toml --out /tmp/tiny --force
  vqgen train vqvae --out runs/mnist --resume`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := app.TrainVQVAE(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done: %s (best on validation), plots and recon.png in %s\n", r.Best, o.Out)
			return nil
		},
	}
	folderFlags(cmd, &o.TrainFolder, &o.Config, "runs/vqvae")
	dataFlags(cmd, &o.DataFlags)
	return cmd
}

func newTrainPriorCmd() *cobra.Command {
	var o app.TrainPriorOptions
	cmd := &cobra.Command{
		Use:   "prior",
		Short: "Train the stage-two prior over a code file",
		Long: `Train an autoregressive prior over the code grids of --codes (written by
vqgen encode). --arch overrides prior.arch from the config: pixelcnn (a gated
PixelCNN) or transformer (a small causal Transformer).

The last prior.val_count grids of the file are held out for validation and
model selection (never the test codes). DIR/prior.safetensors is the best
prior on validation, the one the sampler uses; it stores the config, whose
[sample] and [edit] sections become the defaults of vqgen sample and edit.
DIR/prior-last.safetensors holds everything needed to resume. The validation
NLL is reported in bits per code and bits per image next to the unigram
baseline (code frequencies alone), which any prior must beat.

A prior-coded --codes (vqgen encode --prior) is read with the prior that
coded it: --prior, an input here like everywhere else, not the prior being
trained.`,
		Example: `  vqgen train prior --config configs/mnist.toml --codes runs/mnist/codes-train.vqc --arch pixelcnn --out runs/mnist/prior
  vqgen train prior --codes runs/mnist/codes-train.vqc --out runs/mnist/prior --resume
  vqgen train prior --codes codes-train-prior.vqc --prior runs/mnist/prior.safetensors --out runs/prior2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := app.TrainPrior(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "done: %s (best on validation), %.4f bits/code on validation\n", filepath.Join(o.Out, app.PriorFile), r.Val.BitsPerCode)
			return nil
		},
	}
	folderFlags(cmd, &o.TrainFolder, &o.Config, "runs/prior")
	cmd.Flags().StringVar(&o.Codes, "codes", "", "training code file (codes-train.vqc, written by vqgen encode)")
	cmd.Flags().StringVar(&o.Arch, "arch", "", "pixelcnn or transformer (default: prior.arch from the config)")
	cmd.Flags().IntVar(&o.Steps, "steps", 0, "training steps (default: prior.train.steps from the config)")
	priorReadFlag(cmd, &o.Prior, "--codes")
	cmd.MarkFlagRequired("codes")
	return cmd
}
