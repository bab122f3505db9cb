package app

import (
	"context"
	"fmt"

	"github.com/vqgen/vqgen/datasets"
)

// ImageSource names images to work on: one image file, or a dataset spec
// (with Index for one of its images where one image is wanted).
type ImageSource struct {
	// Image is an image file (PNG or JPEG), resized and centre-cropped to
	// the VQ-VAE's size.
	Image string `json:"image,omitempty"`
	// Data is a dataset spec (mnist:test, images:DIR:test, ...), or train
	// or test for the VQ-VAE's own splits.
	Data string `json:"data,omitempty"`
	// Index picks one image of Data where one is wanted.
	Index int `json:"index,omitempty"`
}

// LabeledImage is one image with the class label it carries (-1: none).
type LabeledImage struct {
	Name   string
	Pixels []float32
	Label  int
}

// LoadImages reads every image of src (the one file, or all of Data) with
// their labels (nil without).
func (v *VQVAE) LoadImages(src ImageSource) (names []string, images [][]float32, labels []int32, err error) {
	switch {
	case src.Image != "" && src.Data != "":
		return nil, nil, nil, optionErr("image", "and data both given: give one")
	case src.Image != "":
		s := v.Shape()
		px, err := datasets.ReadImage(src.Image, s.Size, s.Channels)
		if err != nil {
			return nil, nil, nil, err
		}
		return []string{src.Image}, [][]float32{px}, nil, nil
	case src.Data != "":
		set, err := v.LoadSet(src.Data)
		if err != nil {
			return nil, nil, nil, err
		}
		names = set.Keys
		if names == nil {
			names = make([]string, len(set.Images))
			for i := range names {
				names[i] = fmt.Sprint(i)
			}
		}
		return names, set.Images, set.Labels, nil
	}
	return nil, nil, nil, optionErr("image", "not given: give an image file or a dataset spec (data)")
}

// LoadImage reads one image: the file, or image Index of Data.
func (v *VQVAE) LoadImage(src ImageSource) (*LabeledImage, error) {
	if src.Image != "" || src.Data == "" {
		names, ims, _, err := v.LoadImages(src)
		if err != nil {
			return nil, err
		}
		return &LabeledImage{Name: names[0], Pixels: ims[0], Label: -1}, nil
	}
	ds, err := v.LoadData(src.Data, 0)
	if err != nil {
		return nil, err
	}
	if src.Index < 0 || src.Index >= ds.N {
		return nil, optionErr("index", "%d: %s has images 0 to %d", src.Index, src.Data, ds.N-1)
	}
	im := &LabeledImage{Name: fmt.Sprintf("%s[%d]", src.Data, src.Index), Pixels: ds.Image(src.Index), Label: -1}
	if ds.Keys != nil {
		im.Name += " (" + ds.Keys[src.Index] + ")"
	}
	if ds.Labels != nil {
		im.Label = int(ds.Labels[src.Index])
	}
	return im, nil
}

// EditImageOptions are the inputs and outputs of an edit of one image; the
// edit settings themselves are EditOptions.
type EditImageOptions struct {
	Source ImageSource `json:"source"`
	Cells  Cells       `json:"cells"`
	// Out is the PNG to write: the original, the original with the
	// redrawn cells tinted, then the edits ("" writes none).
	Out string `json:"out"`
	// OutCodes is a code file for the edited grids ("" writes none).
	OutCodes string `json:"out_codes"`
	Force    bool   `json:"force"`
}

// ImageEdits is what EditImage did.
type ImageEdits struct {
	*Edits
	Image *LabeledImage
	Cells string // the selection, described: "cells 2,2,4,4"
	Free  int    // cells redrawn
}

// EditImage encodes one image, redraws the chosen cells (Edit) and writes
// the picture and the code file. Unless o.Class is set, a conditional prior
// draws the edits for the image's label.
func (m *Models) EditImage(ctx context.Context, files EditImageOptions, o EditOptions, prog Progress) (*ImageEdits, error) {
	if err := CheckOutputs(files.Force, files.Out, files.OutCodes); err != nil {
		return nil, err
	}
	keep, what, err := m.VQVAE.KeepMask(files.Cells)
	if err != nil {
		return nil, err
	}
	im, err := m.VQVAE.LoadImage(files.Source)
	if err != nil {
		return nil, err
	}
	if classes := m.ck.Prior.Info().Classes; classes > 0 && o.Class == -1 {
		if im.Label < 0 || im.Label >= classes {
			return nil, optionErr("class", "-1: the prior is class-conditional: give the class (0 to %d) for %s", classes-1, im.Name)
		}
		o.Class = im.Label
	}
	grid, err := m.VQVAE.Encode([][]float32{im.Pixels})
	if err != nil {
		return nil, err
	}
	e, err := m.Edit(ctx, grid, keep, o, prog)
	if err != nil {
		return nil, err
	}
	r := &ImageEdits{Edits: e, Image: im, Cells: what}
	for _, k := range keep {
		if !k {
			r.Free++
		}
	}
	if files.Out != "" {
		row := EditPanel(im.Pixels, keep, e.Images, e.Shape)
		if err := WriteGridPNG(files.Out, row, 3, e.Shape.Size, len(row), files.Force); err != nil {
			return nil, err
		}
	}
	if files.OutCodes != "" {
		if err := writeGridCodes(files.OutCodes, m.VQVAE, e.Codes, e.Classes, e.Options.N, m.ck.Prior.Info().Classes, files.Force); err != nil {
			return nil, err
		}
	}
	return r, nil
}
