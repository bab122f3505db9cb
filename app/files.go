package app

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vqgen/vqgen/datasets"
	"github.com/vqgen/vqgen/internal/atomicfile"
)

// CheckOutputs refuses outputs that already exist unless force is set, so a
// caller can refuse before the work rather than after it. Empty paths are
// skipped. The error matches ErrExists.
func CheckOutputs(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return &fs.PathError{Op: "write", Path: p, Err: fmt.Errorf("%w; refusing to replace it", fs.ErrExist)}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// GridCols is the near-square number of columns for n tiles.
func GridCols(n int) int {
	c := 1
	for c*c < n {
		c++
	}
	return c
}

// EncodeGridPNG tiles images (CHW, values in [0, 1]) into one PNG with
// cols columns (0: near square), separated by thin gray lines.
func EncodeGridPNG(w io.Writer, images [][]float32, channels, size, cols int) error {
	if cols <= 0 {
		cols = GridCols(len(images))
	}
	img, err := datasets.GridImage(images, channels, size, size, cols)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// WriteGridPNG writes EncodeGridPNG's picture to path; an existing file is
// replaced only with force.
func WriteGridPNG(path string, images [][]float32, channels, size, cols int, force bool) error {
	var buf bytes.Buffer
	if err := EncodeGridPNG(&buf, images, channels, size, cols); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return atomicfile.WriteFile(path, buf.Bytes(), force)
}

// EncodePNG writes one image (CHW, values in [0, 1]) as PNG: what a web
// server sends for a sample or an edit.
func EncodePNG(w io.Writer, img []float32, channels, size int) error {
	return datasets.EncodePNG(w, img, channels, size, size)
}

// EachName is the file name of image i in a folder of single images
// (SampleFiles.Each).
func EachName(i int) string { return fmt.Sprintf("sample-%04d.png", i) }

// writeEach writes one PNG per image into dir, refusing to replace any
// existing one unless force is set. Every name is checked before the first
// write, so a refusal leaves dir untouched.
func writeEach(dir string, ims [][]float32, channels, size int, force bool) error {
	return writeEachNamed(dir, ims, channels, size, force, EachName)
}

// writeEachNamed is writeEach with image i in the file name(i).
func writeEachNamed(dir string, ims [][]float32, channels, size int, force bool, name func(int) string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range ims {
		if err := CheckOutputs(force, filepath.Join(dir, name(i))); err != nil {
			return err
		}
	}
	for i, im := range ims {
		var buf bytes.Buffer
		if err := EncodePNG(&buf, im, channels, size); err != nil {
			return err
		}
		path := filepath.Join(dir, name(i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(path, buf.Bytes(), true); err != nil {
			return err
		}
	}
	return nil
}

// writeGridCodes saves grids as a code file the VQ-VAE v can decode; the
// classes (nil for none) become labels of a file with numClasses classes.
func writeGridCodes(path string, v *VQVAE, codes, classes []int32, n, numClasses int, force bool) error {
	w, err := datasets.CreateCodeFile(path, gridCodeHeader(v, n, classes != nil, numClasses), force)
	if err != nil {
		return err
	}
	return writeGrids(w, codes, classes)
}

// gridCodeHeader is the header of a code file of n grids of v, labelled
// with one of numClasses classes each or unlabelled.
func gridCodeHeader(v *VQVAE, n int, labelled bool, numClasses int) datasets.CodeHeader {
	s := v.Shape()
	hdr := datasets.CodeHeader{
		Count: int64(n), GridH: s.GridH, GridW: s.GridW, K: s.K,
		ImageH: s.Size, ImageW: s.Size, Channels: s.Channels,
		Labels: labelled, Fingerprint: datasets.CodeFingerprint(v.m.Fingerprint()),
	}
	if labelled {
		hdr.NumClasses = numClasses
	}
	return hdr
}

// writeGrids writes the grids and their classes (nil for none) and closes
// w, or aborts it on failure.
func writeGrids(w *datasets.CodeWriter, codes, classes []int32) error {
	grids := make([]uint16, len(codes))
	for i, c := range codes {
		grids[i] = uint16(c)
	}
	if err := w.WriteBatch(grids, classes); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Output is a file being written: nothing appears at its path until Commit,
// and Abort (a no-op after Commit) discards it.
type Output interface {
	io.Writer
	Commit() error
	Abort() error
}

// CreateOutput starts writing a file through the same atomic path every
// output of this package takes; an existing file is replaced only with
// force.
func CreateOutput(path string, force bool) (Output, error) {
	return atomicfile.Create(path, force)
}
