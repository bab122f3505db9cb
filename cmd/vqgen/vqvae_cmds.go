package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/datasets"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
)

var evalCmd = &cobra.Command{
	Use:   "eval",
	Short: "Score a trained model: the VQ-VAE, a prior, or a folder of samples",
}

// loadData loads a dataset spec at the VQ-VAE's image size.
func loadDataFor(m *vqvae.Model, spec string) (*datasets.Dataset, error) {
	return datasets.Load(spec, datasets.Options{Size: m.Image.ImageSize, Channels: m.Image.Channels})
}

func init() {
	var ckpt, data, out string
	var n int
	recon := &cobra.Command{
		Use:   "reconstruct",
		Short: "Encode and decode images with a VQ-VAE and show them beside the originals",
		Long: `reconstruct passes the first --n images of a dataset through the VQ-VAE
(encode to codes, decode back) and writes a PNG with the originals in the top
row and their reconstructions below.`,
		Example: `  vqgen reconstruct --vqvae runs/mnist/vqvae.safetensors --data mnist:test --out recon.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := vqvae.Load(ckpt)
			if err != nil {
				return err
			}
			ds, err := loadDataFor(m, data)
			if err != nil {
				return err
			}
			if err := refuseExisting(out, false); err != nil {
				return err
			}
			if err := writeRecon(m, ds, n, out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	recon.Flags().StringVar(&ckpt, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	recon.Flags().StringVar(&data, "data", "mnist:test", "images: mnist:train|test, idx:DIR:train|test, images:DIR, images:DIR:train|test")
	recon.Flags().StringVar(&out, "out", "recon.png", "output PNG")
	recon.Flags().IntVar(&n, "n", 16, "number of images")
	recon.MarkFlagRequired("vqvae")
	rootCmd.AddCommand(recon)

	var eckpt, edata string
	var asJSON bool
	var limit int
	ev := &cobra.Command{
		Use:   "vqvae",
		Short: "Measure a VQ-VAE's reconstruction error and codebook usage on a dataset",
		Long: `eval vqvae reconstructs every image of --data and reports the mean squared
error per pixel (pixels in [0, 1]), the PSNR, the perplexity of the code
distribution (K when all codes are used equally) and how many codes occur.`,
		Example: `  vqgen eval vqvae --vqvae runs/mnist/vqvae.safetensors --data mnist:test
  vqgen eval vqvae --vqvae runs/mnist/vqvae.safetensors --data mnist:test --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := vqvae.Load(eckpt)
			if err != nil {
				return err
			}
			ds, err := loadDataFor(m, edata)
			if err != nil {
				return err
			}
			e := m.Evaluate(ds, limit, 500)
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(e)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "data\t%s (%d images)\n", edata, e.Images)
			fmt.Fprintf(tw, "MSE\t%.6f\n", e.MSE)
			fmt.Fprintf(tw, "PSNR\t%.2f dB\n", e.PSNR)
			fmt.Fprintf(tw, "perplexity\t%.1f of K=%d\n", e.Perplexity, e.K)
			fmt.Fprintf(tw, "codes used\t%d of %d (%.1f%%)\n", e.CodesUsed, e.K, 100*float64(e.CodesUsed)/float64(e.K))
			return tw.Flush()
		},
	}
	ev.Flags().StringVar(&eckpt, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	ev.Flags().StringVar(&edata, "data", "mnist:test", "images to score")
	ev.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: mse, psnr_db, perplexity, codes_used, k, images")
	ev.Flags().IntVar(&limit, "limit", 0, "score only the first N images (0 = all)")
	ev.MarkFlagRequired("vqvae")
	evalCmd.AddCommand(ev)
	rootCmd.AddCommand(evalCmd)
}
