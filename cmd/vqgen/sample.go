package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

// decodeBatch bounds the decoder's activations: 250 MNIST images through a
// 128-channel decoder take about 100 MB.
const decodeBatch = 250

// samplingFlags are the filter options shared by sample and edit.
type samplingFlags struct {
	temperature float64
	topK        int
	topP        float64
	seed        uint64
	class       int
}

func (s *samplingFlags) register(cmd *cobra.Command, classHelp string) {
	cmd.Flags().Float64Var(&s.temperature, "temperature", 1.0, "divides the logits: < 1 sharper and more typical, > 1 more varied")
	cmd.Flags().IntVar(&s.topK, "top-k", 0, "draw only among the k most likely codes (0 = off)")
	cmd.Flags().Float64Var(&s.topP, "top-p", 1.0, "nucleus sampling: draw from the smallest set of codes with this probability mass (1 = off)")
	cmd.Flags().Uint64Var(&s.seed, "seed", 1, "random seed; the same seed gives the same images")
	cmd.Flags().IntVar(&s.class, "class", -1, classHelp)
}

// classFor checks --class against the prior: -1 is "not given".
func classFor(info prior.Info, class int) (int32, bool, error) {
	if class < 0 {
		if class != -1 {
			return 0, false, fmt.Errorf("--class %d: want a class 0 to %d, or -1 for none", class, max(info.Classes-1, 0))
		}
		return 0, false, nil
	}
	if info.Classes == 0 {
		return 0, false, fmt.Errorf("--class %d: the prior is unconditional (trained without labels), so it cannot draw a class", class)
	}
	if class >= info.Classes {
		return 0, false, fmt.Errorf("--class %d: the prior has classes 0 to %d", class, info.Classes-1)
	}
	return int32(class), true, nil
}

// decodeAll decodes every grid of g into one CHW image per grid.
func decodeAll(m *vqvae.Model, codes []int32, n int) ([][]float32, error) {
	gh, gw := m.GridSize()
	hw := gh * gw
	out := make([][]float32, 0, n)
	for lo := 0; lo < n; lo += decodeBatch {
		hi := min(lo+decodeBatch, n)
		t, err := m.Decode(codes[lo*hw:hi*hw], hi-lo)
		if err != nil {
			return nil, err
		}
		per := len(t.Data) / (hi - lo)
		for i := 0; i < hi-lo; i++ {
			out = append(out, append([]float32(nil), t.Data[i*per:(i+1)*per]...))
		}
	}
	return out, nil
}

// writeGridCodes saves grids as a code file the VQ-VAE m can decode; the
// classes become labels when the prior is conditional.
func writeGridCodes(path string, m *vqvae.Model, g *sampler.Grids, classes int, overwrite bool) error {
	gh, gw := m.GridSize()
	hdr := datasets.CodeHeader{
		Count: int64(g.N), GridH: gh, GridW: gw, K: m.Cfg.K,
		ImageH: m.Image.ImageSize, ImageW: m.Image.ImageSize, Channels: m.Image.Channels,
		Labels: g.Classes != nil, Fingerprint: datasets.CodeFingerprint(m.Fingerprint()),
	}
	if g.Classes != nil {
		hdr.NumClasses = classes
	}
	w, err := datasets.CreateCodeFile(path, hdr, overwrite)
	if err != nil {
		return err
	}
	grids := make([]uint16, len(g.Codes))
	for i, c := range g.Codes {
		grids[i] = uint16(c)
	}
	if err := w.WriteBatch(grids, g.Classes); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// sampleRun is what drawing and decoding a set of samples produced.
type sampleRun struct {
	Grids  *sampler.Grids
	Images [][]float32
	// ImagesPerSec counts sampling and decoding together: what a user
	// waits for per image.
	ImagesPerSec float64
	Seconds      float64
}

// drawImages samples opt.N grids with a progress bar and decodes them.
func drawImages(cmd *cobra.Command, label string, m *vqvae.Model, p prior.Prior, opt sampler.Options) (*sampleRun, error) {
	hw := p.Info().Positions()
	bar := newProgress(cmd.ErrOrStderr(), label, opt.N*hw)
	bar.every = max(1, opt.N*hw/10)
	bar.startAt(0) // counted in cells, a batch of grids per update
	start := time.Now()
	g, err := sampler.Sample(p, opt, func(done, _ int) { bar.Update(done) })
	bar.Done()
	if err != nil {
		return nil, err
	}
	ims, err := decodeAll(m, g.Codes, g.N)
	if err != nil {
		return nil, err
	}
	el := time.Since(start).Seconds()
	return &sampleRun{Grids: g, Images: ims, ImagesPerSec: float64(g.N) / el, Seconds: el}, nil
}

// eachName is the file name of sample i under --save-each.
func eachName(i int) string { return fmt.Sprintf("sample-%04d.png", i) }

// saveEach writes one PNG per image into dir, refusing to replace any
// existing sample file unless overwrite is set. Every name is checked
// before the first write, so a refusal leaves dir untouched.
func saveEach(dir string, ims [][]float32, c, h, w int, overwrite bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--save-each: %w", err)
	}
	for i := range ims {
		if err := refuseExisting(filepath.Join(dir, eachName(i)), overwrite); err != nil {
			return fmt.Errorf("--save-each: %w", err)
		}
	}
	for i, im := range ims {
		if err := datasets.WritePNG(filepath.Join(dir, eachName(i)), im, c, h, w); err != nil {
			return err
		}
	}
	return nil
}

