package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
)

// Bytes per MNIST image in the raw and the gzipped IDX file, the baselines a
// code file is compared with.
const (
	mnistRawImageBytes  = 784
	mnistGzipImageBytes = 9912422.0 / 60000
)

func newEncodeCmd() *cobra.Command {
	var o app.EncodeOptions
	cmd := &cobra.Command{
		Use:   "encode",
		Short: "Encode a dataset split into a compressed code file",
		Long: `encode runs every image of --data through the VQ-VAE's encoder and writes
its grid of code indices, with its label when the data has one, to a code
file (format: datasets/CODES.md). The file records the VQ-VAE's fingerprint,
so the codes are never decoded by a model that did not make them.

--data train and --data test name the splits of the VQ-VAE's own config,
with its train_limit and test_limit: the files vqgen run writes.`,
		Example: `  vqgen encode --vqvae runs/mnist/vqvae.safetensors --data train --out runs/mnist/codes-train.vqc
  vqgen encode --vqvae runs/mnist/vqvae.safetensors --data mnist:test --out codes-test.vqc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := app.Encode(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "encoded %d images of %s in %.1fs (%.0f images/s): %s, %d bytes (%.1f bytes/image)\n",
				e.Images, e.Data, e.Seconds, float64(e.Images)/e.Seconds, e.Path, e.Bytes, e.BytesPerImage)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.VQVAE, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&o.Data, "data", "train", "split to encode: "+dataHelp)
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "encode only the first N images (0 = all)")
	cmd.Flags().StringVar(&o.Out, "out", "", "code file to write (e.g. codes-train.vqc)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --out")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newDecodeCmd() *cobra.Command {
	var o app.DecodeOptions
	cmd := &cobra.Command{
		Use:   "decode",
		Short: "Decode entries of a code file into an image grid",
		Long: `decode turns the code grids of entries A:B of --codes back into images with the
VQ-VAE that made them (the file's fingerprint must match) and writes them as
one image grid PNG.`,
		Example: `  vqgen decode --vqvae runs/mnist/vqvae.safetensors --codes runs/mnist/codes-test.vqc --range 0:64 --out grid.png`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := app.DecodeCodes(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "decoded entries %d:%d of %s into %s\n", d.From, d.To, o.Codes, o.Out)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.VQVAE, "vqvae", "", "VQ-VAE checkpoint that made the codes")
	cmd.Flags().StringVar(&o.Codes, "codes", "", "code file to decode")
	cmd.Flags().StringVar(&o.Range, "range", "0:64", "entries A:B to decode (half-open)")
	cmd.Flags().StringVar(&o.Out, "out", "grid.png", "output PNG")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --out")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("codes")
	return cmd
}

func newInspectCmd() *cobra.Command {
	var o app.InspectOptions
	var asJSON, layouts bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Describe a code file: counts, grid, K, fingerprint, code usage and compression",
		Long: `inspect prints what a code file holds and how well it compresses: images, grid,
codebook size K, labels, the VQ-VAE fingerprint, how many codes occur and
their entropy, and bytes per image on disk against raw pixels. --histogram
also plots how often each code occurs; --layouts instead compresses the codes
in every layout the format has and prints the sizes (datasets/CODES.md).`,
		Example: `  vqgen codes inspect runs/mnist/codes-train.vqc
  vqgen codes inspect runs/mnist/codes-train.vqc --json --histogram usage.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if layouts {
				sizes, err := app.MeasureLayouts(args[0])
				if err != nil {
					return err
				}
				rows := []string{"LAYOUT\tBYTES\tBYTES/IMAGE\tBITS/CODE"}
				for _, s := range sizes {
					rows = append(rows, fmt.Sprintf("%s\t%d\t%.2f\t%.3f", s.Layout, s.Bytes, s.BytesPerImage, s.BitsPerCode))
				}
				return table(w, 0, rows...)
			}
			o.Path = args[0]
			r, err := app.InspectCodes(o)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(w, r)
			}
			labels := "none"
			if r.Labels {
				labels = fmt.Sprintf("%d classes", r.Classes)
			}
			bytes := fmt.Sprintf("bytes per image\t%.2f on disk; %.1f bit-packed; %d raw pixels", r.BytesPerImage, r.BitPackedBytes, r.RawImageBytes)
			if r.RawImageBytes == mnistRawImageBytes {
				bytes += fmt.Sprintf("; %.1f in MNIST's gzipped IDX (%.1fx smaller)", mnistGzipImageBytes, mnistGzipImageBytes/r.BytesPerImage)
			}
			rows := []string{
				fmt.Sprintf("file\t%s (%d bytes, %d chunks, layout %s)", r.Path, r.FileBytes, r.Chunks, r.Layout),
				fmt.Sprintf("images\t%d, grid %dx%d, K=%d", r.Count, r.GridH, r.GridW, r.K),
				"labels\t" + labels,
				fmt.Sprintf("image\t%dx%dx%d", r.ImageH, r.ImageW, r.Channels),
				"fingerprint\t" + r.Fingerprint,
				fmt.Sprintf("codes used\t%d of %d", r.CodesUsed, r.K),
				fmt.Sprintf("entropy\t%.3f bits/code (on disk: %.3f bits/code)", r.EntropyBits, r.DiskBitsPerCode),
				bytes,
				fmt.Sprintf("compression\t%.1fx against raw pixels", float64(r.RawImageBytes)/r.BytesPerImage),
			}
			if o.Histogram != "" {
				rows = append(rows, "histogram\t"+o.Histogram)
			}
			return table(w, 0, rows...)
		},
	}
	cmd.Flags().BoolVar(&layouts, "layouts", false, "instead: compress the file's codes in every layout and print the sizes")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringVar(&o.Histogram, "histogram", "", "also write a PNG histogram of code usage")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --histogram")
	return cmd
}
