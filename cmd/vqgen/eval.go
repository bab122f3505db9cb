package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
)

// table prints rows of tab-separated cells, aligned.
func table(w io.Writer, flags uint, rows ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', flags)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

const dataHelp = "dataset spec (mnist:test, idx:DIR:test, images:DIR:test), or train or test for the VQ-VAE's own splits"

func newEvalVQVAECmd() *cobra.Command {
	var o app.EvalVQVAEOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "vqvae",
		Short: "Measure a VQ-VAE's reconstruction error and codebook usage on a dataset",
		Long: `eval vqvae reconstructs every image of --data and reports the mean squared
error per pixel (pixels in [0, 1]), the PSNR, the perplexity of the code
distribution (K when all codes are used equally) and how many codes occur.`,
		Example: `  vqgen eval vqvae --vqvae runs/mnist/vqvae.safetensors --data mnist:test
  vqgen eval vqvae --vqvae runs/mnist/vqvae.safetensors --data test --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := app.EvalVQVAE(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			return table(cmd.OutOrStdout(), 0,
				fmt.Sprintf("data\t%s (%d images)", o.Data, e.Images),
				fmt.Sprintf("MSE\t%.6f", e.MSE),
				fmt.Sprintf("PSNR\t%.2f dB", e.PSNR),
				fmt.Sprintf("perplexity\t%.1f of K=%d", e.Perplexity, e.K),
				fmt.Sprintf("codes used\t%d of %d (%.1f%%)", e.CodesUsed, e.K, 100*float64(e.CodesUsed)/float64(e.K)))
		},
	}
	cmd.Flags().StringVar(&o.VQVAE, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&o.Data, "data", "test", "images to score: "+dataHelp)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: mse, psnr_db, perplexity, codes_used, k, images")
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "score only the first N images (0 = all)")
	cmd.MarkFlagRequired("vqvae")
	return cmd
}

func newEvalPriorCmd() *cobra.Command {
	var o app.EvalPriorOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "prior",
		Short: "Measure a prior's negative log-likelihood on a code file",
		Long: `eval prior reports the NLL of every grid of --codes under the prior, in bits
per code and bits per image, next to the unigram baseline: the add-one-smoothed
code frequencies of the prior's own training codes (the file the prior
recorded, found beside it or in its run folder, or --train-codes).

Prior-coded code files (vqgen encode --prior) are read with --prior itself,
or with --codes-prior when another prior coded them.`,
		Example: `  vqgen eval prior --prior runs/mnist/prior.safetensors --codes runs/mnist/codes-test.vqc
  vqgen eval prior --prior p.safetensors --codes codes-test.vqc --train-codes codes-train.vqc --json
  vqgen eval prior --prior p.safetensors --codes codes-test-prior.vqc --codes-prior runs/mnist/prior.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := app.EvalPrior(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			return table(cmd.OutOrStdout(), 0,
				fmt.Sprintf("prior\t%s (%s)", o.Prior, r.Arch),
				fmt.Sprintf("codes\t%s (%d grids)", o.Codes, r.Grids),
				fmt.Sprintf("NLL\t%.4f bits/code, %.2f bits/image", r.BitsPerCode, r.BitsPerImage),
				fmt.Sprintf("unigram\t%.2f bits/image (prior is %.1f%% below; fitted on %s)", r.UnigramBitsPerImage, 100*(1-r.BitsPerImage/r.UnigramBitsPerImage), r.TrainCodes))
		},
	}
	cmd.Flags().StringVar(&o.Prior, "prior", "", "prior checkpoint (prior.safetensors)")
	cmd.Flags().StringVar(&o.Codes, "codes", "", "code file to score (e.g. codes-test.vqc)")
	cmd.Flags().StringVar(&o.TrainCodes, "train-codes", "", "the prior's training code file, for the unigram baseline (default: the one the prior recorded)")
	cmd.Flags().StringVar(&o.CodesPrior, "codes-prior", "", "prior that reads prior-coded --codes and --train-codes (default: --prior)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: arch, bits_per_code, bits_per_image, unigram_bits_per_image, grids, train_codes")
	cmd.MarkFlagRequired("prior")
	cmd.MarkFlagRequired("codes")
	return cmd
}

