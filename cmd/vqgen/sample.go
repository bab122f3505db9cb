package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/app"
)

// modelFlags registers --vqvae and --prior.
func modelFlags(cmd *cobra.Command, vq, prior *string) {
	cmd.Flags().StringVar(vq, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(prior, "prior", "", "prior checkpoint trained on that VQ-VAE's codes (prior.safetensors)")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("prior")
}

// filterFlags registers the draw settings sample and edit share; their
// defaults come from the prior's config (filterNote qualifies top-k/top-p's).
func filterFlags(cmd *cobra.Command, temperature *float64, topK *int, topP *float64, seed *uint64, filterNote string) {
	def := app.BuiltinSample()
	cmd.Flags().Float64Var(temperature, "temperature", 0, "divides the logits: < 1 sharper and more typical, > 1 more varied "+fromPrior("sample", "temperature", def.Temperature))
	cmd.Flags().IntVar(topK, "top-k", 0, "draw only among the k most likely codes, 0 = off "+fromPrior("sample", "top_k", def.TopK)+filterNote)
	cmd.Flags().Float64Var(topP, "top-p", 0, "nucleus sampling: draw from the smallest set of codes with this probability mass, 1 = off "+fromPrior("sample", "top_p", def.TopP)+filterNote)
	cmd.Flags().Uint64Var(seed, "seed", 0, "random seed; the same seed gives the same images "+fromPrior("sample", "seed", def.Seed))
}

func newSampleCmd() *cobra.Command {
	var vq, prior string
	var files app.SampleFiles
	var flags app.SampleOptions
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Draw new images from a prior and decode them with the VQ-VAE",
		Long: `sample draws --n code grids from the prior by ancestral sampling, one cell at a
time in raster order, every grid of a batch at once, and decodes them with the
VQ-VAE's decoder into one image grid PNG (--out).

Every setting not given as a flag comes from the [sample] section of the
config stored in the prior (the config it was trained with), so
  vqgen sample --vqvae V --prior P --n 64 --seed 1
draws exactly the samples.png of the vqgen run that made V and P.

The filters act on each cell's distribution in this order: --temperature
divides the logits, --top-k keeps the k most likely codes, --top-p keeps the
smallest set of codes holding that much probability.

--guidance W (classifier-free guidance, class-conditional priors only) makes
each image look more like its class: every cell's logits become
l_none + W*(l_class - l_none), where l_none are the prior's logits with the
class withheld (the null class it was trained with), before the filters
above. W = 1 is the plain prior; 1.5 to 3 is the usual range, trading variety
for class fidelity. It costs two prior passes per cell.

With a class-conditional prior, --class C draws every image as class C;
without it each image gets a class drawn uniformly (stratified, so n >= 10
covers every digit); --per-class N draws N images of every class, one row
per class. The same --seed gives the same images, whatever the number of
cores.

Outputs: --out, the image grid; --save-each DIR, one PNG per sample
(sample-0000.png, ...), which vqgen eval samples judges; --out-codes FILE,
the sampled grids as a code file (classes as labels) that vqgen decode and
vqgen eval prior read.`,
		Example: `  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 64 --out samples.png
  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --class 3 --temperature 0.8 --out threes.png
  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --per-class 10 --guidance 2 --out classes.png
  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 1000 --seed 7 --out s.png --save-each samples/ --out-codes samples.vqc
  vqgen eval samples --images samples/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.CheckOutputs(files.Force, files.Paths()...); err != nil {
				return err
			}
			m, err := app.LoadModels(vq, prior)
			if err != nil {
				return err
			}
			opt := m.SampleDefaults()
			applyChanged(cmd.Flags(), &opt, &flags)
			r, err := m.Sample(cmd.Context(), opt, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			if err := m.SaveSamples(r, files); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			o := r.Options
			fmt.Fprintf(out, "wrote %s: %d samples (seed %d, %s)", files.Grid, o.N, o.Seed, o)
			switch {
			case r.Classes == nil:
			case o.PerClass > 0:
				fmt.Fprintf(out, ", %d of each class", o.PerClass)
			case o.Class >= 0:
				fmt.Fprintf(out, " of class %d", o.Class)
			default:
				fmt.Fprintf(out, ", classes drawn uniformly")
			}
			fmt.Fprintln(out)
			if files.Each != "" {
				fmt.Fprintf(out, "wrote %s/%s .. %s\n", files.Each, app.EachName(0), app.EachName(o.N-1))
			}
			if files.Codes != "" {
				fmt.Fprintf(out, "wrote %s (%d code grids)\n", files.Codes, o.N)
			}
			fmt.Fprintf(out, "%.1f images/s (sampling and decoding, %.2fs)\n", r.ImagesPerSec, r.Seconds)
			return nil
		},
	}
	modelFlags(cmd, &vq, &prior)
	def := app.BuiltinSample()
	fl := cmd.Flags()
	fl.IntVar(&flags.N, "n", 0, "number of images "+fromPrior("sample", "n", def.N))
	filterFlags(cmd, &flags.Temperature, &flags.TopK, &flags.TopP, &flags.Seed, "")
	fl.Float64Var(&flags.Guidance, "guidance", 0, "classifier-free guidance weight W of a class-conditional prior, 1 = off, 1.5-3 = more recognisable classes, less variety "+fromPrior("sample", "guidance", def.Guidance)+"; 1 for an unconditional prior")
	fl.IntVar(&flags.Class, "class", -1, "class to draw, for a class-conditional prior (-1: every image gets a uniformly drawn class)")
	fl.IntVar(&flags.PerClass, "per-class", 0, "draw this many images of every class, one row per class, instead of --n")
	fl.IntVar(&flags.Batch, "batch", 0, "grids per prior pass (0: 256); changes speed and memory, not the images")
	fl.StringVar(&files.Grid, "out", "samples.png", "image grid PNG to write")
	fl.StringVar(&files.Each, "save-each", "", "also write one PNG per sample into this folder (sample-0000.png, ...)")
	fl.StringVar(&files.Codes, "out-codes", "", "also write the sampled code grids to this code file")
	fl.StringVar(&files.Codes, "codes", "", "")
	fl.MarkDeprecated("codes", "use --out-codes; --codes names an input file in the other verbs")
	fl.BoolVar(&files.Force, "force", false, "replace existing outputs")
	return cmd
}

func newEditCmd() *cobra.Command {
	var vq, prior string
	var files app.EditImageOptions
	var flags app.EditOptions
	cmd := &cobra.Command{
		Use:   "edit",
		Short: "Redraw chosen cells of an image's code grid from the prior",
		Long: `edit encodes one image (--image FILE, or --data SPEC --index I) into its code
grid, keeps some cells and redraws the others from the prior, --n times, and
decodes the results. Choose the cells to redraw with exactly one of:

  --cells r0,c0,r1,c1   a rectangle of grid cells (inclusive; 7x7 for MNIST)
  --pixels x0,y0,x1,y1  a rectangle of image pixels (inclusive); every cell it
                        touches is redrawn
  --mask FILE           a PNG/JPEG mask stretched over the grid: cells under
                        white pixels are redrawn, black ones kept
  --keep "r,c;r,c"      the cells to keep; all others are redrawn

--method raster redraws the cells once in raster order, each seeing only the
cells before it; gibbs then resweeps them --sweeps times with
Metropolis-Hastings steps so they also fit the kept cells below and to the
right. Gibbs samples the tempered prior and takes --temperature only; --top-k
and --top-p apply to raster. Settings not given come from the [edit] and
[sample] sections of the config stored in the prior.

A class-conditional prior needs a class: --class, or the label of --data.

--out shows, left to right: the original, the original with the redrawn
cells tinted red, and the --n edits. --out-codes FILE writes the edited grids.`,
		Example: `  vqgen edit --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test --index 0 --cells 2,2,4,4 --out edits.png
  vqgen edit --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --image digit.png --class 7 --pixels 0,14,27,27 --n 16 --out bottom.png
  vqgen edit --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test --index 5 --keep "0,0;0,1;1,0;1,1" --method raster --top-k 20 --out e.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.CheckOutputs(files.Force, files.Out, files.OutCodes); err != nil {
				return err
			}
			m, err := app.LoadModels(vq, prior)
			if err != nil {
				return err
			}
			opt := m.EditDefaults(flags.Method)
			applyChanged(cmd.Flags(), &opt, &flags)
			r, err := m.EditImage(cmd.Context(), files, opt, newReporter(cmd.ErrOrStderr()))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "wrote %s: %s, then %d %s edits redrawing %d of %d cells (%s) in %.2fs\n",
				files.Out, r.Image.Name, r.Options.N, r.Options.Method, r.Free, len(r.Keep), r.Cells, r.Seconds)
			if files.OutCodes != "" {
				fmt.Fprintf(out, "wrote %s (%d code grids)\n", files.OutCodes, r.Options.N)
			}
			return nil
		},
	}
	modelFlags(cmd, &vq, &prior)
	def := app.BuiltinEdit()
	fl := cmd.Flags()
	fl.StringVar(&files.Source.Image, "image", "", "image file to edit (PNG/JPEG; resized to the VQ-VAE's size)")
	fl.StringVar(&files.Source.Data, "data", "", "take the image from a "+dataHelp+", with --index")
	fl.IntVar(&files.Source.Index, "index", 0, "image number within --data")
	fl.StringVar(&files.Cells.Rect, "cells", "", "grid cells to redraw: r0,c0,r1,c1 (inclusive)")
	fl.StringVar(&files.Cells.Pixels, "pixels", "", "image pixels to redraw: x0,y0,x1,y1 (inclusive); every cell touched is redrawn")
	fl.StringVar(&files.Cells.Mask, "mask", "", "mask image: white = redraw, black = keep")
	fl.StringVar(&files.Cells.Keep, "keep", "", `cells to keep, "r,c;r,c;..."; all others are redrawn`)
	fl.IntVar(&flags.N, "n", 0, "number of edits "+fromPrior("edit", "n", def.N))
	fl.StringVar(&flags.Method, "method", "", "gibbs or raster "+fromPrior("edit", "method", def.Method))
	fl.IntVar(&flags.Sweeps, "sweeps", 0, "gibbs sweeps over the redrawn cells "+fromPrior("edit", "sweeps", def.Sweeps))
	filterFlags(cmd, &flags.Temperature, &flags.TopK, &flags.TopP, &flags.Seed, " with --method raster; off with gibbs")
	fl.IntVar(&flags.Class, "class", -1, "class the edits are drawn for, with a class-conditional prior (-1: the label of --data)")
	fl.StringVar(&files.Out, "out", "edits.png", "PNG to write")
	fl.StringVar(&files.OutCodes, "out-codes", "", "also write the edited code grids to this code file")
	fl.StringVar(&files.OutCodes, "codes", "", "")
	fl.MarkDeprecated("codes", "use --out-codes; --codes names an input file in the other verbs")
	fl.BoolVar(&files.Force, "force", false, "replace existing outputs")
	return cmd
}
