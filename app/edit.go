package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vqgen/vqgen/sampler"
)

// Edit methods (EditOptions.Method).
const (
	MethodGibbs  = sampler.MethodGibbs  // raster pass, then Gibbs sweeps that also fit the kept cells after each one
	MethodRaster = sampler.MethodRaster // one pass in raster order: each cell sees only the cells before it
)

// EditOptions are the settings of one edit call. Start from
// Models.EditDefaults, which reads them from the [edit] and [sample]
// sections of the config stored in the prior's checkpoint.
type EditOptions struct {
	// N is the number of edits drawn ([edit] n).
	N int `json:"n"`
	// Method is MethodGibbs or MethodRaster ([edit] method).
	Method string `json:"method"`
	// Sweeps is the number of Gibbs sweeps over the redrawn cells
	// ([edit] sweeps); raster ignores it.
	Sweeps int `json:"sweeps"`
	// Temperature divides the logits ([sample] temperature).
	Temperature float64 `json:"temperature"`
	// TopK and TopP filter raster draws as in SampleOptions ([sample]
	// top_k and top_p for raster; gibbs samples the tempered prior given
	// the kept cells and needs them off: 0 and 1).
	TopK int     `json:"top_k"`
	TopP float64 `json:"top_p"`
	// Seed seeds the draw ([sample] seed).
	Seed uint64 `json:"seed"`
	// Class is the class the edits are drawn for; a conditional prior
	// needs one, an unconditional one refuses it (-1: none).
	Class int `json:"class"`
	// Batch is the number of chains per prior pass (0: 256); it changes
	// speed, never the edits.
	Batch int `json:"batch,omitempty"`
}

// EditDefaults returns the edit settings of the prior's stored config for
// method ("" for the config's own [edit] method).
func (m *Models) EditDefaults(method string) EditOptions {
	cfg := m.ck.Config
	if method == "" {
		method = cfg.Edit.Method
	}
	o := EditOptions{N: cfg.Edit.N, Method: method, Sweeps: cfg.Edit.Sweeps, Temperature: cfg.Sample.Temperature,
		TopK: 0, TopP: 1, Seed: cfg.Sample.Seed, Class: -1}
	if method == MethodRaster {
		o.TopK, o.TopP = cfg.Sample.TopK, cfg.Sample.TopP
	}
	return o
}

// Edits are the results of one edit call.
type Edits struct {
	Options EditOptions `json:"options"`
	Shape   Shape       `json:"shape"`
	Grid    []int32     `json:"-"` // the grid edited
	Keep    []bool      `json:"-"` // true: the cell was kept
	Codes   []int32     `json:"-"` // N edited grids
	Classes []int32     `json:"-"` // N, nil for an unconditional prior
	Images  [][]float32 `json:"-"` // N decoded edits
	// Seconds is the sampler's time alone, the figure to quote for one
	// edit call.
	Seconds float64 `json:"seconds"`
}

// Edit keeps the cells of grid where keep is true and redraws the others
// from the prior, o.N times, and decodes the results. Cancelling ctx stops
// it between cell updates.
func (m *Models) Edit(ctx context.Context, grid []int32, keep []bool, o EditOptions, prog Progress) (*Edits, error) {
	s := m.VQVAE.Shape()
	if len(grid) != s.Cells() || len(keep) != s.Cells() {
		return nil, fmt.Errorf("edit: a grid of %d cells and a mask of %d, the VQ-VAE's grids have %dx%d", len(grid), len(keep), s.GridH, s.GridW)
	}
	if err := m.CheckEdit(o); err != nil {
		return nil, err
	}
	classes := m.ck.Prior.Info().Classes
	free := 0
	for _, k := range keep {
		if !k {
			free++
		}
	}
	if free == 0 {
		return nil, errors.New("edit: the cell selection keeps every cell; nothing to redraw")
	}
	eo := sampler.EditOptions{N: o.N, Method: o.Method, Sweeps: o.Sweeps, Temperature: float32(o.Temperature),
		TopK: o.TopK, TopP: float32(o.TopP), Seed: o.Seed, Batch: o.Batch}
	if o.Method == MethodRaster {
		eo.Sweeps = 0
	}
	if classes > 0 {
		eo.Classes = []int32{int32(o.Class)}
	}
	prog = nop(prog)
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	begun := false
	var g *sampler.Grids
	err := cancellable(ctx, func(check func()) (err error) {
		g, err = sampler.Edit(m.ck.Prior, grid, keep, eo, func(done, total int) {
			check()
			if !begun {
				prog.Begin(Phase{Name: "edit " + o.Method, Total: total, Every: max(1, total/10), Item: "cell"})
				begun = true
			}
			prog.Update(done)
		})
		return err
	})
	if begun {
		prog.End()
	}
	el := time.Since(start).Seconds()
	if err != nil {
		return nil, err
	}
	ims, err := m.VQVAE.Decode(g.Codes, g.N)
	if err != nil {
		return nil, err
	}
	return &Edits{Options: o, Shape: s, Grid: grid, Keep: keep, Codes: g.Codes, Classes: g.Classes, Images: ims, Seconds: el}, nil
}

