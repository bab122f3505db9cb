package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/nn"
	"github.com/vqgen/vqgen/sampler"
	vqvae "github.com/vqgen/vqgen/stage1_vqvae"
	prior "github.com/vqgen/vqgen/stage2_prior"
)

type editFlags struct {
	samplingFlags
	vq, prior, image, data, out, codes string
	index, n, sweeps                   int
	cells, pixels, mask, keep, method  string
	force                              bool
}

func init() {
	var f editFlags
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
cells before it; gibbs (the default, from the prior's config [edit]) then
resweeps them --sweeps times with Metropolis-Hastings steps so they also fit
the kept cells below and to the right. Gibbs samples the tempered prior and
takes --temperature only; --top-k and --top-p apply to raster.

A class-conditional prior needs a class: --class, or the label of --data.

The PNG shows, left to right: the original, the original with the redrawn
cells tinted red, and the --n edits. --codes FILE writes the edited grids.`,
		Example: `  vqgen edit --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test --index 0 --cells 2,2,4,4 --out edits.png
  vqgen edit --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --image digit.png --class 7 --pixels 0,14,27,27 --n 16 --out bottom.png
  vqgen edit --vqvae runs/mnist/vqvae.safetensors --prior runs/mnist/prior.safetensors --data mnist:test --index 5 --keep "0,0;0,1;1,0;1,1" --method raster --top-k 20 --out e.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEdit(cmd, &f) },
	}
	f.register(cmd, "class the edits are drawn for, with a class-conditional prior (-1: the label of --data)")
	fl := cmd.Flags()
	fl.StringVar(&f.vq, "vqvae", "", "VQ-VAE checkpoint (vqvae.safetensors)")
	fl.StringVar(&f.prior, "prior", "", "prior checkpoint trained on that VQ-VAE's codes")
	fl.StringVar(&f.image, "image", "", "image file to edit (PNG/JPEG; resized to the VQ-VAE's size)")
	fl.StringVar(&f.data, "data", "", "dataset spec to take the image from (mnist:test, idx:DIR:test, images:DIR:test), with --index")
	fl.IntVar(&f.index, "index", 0, "image number within --data")
	fl.IntVar(&f.n, "n", 8, "number of edits")
	fl.StringVar(&f.cells, "cells", "", "grid cells to redraw: r0,c0,r1,c1 (inclusive)")
	fl.StringVar(&f.pixels, "pixels", "", "image pixels to redraw: x0,y0,x1,y1 (inclusive); every cell touched is redrawn")
	fl.StringVar(&f.mask, "mask", "", "mask image: white = redraw, black = keep")
	fl.StringVar(&f.keep, "keep", "", `cells to keep, "r,c;r,c;..."; all others are redrawn`)
	fl.StringVar(&f.method, "method", "", "gibbs or raster (default: [edit] method of the prior's config)")
	fl.IntVar(&f.sweeps, "sweeps", 0, "gibbs sweeps over the redrawn cells (0: [edit] sweeps of the prior's config)")
	fl.StringVar(&f.out, "out", "edits.png", "PNG to write")
	fl.StringVar(&f.codes, "codes", "", "also write the edited code grids to this code file")
	fl.BoolVar(&f.force, "force", false, "replace existing outputs")
	cmd.MarkFlagRequired("vqvae")
	cmd.MarkFlagRequired("prior")
	rootCmd.AddCommand(cmd)
}

