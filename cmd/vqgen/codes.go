package main

import (
	"fmt"
	"strings"

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
with its train_limit and test_limit: the files vqgen run writes.

--prior P codes the grids with a Transformer prior trained on the VQ-VAE's
codes: the prior predicts every code from the ones before it and an entropy
coder spends about -log2 p bits on it, so the file is about a third of the
zstd layout's size (MNIST test codes: 17.9 bytes per image instead of 49.6).
Every verb that reads the file then needs the same prior (--prior P); the
file names it by file name and fingerprint. vqgen codes convert turns a file
into either form.`,
		Example: `  vqgen encode --vqvae runs/mnist/vqvae.safetensors --data train --out runs/mnist/codes-train.vqc
  vqgen encode --vqvae runs/mnist/vqvae.safetensors --data mnist:test --out codes-test.vqc
  vqgen encode --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test --out codes-test.vqc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := app.Encode(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "encoded %d images of %s in %.1fs (%.0f images/s): %s, %d bytes (%.1f bytes/image)\n",
				e.Images, e.Data, e.Seconds, float64(e.Images)/e.Seconds, e.Path, e.Bytes, e.BytesPerImage)
			if e.Prior != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "prior-coded with %s: read it with --prior\n", e.Prior)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.VQVAE, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&o.Data, "data", "train", "split to encode: "+dataHelp)
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "encode only the first N images (0 = all)")
	cmd.Flags().StringVar(&o.Out, "out", "", "code file to write (e.g. codes-train.vqc)")
	cmd.Flags().StringVar(&o.Prior, "prior", "", "code the grids with this prior (prior.safetensors, a Transformer trained on the VQ-VAE's codes)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --out")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("out")
	return cmd
}

// priorReadFlag registers --prior as the prior that reads a prior-coded
// code file.
func priorReadFlag(cmd *cobra.Command, p *string, what string) {
	cmd.Flags().StringVar(p, "prior", "", "prior that reads "+what+" when it is prior-coded (the file names it)")
}

