package datasets

import (
	"bufio"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"

	"github.com/vqgen/vqgen/internal/atomicfile"
	"github.com/vqgen/vqgen/nn"
)

// GridGap is the width in pixels of the lines between grid tiles, drawn in
// mid-gray so that they show against both black and white backgrounds.
const GridGap = 2

const gridGapValue = 128

func to8(v float32) uint8 {
	if !(v > 0) { // also maps NaN to 0
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

func checkShape(c, h, w int) error {
	if c != 1 && c != 3 {
		return fmt.Errorf("%d channels: want 1 or 3", c)
	}
	if h < 1 || w < 1 {
		return fmt.Errorf("image size %dx%d: want positive", h, w)
	}
	return nil
}

// ToImage converts one CHW image with values in [0, 1] (clamped; NaN shows
// as 0) to an 8-bit *image.Gray (c = 1) or *image.NRGBA (c = 3).
func ToImage(pix []float32, c, h, w int) (image.Image, error) {
	if err := checkShape(c, h, w); err != nil {
		return nil, err
	}
	if len(pix) != c*h*w {
		return nil, fmt.Errorf("%d values for a %dx%dx%d image", len(pix), c, h, w)
	}
	g, err := GridImage([][]float32{pix}, c, h, w, 1)
	return g, err
}

// GridImage tiles images (each CHW, values in [0, 1], clamped) into rows of
// cols, separated by GridGap-pixel gray lines. A short last row is padded
// with gap gray.
func GridImage(images [][]float32, c, h, w, cols int) (image.Image, error) {
	if err := checkShape(c, h, w); err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("no images to tile")
	}
	if cols < 1 {
		return nil, fmt.Errorf("grid of %d columns: want at least 1", cols)
	}
	cols = min(cols, len(images))
	rows := (len(images) + cols - 1) / cols
	W := cols*w + (cols-1)*GridGap
	H := rows*h + (rows-1)*GridGap
	rect := image.Rect(0, 0, W, H)
	var pix []uint8
	var stride, bpp int
	var out image.Image
	if c == 1 {
		m := image.NewGray(rect)
		pix, stride, bpp, out = m.Pix, m.Stride, 1, m
	} else {
		m := image.NewNRGBA(rect)
		pix, stride, bpp, out = m.Pix, m.Stride, 4, m
	}
	for i := range pix {
		pix[i] = gridGapValue
		if bpp == 4 && i%4 == 3 {
			pix[i] = 255
		}
	}
	plane := h * w
	for n, img := range images {
		if len(img) != c*plane {
			return nil, fmt.Errorf("image %d has %d values, want %d (%dx%dx%d)", n, len(img), c*plane, c, h, w)
		}
		ox, oy := (n%cols)*(w+GridGap), (n/cols)*(h+GridGap)
		for y := range h {
			row := pix[(oy+y)*stride+ox*bpp:]
			for x := range w {
				for ch := range c {
					row[x*bpp+ch] = to8(img[ch*plane+y*w+x])
				}
			}
		}
	}
	return out, nil
}

// TensorImages splits an NCHW tensor into per-image slices (aliasing it).
func TensorImages(t *nn.Tensor) ([][]float32, int, int, int, error) {
	if len(t.Shape) != 4 {
		return nil, 0, 0, 0, fmt.Errorf("tensor of shape %v: want NCHW", t.Shape)
	}
	n, c, h, w := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	out := make([][]float32, n)
	for i := range out {
		out[i] = t.Data[i*c*h*w : (i+1)*c*h*w]
	}
	return out, c, h, w, nil
}

// EncodePNG writes one CHW image as PNG.
func EncodePNG(wr io.Writer, pix []float32, c, h, w int) error {
	img, err := ToImage(pix, c, h, w)
	if err != nil {
		return err
	}
	return png.Encode(wr, img)
}

// WritePNG writes one CHW image to path (via a temporary file and rename).
func WritePNG(path string, pix []float32, c, h, w int) error {
	img, err := ToImage(pix, c, h, w)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return writeImageFile(path, img)
}

// WriteGridPNG tiles images (see GridImage) and writes them to path as PNG,
// via a temporary file in the same folder renamed into place, so readers
// never see a half-written file.
func WriteGridPNG(path string, images [][]float32, c, h, w, cols int) error {
	img, err := GridImage(images, c, h, w, cols)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return writeImageFile(path, img)
}

// WriteTensorGridPNG is WriteGridPNG for an NCHW tensor.
func WriteTensorGridPNG(path string, t *nn.Tensor, cols int) error {
	images, c, h, w, err := TensorImages(t)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return WriteGridPNG(path, images, c, h, w, cols)
}

func writeImageFile(path string, img image.Image) error {
	return writeFileAtomic(path, func(w io.Writer) error { return png.Encode(w, img) })
}

// writeFileAtomic writes through fill to path via package atomicfile, so
// path appears only when everything succeeded.
func writeFileAtomic(path string, fill func(io.Writer) error) error {
	f, err := atomicfile.Create(path, true)
	if err != nil {
		return err
	}
	defer f.Abort()
	bw := bufio.NewWriter(f)
	if err := fill(bw); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return f.Commit()
}