func fmtMetric(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

func newEvalSamplesCmd() *cobra.Command {
	var o app.EvalSamplesOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "samples",
		Short: "Judge generated digits with an MNIST classifier",
		Long: `eval samples judges images with a small MNIST classifier: every .png in
--images (sorted by name), or the images of a dataset spec --data (resized to
28x28 grayscale):

  share_conf_0_9      share of images the judge classifies with >= 90% confidence
  class_entropy_bits  entropy of the predicted digits (3.32 bits: all ten equally often)
  frechet             Frechet distance between the judge's features of the images
                      and of the 10,000 MNIST test digits (lower is closer)
  cond_accuracy       share classified as the requested class: --labels (one 0-9
                      per line, in sorted file-name order) or the dataset's labels

Beside them it prints the same figures for 1,000 real training digits, the
level a perfect generator reaches (the Frechet distance is biased upward for
small sets, so compare 1,000 samples with them), and the judge's accuracy and
calibration error on 1,000 held-out test digits.

The judge is trained once (a few minutes) and cached in the user cache folder;
--classifier uses another saved one.`,
		Example: `  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 1000 --seed 7 --out s.png --save-each samples/
  vqgen eval samples --images samples/
  vqgen eval samples --images samples/ --labels labels.txt --json
  vqgen eval samples --data mnist:test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := app.EvalSamples(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			what := o.Images + o.Data
			w, c := cmd.OutOrStdout(), e.Classifier
			fmt.Fprintf(w, "judge: %s, accuracy %.2f%% and calibration error (ECE) %.2f%% on %d held-out MNIST test digits\n\n",
				c.Path, 100*c.TestAccuracy, 100*c.ECE, c.TestImages)
			return table(w, tabwriter.AlignRight,
				fmt.Sprintf("metric\t%s\treal digits\t", what),
				fmt.Sprintf("images\t%d\t%d\t", e.N, e.Reference.N),
				fmt.Sprintf("share with confidence >= 0.9\t%s\t%s\t", fmtMetric(e.ShareConf09, 3), fmtMetric(e.Reference.ShareConf09, 3)),
				fmt.Sprintf("class entropy (bits, max 3.32)\t%s\t%s\t", fmtMetric(e.ClassEntropyBits, 3), fmtMetric(e.Reference.ClassEntropyBits, 3)),
				fmt.Sprintf("Frechet distance to test digits\t%s\t%s\t", fmtMetric(e.Frechet, 2), fmtMetric(e.Reference.Frechet, 2)),
				fmt.Sprintf("accuracy on the requested class\t%s\t%s\t", fmtMetric(e.CondAccuracy, 3), fmtMetric(e.Reference.CondAccuracy, 3)))
		},
	}
	cmd.Flags().StringVar(&o.Images, "images", "", "folder of generated .png digits (vqgen sample --save-each)")
	cmd.Flags().StringVar(&o.Data, "data", "", "a dataset spec instead of --images; its labels are the requested classes")
	cmd.Flags().StringVar(&o.Labels, "labels", "", "file of requested classes, one per line in sorted file-name order")
	cmd.Flags().StringVar(&o.Classifier, "classifier", "", "saved classifier (default: the cached one, trained on first use)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print one JSON object: n, share_conf_0_9, class_entropy_bits, frechet, cond_accuracy, "reference" and "classifier"`)
	cmd.MarkFlagsOneRequired("images", "data")
	cmd.MarkFlagsMutuallyExclusive("images", "data")
	return cmd
}

func newScoreCmd() *cobra.Command {
	var vq, prior string
	var o app.ScoreOptions
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Print each image's NLL in bits under the VQ-VAE's codes and the prior",
		Long: `score encodes images with the VQ-VAE and prints -log2 p(codes) under the
prior for each: how typical an image is for the model (lower is more typical).
Images of a folder are named by their files (relative to the folder), those
of MNIST or IDX files by their index. A conditional prior scores under the
image's label (--data) or --class.`,
		Example: `  vqgen score --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --image digit.png --class 3
  vqgen score --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := app.LoadModels(vq, prior)
			if err != nil {
				return err
			}
			s, err := m.ScoreImages(cmd.Context(), o)
			if err != nil {
				return err
			}
			rows := []string{"IMAGE\tNLL (bits)"}
			for i, b := range s.Bits {
				rows = append(rows, fmt.Sprintf("%s\t%.1f", s.Names[i], b))
			}
			return table(cmd.OutOrStdout(), 0, rows...)
		},
	}
	modelFlags(cmd, &vq, &prior)
	cmd.Flags().StringVar(&o.Source.Image, "image", "", "one image file (PNG/JPEG)")
	cmd.Flags().StringVar(&o.Source.Data, "data", "", "images to score instead of --image: "+dataHelp)
	cmd.Flags().IntVar(&o.Class, "class", -1, "class to score under, for a conditional prior without labels")
	cmd.MarkFlagsOneRequired("image", "data")
	cmd.MarkFlagsMutuallyExclusive("image", "data")
	return cmd
}

func newReconstructCmd() *cobra.Command {
	var o app.ReconstructOptions
	cmd := &cobra.Command{
		Use:   "reconstruct",
		Short: "Encode and decode images with a VQ-VAE and show them beside the originals",
		Long: `reconstruct passes the first --n images of a dataset through the VQ-VAE
(encode to codes, decode back) and writes a PNG with the originals in the top
row and their reconstructions below.`,
		Example: `  vqgen reconstruct --vqvae runs/mnist/vqvae.safetensors --data mnist:test --out recon.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.Reconstruct(cmd.Context(), o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", o.Out)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.VQVAE, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&o.Data, "data", "test", "images: "+dataHelp)
	cmd.Flags().StringVar(&o.Out, "out", "recon.png", "output PNG")
	cmd.Flags().IntVar(&o.N, "n", 16, "number of images")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --out")
	cmd.MarkFlagRequired("vqvae")
	return cmd
}