// Cells chooses the cells of a grid to redraw, in one of four ways; exactly
// one field is set.
type Cells struct {
	// Rect is a rectangle of grid cells "r0,c0,r1,c1" (inclusive).
	Rect string `json:"cells,omitempty"`
	// Pixels is a rectangle of image pixels "x0,y0,x1,y1" (inclusive);
	// every cell it touches is redrawn.
	Pixels string `json:"pixels,omitempty"`
	// Mask is an image file stretched over the grid: cells under white
	// pixels are redrawn, black ones kept.
	Mask string `json:"mask,omitempty"`
	// Keep lists the cells to keep, "r,c;r,c"; all others are redrawn.
	Keep string `json:"keep,omitempty"`
}

// KeepMask turns a cell selection into a keep mask over the VQ-VAE's grid
// (true: keep) and a short description of it ("cells 2,2,4,4").
func (v *VQVAE) KeepMask(c Cells) ([]bool, string, error) {
	s := v.Shape()
	var given []string
	for _, x := range []struct{ name, v string }{{"cells", c.Rect}, {"pixels", c.Pixels}, {"mask", c.Mask}, {"keep", c.Keep}} {
		if x.v != "" {
			given = append(given, x.name)
		}
	}
	switch len(given) {
	case 0:
		return nil, "", optionErr("cells", "not given: choose the cells to redraw with one of cells, pixels, mask or keep")
	case 1:
	default:
		return nil, "", optionErr(given[0], "and %s each choose the cells: give exactly one", describe(given[1:]))
	}
	switch {
	case c.Rect != "":
		r, err := sampler.ParseRect("cells", c.Rect)
		if err != nil {
			return nil, "", asOption("cells", err)
		}
		k, err := sampler.RectKeep("cells", r, s.GridH, s.GridW)
		return k, "cells " + c.Rect, asOption("cells", err)
	case c.Pixels != "":
		// Users name pixels x,y (column, row); Rect is rows first.
		r, err := sampler.ParseRect("pixels", c.Pixels)
		if err != nil {
			return nil, "", asOption("pixels", err)
		}
		k, err := sampler.PixelRectKeep("pixels", sampler.Rect{R0: r.C0, C0: r.R0, R1: r.C1, C1: r.R1}, s.GridH, s.GridW, s.Size/s.GridH)
		if err != nil {
			err = asOption("pixels", fmt.Errorf("%w (given as x0,y0,x1,y1 = %s)", err, c.Pixels))
		}
		return k, "pixels " + c.Pixels, err
	case c.Mask != "":
		k, err := sampler.LoadMaskKeep(c.Mask, s.GridH, s.GridW)
		return k, "mask " + c.Mask, err
	}
	k, err := sampler.ParseKeepList("keep", c.Keep, s.GridH, s.GridW)
	return k, "keep " + c.Keep, asOption("keep", err)
}

// CentreHole keeps every cell but a centred square of side min(3, grid):
// the hole `vqgen run` redraws in its edit picture.
func (s Shape) CentreHole() (keep []bool, rect string) {
	side := min(3, s.GridH, s.GridW)
	r0, c0 := (s.GridH-side)/2, (s.GridW-side)/2
	keep, _ = sampler.RectKeep("cells", sampler.Rect{R0: r0, C0: c0, R1: r0 + side - 1, C1: c0 + side - 1}, s.GridH, s.GridW)
	return keep, fmt.Sprintf("%d,%d,%d,%d", r0, c0, r0+side-1, c0+side-1)
}

// EditPanel returns one row of a picture: the original, the original with
// the redrawn cells tinted red, and the edits, all as RGB so the tint shows
// on grayscale images.
func EditPanel(orig []float32, keep []bool, edits [][]float32, s Shape) [][]float32 {
	row := [][]float32{toRGB(orig, s), tintFree(toRGB(orig, s), keep, s)}
	for _, e := range edits {
		row = append(row, toRGB(e, s))
	}
	return row
}

func toRGB(px []float32, s Shape) []float32 {
	if s.Channels == 3 {
		return append([]float32(nil), px...)
	}
	n := s.Size * s.Size
	out := make([]float32, 3*n)
	for ch := 0; ch < 3; ch++ {
		copy(out[ch*n:], px[:n])
	}
	return out
}

// tintFree darkens the redrawn cells and shifts them to red; kept cells are
// left as they are.
func tintFree(rgb []float32, keep []bool, s Shape) []float32 {
	n := s.Size
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if keep[(y*s.GridH/n)*s.GridW+x*s.GridW/n] {
				continue
			}
			i := y*n + x
			rgb[i] = 0.45 + 0.55*rgb[i]
			rgb[n*n+i] *= 0.5
			rgb[2*n*n+i] *= 0.5
		}
	}
	return rgb
}