type sampleFlags struct {
	samplingFlags
	vq, prior, out, each, codes string
	n, batch                    int
	force                       bool
	guidance                    float64
}

func init() {
	var f sampleFlags
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Draw new images from a prior and decode them with the VQ-VAE",
		Long: `sample draws --n code grids from the prior by ancestral sampling, one cell at a
time in raster order, every grid of a batch at once, and decodes them with the
VQ-VAE's decoder into one image grid PNG (--out).

The filters act on each cell's distribution in this order: --temperature
divides the logits, --top-k keeps the k most likely codes, --top-p keeps the
smallest set of codes holding that much probability. The defaults (1, 0, 1)
draw from the prior as trained.

--guidance W (classifier-free guidance, class-conditional priors only) makes
each image look more like its class: every cell's logits become
l_none + W*(l_class - l_none), where l_none are the prior's logits with the
class withheld (the null class it was trained with), before the filters
above. W = 1 is the plain prior; 1.5 to 3 is the usual range, trading
variety for class fidelity; much larger values give stereotyped digits. It
costs two prior passes per cell, so sampling takes about twice as long.

With a class-conditional prior, --class C draws every image as class C;
without it each image gets a class drawn uniformly (stratified, so n >= 10
covers every digit). The same --seed gives the same images, whatever the
number of cores.

--save-each DIR also writes sample-0000.png, sample-0001.png, ... and --codes
FILE the sampled grids as a code file (with the classes as labels) that
vqgen decode and vqgen eval prior read.`,
		Example: `  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 64 --out samples.png
  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --class 3 --temperature 0.8 --out threes.png
  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --class 7 --guidance 2 --out sevens.png
  vqgen sample --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --n 1000 --out s.png --save-each samples/ --codes samples.vqc
  vqgen eval samples --images samples/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSample(cmd, &f) },
	}
	f.register(cmd, "class to draw for a class-conditional prior (-1: every image gets a uniformly drawn class)")
	cmd.Flags().StringVar(&f.vq, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	cmd.Flags().StringVar(&f.prior, "prior", "", "prior checkpoint trained on that VQ-VAE's codes (prior.safetensors)")
	cmd.Flags().IntVar(&f.n, "n", 64, "number of images")
	cmd.Flags().StringVar(&f.out, "out", "samples.png", "image grid PNG to write")
	cmd.Flags().StringVar(&f.each, "save-each", "", "also write one PNG per sample into this folder (sample-0000.png, ...)")
	cmd.Flags().StringVar(&f.codes, "codes", "", "also write the sampled code grids to this code file")
	cmd.Flags().IntVar(&f.batch, "batch", 0, "grids per prior pass (0: 256); changes speed and memory, not the images")
	cmd.Flags().Float64Var(&f.guidance, "guidance", 1.0, "classifier-free guidance weight W for a class-conditional prior: logits l_none + W*(l_class - l_none); 1 = off, 1.5-3 = more recognisable classes, less variety; costs two prior passes per cell")
	cmd.Flags().BoolVar(&f.force, "force", false, "replace existing outputs")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("prior")
	rootCmd.AddCommand(cmd)
}

func runSample(cmd *cobra.Command, f *sampleFlags) error {
	if f.n <= 0 {
		return fmt.Errorf("--n %d: want at least 1 image", f.n)
	}
	if f.out == "" {
		return errors.New("--out: give the PNG file to write")
	}
	// Refuse before the work, not after it.
	for _, p := range []string{f.out, f.codes} {
		if p != "" {
			if err := refuseExisting(p, f.force); err != nil {
				return err
			}
		}
	}
	m, ck, err := loadPair(f.vq, f.prior)
	if err != nil {
		return err
	}
	info := ck.Prior.Info()
	opt, err := f.samplingFlags.options(info, f.n)
	if err != nil {
		return err
	}
	if opt.Guidance, err = guidanceFor(info, f.guidance); err != nil {
		return err
	}
	opt.Batch = f.batch
	r, err := drawImages(cmd, "sample", m, ck.Prior, opt)
	if err != nil {
		return err
	}
	c, s := m.Image.Channels, m.Image.ImageSize
	if err := datasets.WriteGridPNG(f.out, r.Images, c, s, s, gridCols(len(r.Images))); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "wrote %s: %d samples", f.out, f.n)
	if r.Grids.Classes != nil {
		if opt.Classes != nil {
			fmt.Fprintf(out, " of class %d", f.class)
		} else {
			fmt.Fprintf(out, ", classes drawn uniformly")
		}
	}
	fmt.Fprintln(out)
	if f.each != "" {
		if err := saveEach(f.each, r.Images, c, s, s, f.force); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s/%s .. %s\n", f.each, eachName(0), eachName(f.n-1))
	}
	if f.codes != "" {
		if err := writeGridCodes(f.codes, m, r.Grids, info.Classes, f.force); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (%d code grids)\n", f.codes, f.n)
	}
	fmt.Fprintf(out, "%.1f images/s (sampling and decoding, %.2fs)\n", r.ImagesPerSec, r.Seconds)
	return nil
}

// guidanceFor checks --guidance against the prior.
func guidanceFor(info prior.Info, w float64) (float32, error) {
	if !(w >= 0) || math.IsInf(w, 1) {
		return 0, fmt.Errorf("--guidance %g: want a finite value >= 0 (1 turns it off)", w)
	}
	if w != 1 && w != 0 && info.Classes == 0 {
		return 0, fmt.Errorf("--guidance %g: the prior is unconditional (trained without labels); guidance needs a class-conditional prior (1 turns it off)", w)
	}
	return float32(w), nil
}

// options turns the flags into sampler options for n grids.
func (s *samplingFlags) options(info prior.Info, n int) (sampler.Options, error) {
	cls, ok, err := classFor(info, s.class)
	if err != nil {
		return sampler.Options{}, err
	}
	opt := sampler.Options{N: n, Temperature: float32(s.temperature), TopK: s.topK, TopP: float32(s.topP), Seed: s.seed}
	if ok {
		opt.Classes = make([]int32, n)
		for i := range opt.Classes {
			opt.Classes[i] = cls
		}
	}
	if !(s.temperature > 0) {
		return opt, fmt.Errorf("--temperature %g: want a value > 0", s.temperature)
	}
	if s.topK < 0 {
		return opt, fmt.Errorf("--top-k %d: want >= 0 (0 turns it off)", s.topK)
	}
	if !(s.topP > 0 && s.topP <= 1) {
		return opt, fmt.Errorf("--top-p %g: want a value in (0, 1] (1 turns it off)", s.topP)
	}
	return opt, nil
}