// keepFromFlags builds the keep mask from exactly one cell selector.
func (f *editFlags) keepMask(gh, gw, factor int) ([]bool, string, error) {
	var given []string
	for _, s := range []struct{ name, v string }{{"cells", f.cells}, {"pixels", f.pixels}, {"mask", f.mask}, {"keep", f.keep}} {
		if s.v != "" {
			given = append(given, "--"+s.name)
		}
	}
	if len(given) != 1 {
		if len(given) == 0 {
			return nil, "", errors.New("choose the cells to redraw with one of --cells, --pixels, --mask or --keep")
		}
		return nil, "", fmt.Errorf("%s each choose the cells: give exactly one", strings.Join(given, " and "))
	}
	switch {
	case f.cells != "":
		r, err := sampler.ParseRect("cells", f.cells)
		if err != nil {
			return nil, "", err
		}
		k, err := sampler.RectKeep("cells", r, gh, gw)
		return k, "cells " + f.cells, err
	case f.pixels != "":
		// Users name pixels x,y (column, row); Rect is rows first.
		r, err := sampler.ParseRect("pixels", f.pixels)
		if err != nil {
			return nil, "", err
		}
		k, err := sampler.PixelRectKeep("pixels", sampler.Rect{R0: r.C0, C0: r.R0, R1: r.C1, C1: r.R1}, gh, gw, factor)
		if err != nil {
			err = fmt.Errorf("%w (given as x0,y0,x1,y1 = %s)", err, f.pixels)
		}
		return k, "pixels " + f.pixels, err
	case f.mask != "":
		k, err := sampler.LoadMaskKeep(f.mask, gh, gw)
		return k, "mask " + f.mask, err
	}
	k, err := sampler.ParseKeepList("keep", f.keep, gh, gw)
	return k, "keep " + f.keep, err
}

// editImage is one image with the label it carries (-1: none).
type editImage struct {
	name   string
	pixels []float32
	label  int32
}

func (f *editFlags) loadImage(m *vqvae.Model) (*editImage, error) {
	switch {
	case f.image != "" && f.data != "":
		return nil, errors.New("give --image or --data, not both")
	case f.image != "":
		px, err := datasets.ReadImage(f.image, m.Image.ImageSize, m.Image.Channels)
		if err != nil {
			return nil, err
		}
		return &editImage{name: f.image, pixels: px, label: -1}, nil
	case f.data != "":
		ds, err := loadDataFor(m, f.data)
		if err != nil {
			return nil, err
		}
		if f.index < 0 || f.index >= ds.N {
			return nil, fmt.Errorf("--index %d: %s has images 0 to %d", f.index, f.data, ds.N-1)
		}
		im := &editImage{name: fmt.Sprintf("%s[%d]", f.data, f.index), pixels: ds.Image(f.index), label: -1}
		if ds.Labels != nil {
			im.label = ds.Labels[f.index]
		}
		return im, nil
	}
	return nil, errors.New("give the image to edit: --image FILE or --data SPEC --index I")
}

// encodeOne returns the code grid of one CHW image.
func encodeOne(m *vqvae.Model, px []float32) []int32 {
	s := m.Image.ImageSize
	x := nn.NewTensor(1, m.Image.Channels, s, s)
	copy(x.Data, px)
	gh, gw := m.GridSize()
	codes := make([]int32, gh*gw)
	m.Encode(x, codes)
	return codes
}

// editResult is what one edit call produced.
type editResult struct {
	Grids   *sampler.Grids
	Images  [][]float32
	Seconds float64 // the sampler alone
}

func runEditOn(cmd *cobra.Command, m *vqvae.Model, p prior.Prior, grid []int32, keep []bool, opt sampler.EditOptions) (*editResult, error) {
	bar := newProgress(cmd.ErrOrStderr(), "edit "+opt.Method, 1)
	bar.startAt(0)
	start := time.Now()
	g, err := sampler.Edit(p, grid, keep, opt, func(done, total int) {
		bar.total = total
		bar.every = max(1, total/10)
		bar.Update(done)
	})
	bar.Done()
	el := time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	ims, err := decodeAll(m, g.Codes, g.N)
	if err != nil {
		return nil, err
	}
	return &editResult{Grids: g, Images: ims, Seconds: el}, nil
}

