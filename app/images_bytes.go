package app

import (
	"fmt"
	"io"

	"github.com/vqgen/vqgen/datasets"
)

// This file holds what a front end that never touches the file system
// needs (a web server answering uploads and downloads): images and code
// files as bytes, and a dataset held in memory to pick images from.

// DecodeImage reads an image file already in memory (an upload): PNG or
// JPEG, resized and centre-cropped to the VQ-VAE's size and channels
// exactly as an image file given to EditImage is, with the same guard (an
// image whose header announces over 100 megapixels is refused before
// anything is allocated for it). name labels errors.
func (v *VQVAE) DecodeImage(name string, data []byte) ([]float32, error) {
	s := v.Shape()
	return datasets.DecodeImage(name, data, s.Size, s.Channels)
}

// ImageSet is a dataset loaded into memory, for picking images one at a
// time (a web page's test images).
type ImageSet struct {
	// Name is the dataset the images came from ("mnist:test").
	Name string
	// Images are CHW at the VQ-VAE's size; they share one array, so
	// callers copy an image before changing it.
	Images [][]float32
	// Labels are the images' classes, nil for an unlabelled dataset.
	Labels []int32
	// Keys name the images by their files (relative to the folder) for an
	// image folder; nil for MNIST and IDX files.
	Keys []string
}

// Label is image i's class, or -1 for an unlabelled set.
func (s *ImageSet) Label(i int) int {
	if s.Labels == nil {
		return -1
	}
	return int(s.Labels[i])
}

// LoadSet loads every image of a dataset spec, or of "train" or "test" (the
// VQ-VAE's own splits, as LoadData reads them).
func (v *VQVAE) LoadSet(spec string) (*ImageSet, error) {
	ds, err := v.LoadData(spec, 0)
	if err != nil {
		return nil, err
	}
	set := &ImageSet{Name: ds.Name, Images: make([][]float32, ds.N), Labels: ds.Labels, Keys: ds.Keys}
	for i := range set.Images {
		set.Images[i] = ds.Image(i)
	}
	return set, nil
}

// WriteCodes writes grids (len(codes)/Cells of them, in raster order) as a
// code file to w, the format SaveSamples and EditImage write and `vqgen
// decode` reads. A conditional prior's code files carry a class per grid
// (classes, one each); an unconditional prior's carry none (classes nil).
func (m *Models) WriteCodes(w io.Writer, codes, classes []int32) error {
	s := m.VQVAE.Shape()
	if len(codes) == 0 || len(codes)%s.Cells() != 0 {
		return optionErr("codes", "%d values: want whole %dx%d grids of %d codes each", len(codes), s.GridH, s.GridW, s.Cells())
	}
	for i, c := range codes {
		if c < 0 || int(c) >= s.K {
			return optionErr("codes", "[%d] is %d: want a code 0 to %d", i, c, s.K-1)
		}
	}
	n := len(codes) / s.Cells()
	numClasses := m.Prior().Classes
	switch {
	case numClasses > 0 && classes == nil:
		return optionErr("class", "not given: the prior is class-conditional, so its code files carry each grid's class (0 to %d)", numClasses-1)
	case numClasses > 0 && len(classes) != n:
		return optionErr("class", "%d given for %d grids: give one class per grid", len(classes), n)
	case numClasses == 0 && classes != nil:
		return optionErr("class", "given: the prior is unconditional (trained without labels), so its code files carry no classes")
	}
	for _, c := range classes {
		if c < 0 {
			return optionErr("class", "%d: want a class 0 to %d", c, numClasses-1)
		}
		if err := m.checkClass("class", int(c)); err != nil {
			return err
		}
	}
	cw, err := datasets.NewCodeWriter(w, gridCodeHeader(m.VQVAE, n, classes != nil, numClasses))
	if err != nil {
		return fmt.Errorf("code file: %w", err)
	}
	return writeGrids(cw, codes, classes)
}
