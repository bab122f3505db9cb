package server

import (
	"context"
	"fmt"
	"io"

	"github.com/vqgen/vqgen/app"
)

// models is the Backend over package app: a VQ-VAE and prior loaded once,
// and the VQ-VAE's test split held in memory for the edit view to pick
// from. app.Models runs one call at a time and each call spreads over every
// core; cancellation goes through the context, which app checks between
// grid cells.
type models struct {
	m    *app.Models
	info Info
	test *app.ImageSet // nil: no test set (info.TestSetError says why)
}

// Open loads a VQ-VAE and the prior trained on its codes (app.LoadModels),
// and the test split named by the VQ-VAE's config. A test set that cannot
// be loaded leaves Info().TestImages 0 and TestSetError saying why: the
// page then works from uploads only.
func Open(vqvaePath, priorPath string) (Backend, error) {
	m, err := app.LoadModels(vqvaePath, priorPath)
	if err != nil {
		return nil, err
	}
	b := &models{m: m}
	b.info = Info{
		Shape: m.VQVAE.Shape(), PriorInfo: m.Prior(),
		Sample: m.SampleDefaults(), Edit: m.EditDefaults(""),
		EditMethods: map[string]app.EditOptions{},
	}
	for _, method := range []string{app.MethodGibbs, app.MethodRaster} {
		b.info.EditMethods[method] = m.EditDefaults(method)
	}
	if b.test, err = m.VQVAE.LoadSet("test"); err != nil {
		b.info.TestSetError = err.Error()
	} else {
		b.info.TestSet, b.info.TestImages = b.test.Name, len(b.test.Images)
	}
	return b, nil
}

func (b *models) Info() Info { return b.info }

func (b *models) CheckSample(o app.SampleOptions) error { return b.m.CheckSample(o) }
func (b *models) CheckEdit(o app.EditOptions) error     { return b.m.CheckEdit(o) }

// picture encodes an image and decodes its codes.
func (b *models) picture(ctx context.Context, px []float32, label int) (*Picture, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	codes, err := b.m.VQVAE.Encode([][]float32{px})
	if err != nil {
		return nil, err
	}
	recon, err := b.m.VQVAE.Decode(codes, 1)
	if err != nil {
		return nil, err
	}
	return &Picture{Pixels: px, Codes: codes, Recon: recon[0], Label: label}, nil
}

func (b *models) TestImage(ctx context.Context, index int) (*Picture, error) {
	if b.test == nil {
		return nil, fieldErr("index", "no test set: "+b.info.TestSetError)
	}
	if index < 0 || index >= len(b.test.Images) {
		return nil, fieldErr("index", fmt.Sprintf("%d: the test set %s has images 0 to %d", index, b.test.Name, len(b.test.Images)-1))
	}
	return b.picture(ctx, b.test.Images[index], b.test.Label(index))
}

func (b *models) Encode(ctx context.Context, file []byte) (*Picture, error) {
	px, err := b.m.VQVAE.DecodeImage("image", file)
	if err != nil {
		return nil, &FieldError{Field: "image", Err: err}
	}
	return b.picture(ctx, px, -1)
}

func (b *models) Decode(ctx context.Context, grids [][]int32) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var flat []int32
	for _, g := range grids {
		flat = append(flat, g...)
	}
	return b.m.VQVAE.Decode(flat, len(grids))
}

func (b *models) Sample(ctx context.Context, o app.SampleOptions, progress app.Progress) (*Result, error) {
	s, err := b.m.Sample(ctx, o, progress)
	if err != nil {
		return nil, err
	}
	return result(s.Codes, s.Classes, s.Images, s.Shape), nil
}

func (b *models) Edit(ctx context.Context, grid []int32, keep []bool, o app.EditOptions, progress app.Progress) (*Result, error) {
	e, err := b.m.Edit(ctx, grid, keep, o, progress)
	if err != nil {
		return nil, err
	}
	return result(e.Codes, e.Classes, e.Images, e.Shape), nil
}

// result splits app's grids, laid end to end, into one per image.
func result(codes, classes []int32, images [][]float32, s app.Shape) *Result {
	r := &Result{Classes: classes, Images: images}
	for i := range images {
		r.Grids = append(r.Grids, codes[i*s.Cells():(i+1)*s.Cells()])
	}
	return r
}

func (b *models) WriteCodes(w io.Writer, grid []int32, class *int) error {
	var classes []int32
	if class != nil {
		classes = []int32{int32(*class)}
	}
	return b.m.WriteCodes(w, grid, classes)
}