func newDecodeCmd() *cobra.Command {
	var o app.DecodeOptions
	cmd := &cobra.Command{
		Use:   "decode",
		Short: "Decode entries of a code file into an image grid",
		Long: `decode turns the code grids of entries A:B of --codes back into images with the
VQ-VAE that made them (the file's fingerprint must match) and writes them as
one image grid PNG. A prior-coded file (vqgen encode --prior) needs its prior
too (--prior); only the chunks holding the range are decoded.`,
		Example: `  vqgen decode --vqvae runs/mnist/vqvae.safetensors --codes runs/mnist/codes-test.vqc --range 0:64 --out grid.png
  vqgen decode --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --codes codes-test-prior.vqc --out grid.png`,
		Args: cobra.NoArgs,
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
	priorReadFlag(cmd, &o.Prior, "--codes")
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
in every zstd layout the format has and prints the sizes (datasets/CODES.md).
A prior-coded file needs its prior (--prior) to be read; the report names it.`,
		Example: `  vqgen codes inspect runs/mnist/codes-train.vqc
  vqgen codes inspect runs/mnist/codes-train.vqc --json --histogram usage.png
  vqgen codes inspect runs/photos/codes-test.vqc --keys
  vqgen codes inspect codes-test-prior.vqc --prior runs/mnist/prior.safetensors`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if layouts {
				sizes, err := app.MeasureLayouts(cmd.Context(), args[0], o.Prior, newReporter(cmd.ErrOrStderr()))
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
			r, err := app.InspectCodes(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
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
				"keys\t" + keysLine(r),
				fmt.Sprintf("image\t%dx%dx%d", r.ImageH, r.ImageW, r.Channels),
				"fingerprint\t" + r.Fingerprint,
				fmt.Sprintf("codes used\t%d of %d", r.CodesUsed, r.K),
				fmt.Sprintf("entropy\t%.3f bits/code (on disk: %.3f bits/code)", r.EntropyBits, r.DiskBitsPerCode),
				bytes,
				fmt.Sprintf("compression\t%.1fx against raw pixels", float64(r.RawImageBytes)/r.BytesPerImage),
			}
			if r.Prior != "" {
				rows = append(rows, "prior\t"+r.Prior)
			}
			if o.Histogram != "" {
				rows = append(rows, "histogram\t"+o.Histogram)
			}
			if err := table(w, 0, rows...); err != nil {
				return err
			}
			if o.Keys && r.Keys {
				rows = []string{"INDEX\tKEY"}
				for i, k := range r.AllKeys {
					rows = append(rows, fmt.Sprintf("%d\t%s", i, k))
				}
				fmt.Fprintln(w)
				return table(w, 0, rows...)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&layouts, "layouts", false, "instead: compress the file's codes in every layout and print the sizes")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().StringVar(&o.Histogram, "histogram", "", "also write a PNG histogram of code usage")
	priorReadFlag(cmd, &o.Prior, "FILE")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --histogram")
	cmd.Flags().BoolVar(&o.Keys, "keys", false, "also list every image's key (its source file, for images encoded from a folder), in file order")
	return cmd
}

// keysLine describes a code file's keys in one line.
func keysLine(r *app.CodesReport) string {
	switch {
	case !r.Keys:
		return "none"
	case r.Count == 0:
		return "yes (no images)"
	}
	return fmt.Sprintf("%q ... %q (--keys lists them all)", r.FirstKey, r.LastKey)
}

func newConvertCmd() *cobra.Command {
	var o app.ConvertOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "convert IN",
		Short: "Rewrite a code file in another layout: prior-coded, or zstd",
		Long: `convert rewrites the code file IN as --out in another layout, with the same
codes and labels:

  prior          each chunk coded with a prior's probabilities (--prior): the
                 prior predicts every code from the ones before it, and an
                 entropy coder spends about -log2 p bits on it. MNIST test
                 codes: 17.9 bytes per image, against 49.6 in zstd. Readers
                 need the prior; the file names it (file name, fingerprint).
  zstd           the default zstd layout (raw16), readable without a model
  raw16, packed, planes, planes-by-pos
                 the zstd layouts by name (datasets/CODES.md)

Without --layout, a zstd file given --prior becomes prior-coded and a
prior-coded file becomes zstd. --prior names the prior that codes --out and
reads a prior-coded IN; it must be a Transformer prior trained on the codes'
VQ-VAE. --verify reads --out back and compares it with IN.

It prints both sizes in bytes per image.`,
		Example: `  vqgen codes convert runs/mnist/codes-test.vqc --prior runs/mnist/prior.safetensors --out codes-test-prior.vqc
  vqgen codes convert codes-test-prior.vqc --prior runs/mnist/prior.safetensors --out codes-test.vqc
  vqgen codes convert codes-test.vqc --layout packed --out packed.vqc --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.In = args[0]
			c, err := app.Convert(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, c)
			}
			fmt.Fprintf(w, "converted %d images in %.1fs: %s (%s, %d bytes, %.2f bytes/image) -> %s (%s, %d bytes, %.2f bytes/image, %.2fx)\n",
				c.Images, c.Seconds, c.In, c.InLayout, c.InBytes, c.InBytesPerImage, c.Out, c.OutLayout, c.OutBytes, c.OutBytesPerImage,
				float64(c.InBytes)/float64(max(c.OutBytes, 1)))
			if c.Prior != "" {
				fmt.Fprintf(w, "prior: %s\n", c.Prior)
			}
			if c.Verified {
				fmt.Fprintf(w, "verified: %s reads back the codes and labels of %s\n", c.Out, c.In)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "code file to write")
	cmd.Flags().StringVar(&o.Prior, "prior", "", "prior that codes --out in the prior layout and reads a prior-coded IN (prior.safetensors)")
	cmd.Flags().StringVar(&o.Layout, "layout", "", "layout of --out: "+strings.Join(app.LayoutNames, ", ")+" (default: prior for a zstd IN given --prior, zstd for a prior-coded IN)")
	cmd.Flags().IntVar(&o.ChunkImages, "chunk-images", 0, "images per chunk of --out (0: the layout's default, 512 prior-coded, 4096 zstd)")
	cmd.Flags().BoolVar(&o.Verify, "verify", false, "read --out back and check it holds IN's codes and labels")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: in, out, images, in_layout, out_layout, in_bytes, out_bytes, *_bytes_per_image, prior, verified, seconds")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --out")
	cmd.MarkFlagRequired("out")
	return cmd
}