// editPanel returns one row: the original, the original with the redrawn
// cells tinted, and the edits, all as RGB so the tint shows on grayscale.
func editPanel(orig []float32, keep []bool, edits [][]float32, c, s, gh, gw int) [][]float32 {
	row := [][]float32{toRGB(orig, c, s), tintFree(toRGB(orig, c, s), keep, s, gh, gw)}
	for _, e := range edits {
		row = append(row, toRGB(e, c, s))
	}
	return row
}

func toRGB(px []float32, c, s int) []float32 {
	if c == 3 {
		return append([]float32(nil), px...)
	}
	out := make([]float32, 3*s*s)
	for ch := 0; ch < 3; ch++ {
		copy(out[ch*s*s:], px[:s*s])
	}
	return out
}

// tintFree darkens the redrawn cells and shifts them to red; kept cells are
// left as they are.
func tintFree(rgb []float32, keep []bool, s, gh, gw int) []float32 {
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			if keep[(y*gh/s)*gw+x*gw/s] {
				continue
			}
			i := y*s + x
			rgb[i] = 0.45 + 0.55*rgb[i]
			rgb[s*s+i] *= 0.5
			rgb[2*s*s+i] *= 0.5
		}
	}
	return rgb
}

func runEdit(cmd *cobra.Command, f *editFlags) error {
	if f.n <= 0 {
		return fmt.Errorf("--n %d: want at least 1 edit", f.n)
	}
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
	s := m.Image.ImageSize
	gh, gw := m.GridSize()
	keep, what, err := f.keepMask(gh, gw, s/gh)
	if err != nil {
		return err
	}
	im, err := f.loadImage(m)
	if err != nil {
		return err
	}
	method := f.method
	if method == "" {
		method = ck.Config.Edit.Method
	}
	if method != sampler.MethodGibbs && method != sampler.MethodRaster {
		return fmt.Errorf("--method %q: want gibbs or raster", method)
	}
	sweeps := f.sweeps
	if sweeps < 0 {
		return fmt.Errorf("--sweeps %d: want >= 1 (0: the config's %d)", sweeps, ck.Config.Edit.Sweeps)
	}
	if sweeps == 0 {
		sweeps = ck.Config.Edit.Sweeps
	}
	if method == sampler.MethodGibbs && (f.topK != 0 || f.topP != 1) {
		return fmt.Errorf("--top-k %d / --top-p %g: gibbs samples the tempered prior given the kept cells, and truncating the conditionals leaves no distribution to sample; use --method raster for top-k/top-p, or leave them at 0 and 1", f.topK, f.topP)
	}
	opt, err := f.samplingFlags.options(info, 1)
	if err != nil {
		return err
	}
	eo := sampler.EditOptions{N: f.n, Method: method, Sweeps: sweeps, Temperature: opt.Temperature, TopK: opt.TopK, TopP: opt.TopP, Seed: opt.Seed}
	if info.Classes > 0 {
		switch {
		case opt.Classes != nil:
			eo.Classes = opt.Classes
		case im.label >= 0 && int(im.label) < info.Classes:
			eo.Classes = []int32{im.label}
		default:
			return fmt.Errorf("the prior is class-conditional: give --class (0 to %d) for %s", info.Classes-1, im.name)
		}
	}
	grid := encodeOne(m, im.pixels)
	r, err := runEditOn(cmd, m, ck.Prior, grid, keep, eo)
	if err != nil {
		return err
	}
	row := editPanel(im.pixels, keep, r.Images, m.Image.Channels, s, gh, gw)
	if err := datasets.WriteGridPNG(f.out, row, 3, s, s, len(row)); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	free := 0
	for _, k := range keep {
		if !k {
			free++
		}
	}
	fmt.Fprintf(out, "wrote %s: %s, then %d %s edits redrawing %d of %d cells (%s) in %.2fs\n", f.out, im.name, f.n, method, free, len(keep), what, r.Seconds)
	if f.codes != "" {
		if err := writeGridCodes(f.codes, m, r.Grids, info.Classes, f.force); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (%d code grids)\n", f.codes, f.n)
	}
	return nil
}
