package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
)

// runModelFlags registers --run and the checkpoints that override it.
func runModelFlags(cmd *cobra.Command, m *app.RunModels) {
	cmd.Flags().StringVar(&m.Run, "run", "", "run folder holding vqvae.safetensors and prior.safetensors (vqgen run --out)")
	cmd.Flags().StringVar(&m.VQVAE, "vqvae", "", "VQ-VAE checkpoint (default: the one in --run)")
	cmd.Flags().StringVar(&m.Prior, "prior", "", "Transformer prior checkpoint trained on the VQ-VAE's codes (default: the one in --run)")
}

func newCompressCmd() *cobra.Command {
	var o app.CompressOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compress [IMAGE...]",
		Short: "Compress images into a .vqz file: VQ-VAE codes, coded with the prior",
		Long: `compress is a learned lossy image codec. The VQ-VAE turns each image into its
grid of codes (the lossy step: the result is the VQ-VAE's reconstruction), and
the prior codes the grids losslessly: an entropy coder driven by its
predictions spends about -log2 p bits on each code. An MNIST digit takes about
18 bytes, 0.18 bits per pixel (vqgen eval codec compares it with PNG and JPEG).

Images are PNG or JPEG files, resized and centre-cropped to the VQ-VAE's size,
or --data, a dataset spec whose labels are kept too. The models come from a
run folder (--run) or from --vqvae and --prior; the .vqz file names both by
fingerprint, and vqgen decompress needs the same two. The file keeps the
images' file names (or a dataset's keys and labels).

It prints the file's size in bytes per image and bits per pixel, and the PSNR
of what decompression returns against the images given.`,
		Example: `  vqgen compress --run runs/mnist digit.png another.png --out digits.vqz
  vqgen compress --run runs/mnist --data mnist:test --limit 1000 --out test.vqz
  vqgen decompress digits.vqz --run runs/mnist --out digits/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Images = args
			if len(args) == 0 && o.Data == "" {
				return errors.New("no images to compress: give image files as arguments, or --data")
			}
			c, err := app.Compress(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), c)
			}
			labels := ""
			if c.Labels {
				labels = " with labels"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "compressed %d images%s in %.1fs: %s, %d bytes (%.2f bytes/image, %.3f bits/pixel), PSNR %.2f dB\n",
				c.Images, labels, c.Seconds, c.Path, c.Bytes, c.BytesPerImage, c.BitsPerPixel, c.PSNR)
			return nil
		},
	}
	runModelFlags(cmd, &o.RunModels)
	cmd.Flags().StringVar(&o.Data, "data", "", "images to compress instead of files: "+dataHelp)
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "with --data: only the first N images (0 = all)")
	cmd.Flags().StringVar(&o.Out, "out", "", "the .vqz file to write")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: path, images, labels, bytes, bytes_per_image, bits_per_pixel, psnr_db, seconds")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing --out")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newDecompressCmd() *cobra.Command {
	var o app.DecompressOptions
	cmd := &cobra.Command{
		Use:   "decompress FILE.vqz",
		Short: "Turn a .vqz file back into images",
		Long: `decompress decodes a .vqz file (vqgen compress) with the prior and the VQ-VAE
that made it and writes one PNG per image into --out, named after the images
compressed (digit.jpg comes back as digit.png; a dataset folder's subfolders
are kept), or image-0000.png, image-0001.png, ... in their order when they
had no names (a dataset such as mnist:test) or the names would clash; and
labels.txt (one label per line, the format vqgen eval samples --labels
reads) when the file holds labels. The images are the VQ-VAE's
reconstructions at its size. Without the right models it says which it
needs: the VQ-VAE's fingerprint, the prior's file name and fingerprint.`,
		Example: `  vqgen decompress digits.vqz --run runs/mnist --out digits/
  vqgen decompress test.vqz --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --out test/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.In = args[0]
			d, err := app.Decompress(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("decompressed %d images into %s", len(d.Files), d.Dir)
			if len(d.Files) > 0 {
				msg += fmt.Sprintf(" (%s ... %s)", d.Files[0], d.Files[len(d.Files)-1])
			}
			if d.Labels != "" {
				msg += "; labels in " + d.Labels
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	runModelFlags(cmd, &o.RunModels)
	cmd.Flags().StringVar(&o.Out, "out", "", "folder for the images (created if missing)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace existing images of the same names in --out")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newEvalCodecCmd() *cobra.Command {
	var o app.EvalCodecOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "codec",
		Short: "Compare vqgen's image codec with PNG and JPEG on a dataset",
		Long: `eval codec compresses the images of --data with vqgen's learned codec (the
VQ-VAE's codes, coded with the prior: vqgen compress) and compares it with
PNG and with Go's JPEG encoder on the same images:

  bytes/image, bits/pixel   the compressed size (vqgen: the whole .vqz file,
                            labels included; per image = total / images)
  PSNR                      over 8-bit pixels against the originals; PNG is
                            lossless; JPEG runs at the lowest quality whose
                            PSNR reaches vqgen's, so the sizes compare at
                            equal quality

PNG and JPEG are measured twice: one file per image (what storing images
costs: every file repeats its headers and tables) and one mosaic of all the
images (headers paid once, their best case).`,
		Example: `  vqgen eval codec --run runs/mnist --data mnist:test
  vqgen eval codec --run runs/mnist --data mnist:test --limit 1000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := app.EvalCodec(cmd.Context(), o, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return printJSON(w, e)
			}
			fmt.Fprintf(w, "%s: %d images of %d pixels\n\n", o.Data, e.Images, e.Pixels)
			rows := []string{"CODEC\tBYTES/IMAGE\tBITS/PIXEL\tPSNR (dB)"}
			for _, r := range e.Rows {
				name, psnr := r.Codec, "lossless"
				if !math.IsInf(r.PSNR, 1) {
					psnr = fmt.Sprintf("%.2f", r.PSNR)
				}
				if r.Quality > 0 {
					name += fmt.Sprintf(", quality %d", r.Quality)
				}
				rows = append(rows, fmt.Sprintf("%s\t%.2f\t%.3f\t%s", name, r.BytesPerImg, r.BitsPerPixel, psnr))
			}
			return table(w, 0, rows...)
		},
	}
	runModelFlags(cmd, &o.RunModels)
	cmd.Flags().StringVar(&o.Data, "data", "test", "images: "+dataHelp)
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "only the first N images (0 = all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print one JSON object: images, pixels_per_image, and "codecs": codec, bytes, bytes_per_image, bits_per_pixel, psnr_db (null when lossless), lossless, quality (JPEG)`)
	return cmd
}
